"""RepeatVector: copies along a new axis 1; the gradient sums over it."""

from __future__ import annotations

from typing import Any

import numpy as np

from numkeras.engine.kernels import register
from numkeras.layers.repeat_vector import RepeatVector


@register(RepeatVector)
def forward(layer: RepeatVector, x: np.ndarray, training: bool) -> tuple[np.ndarray, Any]:
    y = np.repeat(x[:, np.newaxis, :], layer.n, axis=1)
    return y, lambda dy: (dy.sum(axis=1), [])
