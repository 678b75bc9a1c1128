"""Masking: zeroes the masked steps; the gradient flows through the kept ones."""

from __future__ import annotations

from typing import Any

import numpy as np

from numkeras.engine.kernels import register
from numkeras.layers.masking import Masking


@register(Masking)
def forward(layer: Masking, x: np.ndarray, training: bool) -> tuple[np.ndarray, Any]:
    keep = np.any(np.not_equal(x, layer.mask_value), axis=-1, keepdims=True)
    y = x * keep

    def backward(dy: np.ndarray) -> tuple[np.ndarray, list]:
        return dy * keep, []

    return y, backward
