"""SeparableConv1D / SeparableConv2D: depthwise product, pointwise BLAS product, fused bias
and activation."""

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
from numkeras.layers.separable_conv import SeparableConv1D, SeparableConv2D


@register(SeparableConv1D, SeparableConv2D)
def forward(layer: SeparableConv1D | SeparableConv2D, x: np.ndarray,
            training: bool, need_input_grad: bool = True) -> tuple[np.ndarray, Any]:
    fmt = layer.data_format
    xs = to_nhwc(x, fmt)
    geom = layer_geometry(layer, xs.shape[1:3])
    dkern = layer.depthwise_kernel.value
    pkern = layer.pointwise_kernel.value
    kk = int(np.prod(dkern.shape[:-2]))
    pmat = pkern.reshape(-1, pkern.shape[-1])
    cols = im2col(xs, geom)
    d, depthwise_backward = depthwise_forward(cols, dkern.reshape(kk, *dkern.shape[-2:]))
    z = d @ pmat
    bias = layer.bias.value if layer.use_bias else None
    y = act.fused_bias_act_forward(z, bias, layer.activation)

    def backward(dy: np.ndarray) -> tuple[np.ndarray | None, list]:
        dz, dbias = act.fused_bias_act_backward(z, to_nhwc(dy, fmt).reshape(z.shape),
                                                layer.activation)
        dpoint = (d.T @ dz).reshape(pkern.shape)
        dcols, ddepth = depthwise_backward(dz @ pmat.T)
        dx = from_nhwc(col2im(dcols, geom, xs.shape), fmt, x.ndim) if need_input_grad \
            else None
        grads = [ddepth.reshape(dkern.shape), dpoint]
        return dx, grads + [dbias] if layer.use_bias else grads

    out_shape = (xs.shape[0], geom[8], geom[9], pmat.shape[1])
    return from_nhwc(y.reshape(out_shape), fmt, x.ndim), backward
