"""Activation: the engine's fused activation kernels, forward and backward."""

from __future__ import annotations

from typing import Any

import numpy as np

from numkeras.engine.kernels import register
from numkeras.engine.ops import activations as act
from numkeras.layers.activation import Activation


@register(Activation)
def forward(layer: Activation, x: np.ndarray, training: bool) -> tuple[np.ndarray, Any]:
    name = act.resolve(layer.activation)
    y = act.forward(name, x)

    def backward(dy: np.ndarray) -> tuple[np.ndarray, list]:
        return act.backward(name, x, y, dy), []

    if name in ("softmax", "sigmoid"):  # a crossentropy may train from these logits
        backward.preactivation = x
        backward.from_preactivation = lambda dx: (dx, [])
    return y, backward
