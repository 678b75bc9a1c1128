"""DepthwiseConv2D: im2col, a per-channel batched BLAS product, fused bias and activation."""

from __future__ import annotations

from typing import Any

import numpy as np

from numkeras.engine.kernels import register
from numkeras.engine.ops import activations as act
from numkeras.engine.ops.conv import (
    col2im,
    depthwise_forward,
    from_nhwc,
    im2col,
    layer_geometry,
    to_nhwc,
)
from numkeras.layers.depthwise_conv2d import DepthwiseConv2D


@register(DepthwiseConv2D)
def forward(layer: DepthwiseConv2D, x: np.ndarray, training: bool,
            need_input_grad: bool = True) -> tuple[np.ndarray, Any]:
    fmt = layer.data_format
    xs = to_nhwc(x, fmt)
    geom = layer_geometry(layer, xs.shape[1:3])
    kernel = layer.depthwise_kernel.value
    kk = kernel.shape[0] * kernel.shape[1]
    cols = im2col(xs, geom)
    z, depthwise_backward = depthwise_forward(cols, kernel.reshape(kk, *kernel.shape[2:]))
    bias = layer.bias.value if layer.use_bias else None
    y = act.fused_bias_act_forward(z, bias, layer.activation)

    def backward(dy: np.ndarray) -> tuple[np.ndarray | None, list]:
        dz, dbias = act.fused_bias_act_backward(z, to_nhwc(dy, fmt).reshape(z.shape),
                                                layer.activation)
        dcols, dkernel = depthwise_backward(dz)
        dx = from_nhwc(col2im(dcols, geom, xs.shape), fmt, x.ndim) if need_input_grad \
            else None
        dkernel = dkernel.reshape(kernel.shape)
        return dx, [dkernel, dbias] if layer.use_bias else [dkernel]

    out_shape = (xs.shape[0], geom[8], geom[9], z.shape[1])
    return from_nhwc(y.reshape(out_shape), fmt, x.ndim), backward
