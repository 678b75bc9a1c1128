"""UpSampling1D / UpSampling2D: nearest repeats each pixel (backward sums the blocks);
bilinear applies one interpolation matrix per spatial axis (backward: their transposes)."""

from __future__ import annotations

from typing import Any

import numpy as np

from numkeras.engine.kernels import register
from numkeras.layers.up_sampling import UpSampling1D, UpSampling2D


def bilinear_matrix(size: int, factor: int, dtype: Any) -> np.ndarray:
    """``(size * factor, size)`` weights of TensorFlow's bilinear resize with half-pixel
    centres along one axis."""
    out = np.arange(size * factor)
    src = (out + 0.5) / factor - 0.5
    low = np.floor(src)
    frac = src - low
    lo = np.clip(low, 0, size - 1).astype(int)
    hi = np.clip(low + 1, 0, size - 1).astype(int)
    m = np.zeros((size * factor, size), dtype=dtype)
    np.add.at(m, (out, lo), 1.0 - frac)
    np.add.at(m, (out, hi), frac)
    return m


@register(UpSampling1D, UpSampling2D)
def forward(layer: UpSampling1D | UpSampling2D, x: np.ndarray,
            training: bool) -> tuple[np.ndarray, Any]:
    axes, sizes = layer.spatial_axes(), layer.sizes()
    if getattr(layer, "interpolation", "nearest") == "bilinear":
        mats = [bilinear_matrix(x.shape[a], s, x.dtype) for a, s in zip(axes, sizes, strict=True)]
        y = x
        for a, m in zip(axes, mats, strict=True):
            y = np.moveaxis(np.tensordot(m, y, axes=(1, a)), 0, a)

        def backward(dy: np.ndarray) -> tuple[np.ndarray, list]:
            dx = dy
            for a, m in zip(axes, mats, strict=True):
                dx = np.moveaxis(np.tensordot(m.T, dx, axes=(1, a)), 0, a)
            return np.ascontiguousarray(dx, dtype=x.dtype), []

        return np.ascontiguousarray(y, dtype=x.dtype), backward

    y = x
    for a, s in zip(axes, sizes, strict=True):
        y = np.repeat(y, s, axis=a)
    # dy viewed with every upsampled axis split into (pixel, repeat); sum the repeats.
    split = []
    for i, d in enumerate(x.shape):
        split += [d, sizes[axes.index(i)]] if i in axes else [d]
    summed = tuple(axes[k] + k + 1 for k in range(len(axes)))

    def backward(dy: np.ndarray) -> tuple[np.ndarray, list]:
        return np.ascontiguousarray(dy.reshape(split).sum(axis=summed, dtype=x.dtype)), []

    return y, backward
