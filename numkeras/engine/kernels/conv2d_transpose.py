"""Conv2DTranspose: the data gradient of a Conv2D (one BLAS product, then col2im)."""

from __future__ import annotations

from typing import Any

import numpy as np

from numkeras.engine.kernels import register
from numkeras.engine.ops import activations as act
from numkeras.engine.ops.blas import matmul
from numkeras.engine.ops.conv import col2im, from_nhwc, im2col, layer_geometry, to_nhwc
from numkeras.layers.conv2d_transpose import Conv2DTranspose


@register(Conv2DTranspose)
def forward(layer: Conv2DTranspose, x: np.ndarray, training: bool,
            need_input_grad: bool = True) -> tuple[np.ndarray, Any]:
    fmt = layer.data_format
    xs = to_nhwc(x, fmt)
    n, height, width, channels = xs.shape
    out_h, out_w = layer._output_spatial((height, width))
    # The forward convolution this layer transposes maps (out_h, out_w) to (height, width).
    geom = layer_geometry(layer, (out_h, out_w), out=(height, width))
    kernel = layer.kernel.value  # (kh, kw, filters, in)
    kmat = kernel.reshape(-1, channels)
    x2 = xs.reshape(-1, channels)
    z = col2im(matmul(x2, kmat.T), geom, (n, out_h, out_w, layer.filters))
    z = z.reshape(-1, layer.filters)
    bias = layer.bias.value if layer.use_bias else None
    y = act.fused_bias_act_forward(z, bias, layer.activation)

    def backward(dy: np.ndarray) -> tuple[np.ndarray | None, list]:
        dz, dbias = act.fused_bias_act_backward(z, to_nhwc(dy, fmt).reshape(z.shape),
                                                layer.activation)
        cols = im2col(dz.reshape(n, out_h, out_w, layer.filters), geom)
        dkernel = matmul(cols.T, x2).reshape(kernel.shape)
        dx = from_nhwc(matmul(cols, kmat).reshape(xs.shape), fmt, x.ndim) \
            if need_input_grad else None
        return dx, [dkernel, dbias] if layer.use_bias else [dkernel]

    return from_nhwc(y.reshape(n, out_h, out_w, layer.filters), fmt, x.ndim), backward
