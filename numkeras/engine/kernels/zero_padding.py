"""ZeroPadding1D / ZeroPadding2D: a padded copy; the backward is the inner slice."""

from __future__ import annotations

from typing import Any

import numpy as np

from numkeras.engine.kernels import register
from numkeras.layers.zero_padding import ZeroPadding1D, ZeroPadding2D


@register(ZeroPadding1D, ZeroPadding2D)
def forward(layer: ZeroPadding1D | ZeroPadding2D, x: np.ndarray,
            training: bool) -> tuple[np.ndarray, Any]:
    widths = [(0, 0)] * x.ndim
    inner = [slice(None)] * x.ndim
    for axis, (a, b) in zip(layer.spatial_axes(), layer.pairs(), strict=True):
        widths[axis] = (a, b)
        inner[axis] = slice(a, a + x.shape[axis])
    inner = tuple(inner)

    def backward(dy: np.ndarray) -> tuple[np.ndarray, list]:
        return np.ascontiguousarray(dy[inner]), []

    return np.pad(x, widths), backward
