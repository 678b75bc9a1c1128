"""LayerNormalization: per-sample statistics over the normalized axes, in NumPy."""

from __future__ import annotations

from typing import Any

import numpy as np

from numkeras.engine.kernels import register
from numkeras.layers.layer_normalization import LayerNormalization


@register(LayerNormalization)
def forward(layer: LayerNormalization, x: np.ndarray, training: bool) -> tuple[np.ndarray, Any]:
    axes = sorted(layer.axis)
    perm = [i for i in range(x.ndim) if i not in axes] + axes
    moved = np.transpose(x, perm) if perm != list(range(x.ndim)) else x
    rows = np.ascontiguousarray(moved).reshape(-1, int(np.prod([x.shape[a] for a in axes])))
    dtype = x.dtype.type
    mean = rows.mean(axis=1, keepdims=True)
    centered = rows - mean
    inv_std = 1.0 / np.sqrt(np.mean(centered * centered, axis=1, keepdims=True)
                            + dtype(layer.epsilon))
    x_hat = centered * inv_std
    # tf-keras reshapes (not transposes) gamma and beta onto the sorted axes: a flat view.
    gamma = None if layer.gamma is None else layer.gamma.value.reshape(-1)
    y = x_hat * gamma if gamma is not None else x_hat
    if layer.beta is not None:
        y = y + layer.beta.value.reshape(-1)

    def restore(a: np.ndarray) -> np.ndarray:
        a = a.reshape(moved.shape)
        return a if moved is x else np.ascontiguousarray(np.transpose(a, np.argsort(perm)))

    def backward(dy: np.ndarray) -> tuple[np.ndarray, list]:
        d_rows = np.ascontiguousarray(np.transpose(dy, perm)).reshape(rows.shape)
        g = d_rows * gamma if gamma is not None else d_rows
        dx = inv_std * (g - g.mean(axis=1, keepdims=True)
                        - x_hat * np.mean(g * x_hat, axis=1, keepdims=True))
        grads = []
        if layer.gamma is not None:
            grads.append(np.sum(d_rows * x_hat, axis=0).reshape(layer.gamma.shape))
        if layer.beta is not None:
            grads.append(np.sum(d_rows, axis=0).reshape(layer.beta.shape))
        return restore(dx), grads

    return restore(y.astype(x.dtype, copy=False)), backward
