"""BatchNormalization: fused numba passes over an ``(outer, channels, inner)`` view.

Statistics accumulate in float64. The forward is one affine map per channel,
``y = x * scale + shift``; the backward is one reduction pass (sums of ``dy`` and
``dy * (x - mean)``) and one affine pass, ``dx = A * dy + B * x + D`` per channel.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numba import njit

from numkeras.engine.kernels import register
from numkeras.layers.batch_normalization import BatchNormalization

_FUSED_MIN_EPSILON = 1.001e-5  # tf's fused_batch_norm raises smaller epsilons to this


# Each kernel takes a C-contiguous (outer, channels, inner) array. With inner == 1 (channels
# last) it loops over a 2D view with the channel axis innermost, so LLVM vectorizes across
# channels; otherwise the innermost loop runs over the contiguous inner axis.


@njit(cache=True, fastmath={"reassoc"})
def _moments(x):
    n0, c, n1 = x.shape
    mean = np.zeros(c)
    var = np.zeros(c)
    if n0 * n1 == 0:
        return mean, var
    x2 = x.reshape((n0, c * n1))
    for i in range(n0):
        if n1 == 1:
            for j in range(c):
                mean[j] += x2[i, j]
        else:
            for j in range(c):
                s = 0.0
                for k in range(n1):
                    s += x[i, j, k]
                mean[j] += s
    mean /= n0 * n1
    for i in range(n0):
        if n1 == 1:
            for j in range(c):
                d = x2[i, j] - mean[j]
                var[j] += d * d
        else:
            for j in range(c):
                m = mean[j]
                s = 0.0
                for k in range(n1):
                    d = x[i, j, k] - m
                    s += d * d
                var[j] += s
    var /= n0 * n1
    return mean, var


@njit(cache=True, fastmath={"reassoc"})
def _grad_sums(x, dy, mean):
    """Per channel: ``sum(dy)`` and ``sum(dy * (x - mean))``."""
    n0, c, n1 = x.shape
    sum_dy = np.zeros(c)
    sum_dy_xc = np.zeros(c)
    x2 = x.reshape((n0, c * n1))
    dy2 = dy.reshape((n0, c * n1))
    for i in range(n0):
        if n1 == 1:
            for j in range(c):
                g = dy2[i, j]
                sum_dy[j] += g
                sum_dy_xc[j] += g * (x2[i, j] - mean[j])
        else:
            for j in range(c):
                m = mean[j]
                s = 0.0
                t = 0.0
                for k in range(n1):
                    g = dy[i, j, k]
                    s += g
                    t += g * (x[i, j, k] - m)
                sum_dy[j] += s
                sum_dy_xc[j] += t
    return sum_dy, sum_dy_xc


@njit(cache=True)
def _channel_affine(u, v, a, b, d, out):
    """``out = a * u + b * v + d`` with per-channel ``a``, ``b``, ``d``."""
    n0, c, n1 = u.shape
    if n1 == 1:
        u2 = u.reshape((n0, c))
        v2 = v.reshape((n0, c))
        out2 = out.reshape((n0, c))
        for i in range(n0):
            for j in range(c):
                out2[i, j] = a[j] * u2[i, j] + b[j] * v2[i, j] + d[j]
        return
    for i in range(n0):
        for j in range(c):
            aj = a[j]
            bj = b[j]
            dj = d[j]
            for k in range(n1):
                out[i, j, k] = aj * u[i, j, k] + bj * v[i, j, k] + dj


def _channel_view(x: np.ndarray, axes: list[int]) -> tuple[np.ndarray, Any]:
    """A C-contiguous ``(outer, channels, inner)`` view of ``x`` and the map back to x's shape."""
    axes = sorted(axes)
    shape = x.shape
    if axes == list(range(axes[0], axes[-1] + 1)):
        view = np.ascontiguousarray(x).reshape(
            math.prod(shape[:axes[0]]), math.prod(shape[axes[0]:axes[-1] + 1]),
            math.prod(shape[axes[-1] + 1:]))
        return view, lambda a: a.reshape(shape)
    perm = [i for i in range(x.ndim) if i not in axes] + axes
    moved = np.ascontiguousarray(np.transpose(x, perm))
    inverse = np.argsort(perm)
    view = moved.reshape(-1, math.prod(shape[i] for i in axes), 1)
    return view, lambda a: np.ascontiguousarray(np.transpose(a.reshape(moved.shape), inverse))


def _param(weight: Any, fill: float, channels: int) -> np.ndarray:
    if weight is None:
        return np.full(channels, fill)
    return weight.value.reshape(-1).astype(np.float64)


def _update(weight: Any, value: np.ndarray, momentum: float) -> None:
    # tf-keras: moving -= (moving - value) * (1 - momentum), in the weight's dtype.
    moving = weight.value
    decay = moving.dtype.type(1.0 - momentum)
    moving -= (moving - value.reshape(moving.shape).astype(moving.dtype)) * decay


@register(BatchNormalization)
def forward(layer: BatchNormalization, x: np.ndarray, training: bool) -> tuple[np.ndarray, Any]:
    training = bool(training) and layer.trainable  # a frozen layer runs in inference mode
    x3, restore = _channel_view(x, layer.axis)
    channels = x3.shape[1]
    count = x3.shape[0] * x3.shape[2]
    epsilon = max(layer.epsilon, _FUSED_MIN_EPSILON) if layer._fused else layer.epsilon
    gamma = _param(layer.gamma, 1.0, channels)
    beta = _param(layer.beta, 0.0, channels)
    if training:
        mean, var = _moments(x3)
        if count > 0:
            _update(layer.moving_mean, mean, layer.momentum)
            unbiased = var * (count / (count - 1)) if layer._fused and count > 1 else var
            _update(layer.moving_variance, unbiased, layer.momentum)
    else:
        mean = layer.moving_mean.value.reshape(-1).astype(np.float64)
        var = layer.moving_variance.value.reshape(-1).astype(np.float64)
    inv_std = 1.0 / np.sqrt(var + epsilon)
    scale = gamma * inv_std
    zeros = np.zeros(channels)
    y3 = np.empty_like(x3)
    _channel_affine(x3, x3, scale, zeros, beta - mean * scale, y3)

    def backward(dy: np.ndarray) -> tuple[np.ndarray, list]:
        dy3 = _channel_view(np.asarray(dy, dtype=x.dtype), layer.axis)[0]
        sum_dy, sum_dy_xc = _grad_sums(x3, dy3, mean)
        d_gamma = sum_dy_xc * inv_std
        dx3 = np.empty_like(x3)
        if training:
            b = -scale * inv_std * d_gamma / count
            _channel_affine(dy3, x3, scale, b, -scale * sum_dy / count - b * mean, dx3)
        else:
            _channel_affine(dy3, dy3, scale, zeros, zeros, dx3)
        grads: list = []
        for weight, value in ((layer.gamma, d_gamma), (layer.beta, sum_dy)):
            if weight is not None:
                grads.append(value.reshape(weight.shape).astype(weight.dtype))
        return restore(dx3), [*grads, None, None]

    return restore(y3), backward
