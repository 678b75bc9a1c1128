"""Flatten: a reshape to (batch, features), after moving channels last if channels_first."""

from __future__ import annotations

from typing import Any

import numpy as np

from numkeras.engine.kernels import register
from numkeras.layers.flatten import Flatten


@register(Flatten)
def forward(layer: Flatten, x: np.ndarray, training: bool) -> tuple[np.ndarray, Any]:
    perm = None
    if layer.data_format == "channels_first" and x.ndim > 2:
        perm = (0, *range(2, x.ndim), 1)
        x_t = np.transpose(x, perm)
    else:
        x_t = x
    y = np.ascontiguousarray(x_t).reshape(x.shape[0], -1)

    def backward(dy: np.ndarray) -> tuple[np.ndarray, list]:
        dx = dy.reshape(x_t.shape)
        if perm is not None:
            dx = np.ascontiguousarray(np.transpose(dx, np.argsort(perm)))
        return dx, []

    return y, backward
