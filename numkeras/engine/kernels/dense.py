"""Dense: one BLAS product, then bias and activation fused in one pass."""

from __future__ import annotations

from typing import Any

import numpy as np

from numkeras.engine.kernels import register
from numkeras.engine.ops import activations as act
from numkeras.engine.ops.blas import matmul, matmuls
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

    def products(dz: np.ndarray) -> tuple[np.ndarray | None, np.ndarray]:
        """The input and kernel gradients, both products on the cores at once."""
        if not need_input_grad:
            return None, matmul(x2.T, dz)
        dx, dkernel = matmuls((dz, kernel.T), (x2.T, dz))
        return dx.reshape(x.shape), dkernel

    def weight_grads(dz: np.ndarray) -> tuple[np.ndarray | None, list]:
        dx, dkernel = products(dz)
        if bias is None:
            return dx, [dkernel]
        return dx, [dkernel, dz.sum(axis=0)]

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
        dx, dkernel = products(dz)
        if bias is None:
            return dx, [dkernel]
        return dx, [dkernel, dbias]

    return y.reshape(out_shape), backward
