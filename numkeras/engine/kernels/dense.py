"""Dense: one BLAS product, then bias and activation fused in one pass."""

from __future__ import annotations

from typing import Any

import numpy as np

from numkeras.engine.kernels import register
from numkeras.engine.ops import activations as act
from numkeras.engine.ops.blas import matmul
from numkeras.layers.dense import Dense

# Outputs whose logits a crossentropy may use (see numkeras.engine.kernels).
_LOGIT_ACTIVATIONS = ("softmax", "sigmoid")


@register(Dense)
def forward(layer: Dense, x: np.ndarray, training: bool,
            need_input_grad: bool = True) -> tuple[np.ndarray, Any]:
    kernel = layer.kernel.value
    bias = layer.bias.value if layer.use_bias else None
    name = act.resolve(layer.activation)
    x2 = x.reshape(-1, x.shape[-1])
    z = matmul(x2, kernel)
    out_shape = (*x.shape[:-1], layer.units)

    def input_grad(dz: np.ndarray) -> np.ndarray | None:
        return matmul(dz, kernel.T).reshape(x.shape) if need_input_grad else None

    def weight_grads(dz: np.ndarray) -> tuple[np.ndarray | None, list]:
        dx = input_grad(dz)
        if bias is None:
            return dx, [matmul(x2.T, dz)]
        return dx, [matmul(x2.T, dz), dz.sum(axis=0)]

    if name in _LOGIT_ACTIVATIONS:
        if bias is not None:
            z += bias
        y = act.forward(name, z)

        def backward(dy: np.ndarray) -> tuple[np.ndarray | None, list]:
            return weight_grads(act.backward(name, z, y, dy.reshape(z.shape)))

        backward.preactivation = z
        backward.from_preactivation = weight_grads
        return y.reshape(out_shape), backward

    y = act.fused_bias_act_forward(z, bias, name)  # z now holds y or z + bias

    def backward(dy: np.ndarray) -> tuple[np.ndarray | None, list]:
        dz, dbias = act.fused_bias_act_backward(z, np.ascontiguousarray(dy).reshape(z.shape),
                                                name)
        dx = input_grad(dz)
        if bias is None:
            return dx, [matmul(x2.T, dz)]
        return dx, [matmul(x2.T, dz), dbias]

    return y.reshape(out_shape), backward
