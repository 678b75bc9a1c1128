"""Dropout (inverted): a scaled keep-mask while training, the identity otherwise.

Also the random generator of every random layer, :func:`generator_of`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from numkeras.engine.kernels import register
from numkeras.layers.dropout import Dropout


def generator_of(layer: Any) -> np.random.Generator:
    """The layer's generator, made from ``layer.seed`` at first use and advancing afterwards.

    A layer without a seed draws one from NumPy's global random state, so ``np.random.seed``
    makes a run reproducible. Setting ``layer._generator = None`` restarts the stream.
    """
    rng = getattr(layer, "_generator", None)
    if rng is None:
        seed = layer.seed if layer.seed is not None else np.random.randint(0, 2**31 - 1)
        rng = layer._generator = np.random.default_rng(seed)
    return rng


def noise_shape_of(layer: Any, noise_shape: tuple | None, x: np.ndarray) -> tuple:
    """``noise_shape`` with None entries taken from ``x``; ``x.shape`` when it is None.

    Raises:
        ValueError: naming the layer when the noise shape does not broadcast to ``x``.
    """
    if noise_shape is None:
        return x.shape
    shape = tuple(x.shape[i] if d is None else d for i, d in enumerate(noise_shape))
    if len(shape) != x.ndim or any(s not in (1, d) for s, d in zip(shape, x.shape, strict=True)):
        raise ValueError(
            f"Layer {layer.name!r}: noise_shape {noise_shape} does not broadcast to the input "
            f"shape {x.shape}."
        )
    return shape


def _identity(dy: np.ndarray) -> tuple[np.ndarray, list]:
    return dy, []


@register(Dropout)
def forward(layer: Dropout, x: np.ndarray, training: bool) -> tuple[np.ndarray, Any]:
    if not training or layer.rate == 0.0:
        return x, _identity
    shape = noise_shape_of(layer, layer._noise_shape, x)
    if layer.rate >= 1.0:
        mask = np.zeros(shape, dtype=x.dtype)
    else:
        keep = generator_of(layer).random(shape, dtype=np.float32) >= layer.rate
        mask = np.multiply(keep, 1.0 / (1.0 - layer.rate), dtype=x.dtype)
    y = x * mask

    def backward(dy: np.ndarray) -> tuple[np.ndarray, list]:
        return dy * mask, []

    return y, backward
