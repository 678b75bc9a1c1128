"""Permute: a transpose of the sample axes."""

from __future__ import annotations

from typing import Any

import numpy as np

from numkeras.engine.kernels import register
from numkeras.layers.permute import Permute


@register(Permute)
def forward(layer: Permute, x: np.ndarray, training: bool) -> tuple[np.ndarray, Any]:
    perm = (0, *layer.dims)
    inverse = tuple(np.argsort(perm))
    y = np.ascontiguousarray(np.transpose(x, perm))
    return y, lambda dy: (np.ascontiguousarray(np.transpose(dy, inverse)), [])
