"""Global max and average pooling: NumPy reductions over the spatial axes."""

from __future__ import annotations

from typing import Any

import numpy as np

from numkeras.engine.kernels import register
from numkeras.layers.global_pooling import (
    GlobalAveragePooling1D,
    GlobalAveragePooling2D,
    GlobalMaxPooling1D,
    GlobalMaxPooling2D,
)


def _finish(layer: Any, y: np.ndarray) -> np.ndarray:
    return y if layer.keepdims else y.reshape(layer.compute_output_shape(y.shape))


@register(GlobalMaxPooling1D, GlobalMaxPooling2D)
def max_forward(layer: GlobalMaxPooling1D | GlobalMaxPooling2D, x: np.ndarray,
                training: bool) -> tuple[np.ndarray, Any]:
    axes = layer.spatial_axes()
    y = x.max(axis=axes, keepdims=True)
    # The gradient goes to the first maximum of each channel, as with a cached arg-max.
    first = np.moveaxis(x, axes, range(-len(axes), 0))
    first = first.reshape(*first.shape[:-len(axes)], -1)
    arg = first.argmax(axis=-1)

    def backward(dy: np.ndarray) -> tuple[np.ndarray, list]:
        dflat = np.zeros(first.shape, dtype=x.dtype)
        np.put_along_axis(dflat, arg[..., None], dy.reshape(arg.shape)[..., None], axis=-1)
        dmoved = dflat.reshape(*first.shape[:-1], *(x.shape[a] for a in axes))
        return np.ascontiguousarray(np.moveaxis(dmoved, range(-len(axes), 0), axes)), []

    return _finish(layer, y), backward


@register(GlobalAveragePooling1D, GlobalAveragePooling2D)
def average_forward(layer: GlobalAveragePooling1D | GlobalAveragePooling2D, x: np.ndarray,
                    training: bool, mask: Any = None) -> tuple[np.ndarray, Any]:
    axes = layer.spatial_axes()
    if mask is None:
        weights = np.full([x.shape[a] if a in axes else 1 for a in range(x.ndim)],
                          1.0 / np.prod([x.shape[a] for a in axes]), dtype=x.dtype)
    else:
        # Keras: sum of the unmasked steps divided by their number.
        m = np.asarray(mask, dtype=x.dtype)
        m = m[:, None, :] if layer.data_format == "channels_first" else m[:, :, None]
        weights = m / m.sum(axis=axes, keepdims=True)
    y = (x * weights).sum(axis=axes, keepdims=True, dtype=x.dtype)

    def backward(dy: np.ndarray) -> tuple[np.ndarray, list]:
        dx = dy.reshape(y.shape).astype(x.dtype, copy=False) * weights
        return np.ascontiguousarray(np.broadcast_to(dx, x.shape)), []

    return _finish(layer, y), backward
