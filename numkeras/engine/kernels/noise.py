"""GaussianNoise, GaussianDropout and AlphaDropout: random while training, else the identity."""

from __future__ import annotations

from typing import Any

import numpy as np

from numkeras.activations import SELU_ALPHA, SELU_SCALE
from numkeras.engine.kernels import register
from numkeras.engine.kernels.dropout import generator_of, noise_shape_of
from numkeras.layers.noise import AlphaDropout, GaussianDropout, GaussianNoise


def _identity(dy: np.ndarray) -> tuple[np.ndarray, list]:
    return dy, []


def _normal(layer: Any, x: np.ndarray) -> np.ndarray:
    # Always drawn in float32, so a float64 run sees the same noise as a float32 one.
    noise = generator_of(layer).standard_normal(x.shape, dtype=np.float32)
    return noise.astype(x.dtype, copy=False)


@register(GaussianNoise)
def gaussian_noise(layer: GaussianNoise, x: np.ndarray, training: bool) -> tuple[Any, Any]:
    if not training:
        return x, _identity
    y = x + _normal(layer, x) * x.dtype.type(layer.stddev)
    return y, _identity


@register(GaussianDropout)
def gaussian_dropout(layer: GaussianDropout, x: np.ndarray, training: bool) -> tuple[Any, Any]:
    if not training or not 0.0 < layer.rate < 1.0:
        return x, _identity
    stddev = np.sqrt(layer.rate / (1.0 - layer.rate))
    noise = _normal(layer, x) * x.dtype.type(stddev) + x.dtype.type(1.0)
    return x * noise, lambda dy: (dy * noise, [])


@register(AlphaDropout)
def alpha_dropout(layer: AlphaDropout, x: np.ndarray, training: bool) -> tuple[Any, Any]:
    rate = layer.rate
    if not training or not 0.0 < rate < 1.0:
        return x, _identity
    alpha_p = -SELU_ALPHA * SELU_SCALE
    a = ((1.0 - rate) * (1.0 + rate * alpha_p**2)) ** -0.5
    b = -a * alpha_p * rate
    shape = noise_shape_of(layer, layer.noise_shape, x)
    keep = generator_of(layer).random(shape, dtype=np.float32) >= rate
    scale = np.multiply(keep, a, dtype=x.dtype)  # a where kept, 0 where dropped
    shift = np.where(keep, x.dtype.type(b), x.dtype.type(a * alpha_p + b))
    return x * scale + shift, lambda dy: (dy * scale, [])
