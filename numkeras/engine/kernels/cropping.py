"""Cropping1D / Cropping2D: the inner slice; the backward pads it back with zeros."""

from __future__ import annotations

from typing import Any

import numpy as np

from numkeras.engine.kernels import register
from numkeras.layers.cropping import Cropping1D, Cropping2D


@register(Cropping1D, Cropping2D)
def forward(layer: Cropping1D | Cropping2D, x: np.ndarray,
            training: bool) -> tuple[np.ndarray, Any]:
    layer.compute_output_shape(x.shape)  # raises if the cropping removes a whole axis
    widths = [(0, 0)] * x.ndim
    inner = [slice(None)] * x.ndim
    for axis, (a, b) in zip(layer.spatial_axes(), layer.pairs(), strict=True):
        widths[axis] = (a, b)
        inner[axis] = slice(a, x.shape[axis] - b)

    def backward(dy: np.ndarray) -> tuple[np.ndarray, list]:
        return np.pad(dy, widths), []

    return np.ascontiguousarray(x[tuple(inner)]), backward
