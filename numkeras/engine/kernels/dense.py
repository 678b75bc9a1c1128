"""Dense: one BLAS product, then bias and activation."""

from __future__ import annotations

from typing import Any

import numpy as np

from numkeras import activations
from numkeras.engine.ops import activations as act
from numkeras.engine.kernels import register
from numkeras.layers.dense import Dense


@register(Dense)
def forward(layer: Dense, x: np.ndarray, training: bool) -> tuple[np.ndarray, Any]:
    kernel = layer.kernel.value
    x2 = x.reshape(-1, x.shape[-1])
    z = x2 @ kernel
    if layer.use_bias:
        z += layer.bias.value
    name = activations.serialize(layer.activation)
    y = act.forward(name, z)

    def backward(dy: np.ndarray) -> tuple[np.ndarray, list]:
        dz = act.backward(name, z, y, dy.reshape(z.shape))
        dkernel = x2.T @ dz
        dx = (dz @ kernel.T).reshape(x.shape)
        if layer.use_bias:
            return dx, [dkernel, dz.sum(axis=0)]
        return dx, [dkernel]

    return y.reshape(*x.shape[:-1], layer.units), backward
