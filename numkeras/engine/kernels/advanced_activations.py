"""ReLU, LeakyReLU, PReLU, ELU, ThresholdedReLU and Softmax layers, in NumPy."""

from __future__ import annotations

from typing import Any

import numpy as np

from numkeras.engine.kernels import register
from numkeras.engine.ops import activations as act
from numkeras.layers.advanced_activations import (
    ELU,
    LeakyReLU,
    PReLU,
    ReLU,
    Softmax,
    ThresholdedReLU,
)


def _piecewise(y: np.ndarray, slope: np.ndarray) -> tuple[np.ndarray, Any]:
    return y, lambda dy: (dy * slope, [])


@register(ReLU)
def relu(layer: ReLU, x: np.ndarray, training: bool) -> tuple[np.ndarray, Any]:
    t = x.dtype.type
    above = x > t(layer.threshold)
    top = x if layer.max_value is None else np.minimum(x, t(layer.max_value))
    y = np.where(above, top, t(layer.negative_slope) * (x - t(layer.threshold)))
    inside = above if layer.max_value is None else above & (x <= t(layer.max_value))
    slope = np.where(inside, t(1), np.where(above, t(0), t(layer.negative_slope)))
    return _piecewise(y, slope)


@register(LeakyReLU)
def leaky_relu(layer: LeakyReLU, x: np.ndarray, training: bool) -> tuple[np.ndarray, Any]:
    alpha = x.dtype.type(layer.alpha)
    positive = x > 0
    return _piecewise(np.where(positive, x, alpha * x), np.where(positive, x.dtype.type(1), alpha))


@register(ELU)
def elu(layer: ELU, x: np.ndarray, training: bool) -> tuple[np.ndarray, Any]:
    alpha = x.dtype.type(layer.alpha)
    positive = x > 0
    exp = np.exp(np.minimum(x, 0))
    y = np.where(positive, x, alpha * (exp - 1))
    return _piecewise(y, np.where(positive, x.dtype.type(1), alpha * exp))


@register(ThresholdedReLU)
def thresholded_relu(layer: ThresholdedReLU, x: np.ndarray, training: bool) -> tuple[Any, Any]:
    above = (x > x.dtype.type(layer.theta)).astype(x.dtype)
    return _piecewise(x * above, above)


@register(PReLU)
def prelu(layer: PReLU, x: np.ndarray, training: bool) -> tuple[np.ndarray, Any]:
    alpha = layer.alpha.value
    positive = x > 0
    negative_part = np.minimum(x, 0)
    y = np.where(positive, x, alpha * x)
    shared = (0, *(i + 1 for i, n in enumerate(alpha.shape) if n == 1 and x.shape[i + 1] != 1))

    def backward(dy: np.ndarray) -> tuple[np.ndarray, list]:
        d_alpha = np.sum(dy * negative_part, axis=shared, keepdims=True).reshape(alpha.shape)
        return np.where(positive, dy, dy * alpha), [d_alpha.astype(alpha.dtype, copy=False)]

    return y, backward


@register(Softmax)
def softmax(layer: Softmax, x: np.ndarray, training: bool) -> tuple[np.ndarray, Any]:
    axes = layer.axis if isinstance(layer.axis, list) else [layer.axis]
    axes = tuple(sorted({a % x.ndim for a in axes}))
    if axes == (x.ndim - 1,):
        y = act.forward("softmax", x)
        return y, lambda dy: (act.backward("softmax", None, y, dy), [])
    e = np.exp(x - np.max(x, axis=axes, keepdims=True))
    y = e / np.sum(e, axis=axes, keepdims=True)

    def backward(dy: np.ndarray) -> tuple[np.ndarray, list]:
        return y * (dy - np.sum(dy * y, axis=axes, keepdims=True)), []

    return y, backward
