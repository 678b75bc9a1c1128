"""Reshape: a view with the target shape per sample."""

from __future__ import annotations

from typing import Any

import numpy as np

from numkeras.engine.kernels import register
from numkeras.layers.reshape import Reshape


@register(Reshape)
def forward(layer: Reshape, x: np.ndarray, training: bool) -> tuple[np.ndarray, Any]:
    try:
        y = np.ascontiguousarray(x).reshape(x.shape[0], *layer.target_shape)
    except ValueError:
        raise ValueError(
            f"Reshape layer {layer.name!r}: cannot reshape input of shape {x.shape} to "
            f"target_shape {layer.target_shape}."
        ) from None
    return y, lambda dy: (dy.reshape(x.shape), [])
