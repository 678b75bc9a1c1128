"""Conv1D and Conv2D: im2col, one BLAS product, then fused bias and activation."""

from __future__ import annotations

from typing import Any

import numpy as np

from numkeras.engine.kernels import register
from numkeras.engine.ops import activations as act
from numkeras.engine.ops.blas import matmul
from numkeras.engine.ops.conv import col2im, from_nhwc, im2col, layer_geometry, to_nhwc
from numkeras.layers.conv import Conv1D, Conv2D


@register(Conv1D, Conv2D)
def forward(layer: Conv1D | Conv2D, x: np.ndarray, training: bool,
            need_input_grad: bool = True) -> tuple[np.ndarray, Any]:
    fmt = layer.data_format
    xs = to_nhwc(x, fmt)
    geom = layer_geometry(layer, xs.shape[1:3])
    kernel = layer.kernel.value
    kmat = kernel.reshape(-1, kernel.shape[-1])
    cols = im2col(xs, geom)
    z = matmul(cols, kmat)
    bias = layer.bias.value if layer.use_bias else None
    y = act.fused_bias_act_forward(z, bias, layer.activation)
    out_shape = (xs.shape[0], geom[8], geom[9], kmat.shape[1])

    def backward(dy: np.ndarray) -> tuple[np.ndarray | None, list]:
        dz, dbias = act.fused_bias_act_backward(z, to_nhwc(dy, fmt).reshape(z.shape),
                                                layer.activation)
        dkernel = matmul(cols.T, dz).reshape(kernel.shape)
        dx = from_nhwc(col2im(matmul(dz, kmat.T), geom, xs.shape), fmt, x.ndim) \
            if need_input_grad else None
        return dx, [dkernel, dbias] if layer.use_bias else [dkernel]

    return from_nhwc(y.reshape(out_shape), fmt, x.ndim), backward
