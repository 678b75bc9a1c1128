"""Max and average pooling on channels-last 4D arrays, in numba, parallel over the batch for
large inputs. Max pooling caches the arg-max (flat pixel index, first maximum wins) so its
backward is a scatter; "same" windows only cover real inputs, as in TensorFlow."""

from __future__ import annotations

from typing import Any

import numpy as np
from numba import njit, prange

from numkeras.engine.kernels import register
from numkeras.engine.ops.conv import PARALLEL_MIN, from_nhwc, geometry, to_nhwc
from numkeras.layers.pooling import (
    AveragePooling1D,
    AveragePooling2D,
    MaxPooling1D,
    MaxPooling2D,
)


@njit(cache=True)
def _window(o, stride, pad, size, limit):
    start = o * stride - pad
    return max(start, 0), min(start + size, limit)


@njit(cache=True)
def _max_sample(x, n, ph, pw, sh, sw, pt, pl, y, arg):
    width, channels = x.shape[2], x.shape[3]
    for oh in range(y.shape[1]):
        h0, h1 = _window(oh, sh, pt, ph, x.shape[1])
        for ow in range(y.shape[2]):
            w0, w1 = _window(ow, sw, pl, pw, width)
            for c in range(channels):
                y[n, oh, ow, c] = -np.inf
                arg[n, oh, ow, c] = h0 * width + w0
            for ih in range(h0, h1):
                for iw in range(w0, w1):
                    for c in range(channels):
                        v = x[n, ih, iw, c]
                        if v > y[n, oh, ow, c]:
                            y[n, oh, ow, c] = v
                            arg[n, oh, ow, c] = ih * width + iw


@njit(cache=True)
def _max_back_sample(dy, arg, n, dx):
    width = dx.shape[2]
    for oh in range(dy.shape[1]):
        for ow in range(dy.shape[2]):
            for c in range(dy.shape[3]):
                a = arg[n, oh, ow, c]
                dx[n, a // width, a % width, c] += dy[n, oh, ow, c]


@njit(cache=True)
def _avg_sample(x, n, ph, pw, sh, sw, pt, pl, y, backward, dy, dx):
    """Forward (``y`` = window means of ``x``) or, if ``backward``, ``dx`` += spread ``dy``."""
    height, width, channels = x.shape[1], x.shape[2], x.shape[3]
    for oh in range(y.shape[1]):
        h0, h1 = _window(oh, sh, pt, ph, height)
        for ow in range(y.shape[2]):
            w0, w1 = _window(ow, sw, pl, pw, width)
            scale = 1.0 / ((h1 - h0) * (w1 - w0))
            if backward:
                for ih in range(h0, h1):
                    for iw in range(w0, w1):
                        for c in range(channels):
                            dx[n, ih, iw, c] += dy[n, oh, ow, c] * scale
            else:
                for c in range(channels):
                    y[n, oh, ow, c] = 0.0
                for ih in range(h0, h1):
                    for iw in range(w0, w1):
                        for c in range(channels):
                            y[n, oh, ow, c] += x[n, ih, iw, c]
                for c in range(channels):
                    y[n, oh, ow, c] *= scale


@njit(cache=True)
def _max_serial(x, ph, pw, sh, sw, pt, pl, y, arg):
    for n in range(x.shape[0]):
        _max_sample(x, n, ph, pw, sh, sw, pt, pl, y, arg)


@njit(cache=True, parallel=True)
def _max_parallel(x, ph, pw, sh, sw, pt, pl, y, arg):
    for n in prange(x.shape[0]):
        _max_sample(x, n, ph, pw, sh, sw, pt, pl, y, arg)


@njit(cache=True)
def _max_back_serial(dy, arg, dx):
    for n in range(dx.shape[0]):
        _max_back_sample(dy, arg, n, dx)


@njit(cache=True, parallel=True)
def _max_back_parallel(dy, arg, dx):
    for n in prange(dx.shape[0]):
        _max_back_sample(dy, arg, n, dx)


@njit(cache=True)
def _avg_serial(x, ph, pw, sh, sw, pt, pl, y, backward, dy, dx):
    for n in range(x.shape[0]):
        _avg_sample(x, n, ph, pw, sh, sw, pt, pl, y, backward, dy, dx)


@njit(cache=True, parallel=True)
def _avg_parallel(x, ph, pw, sh, sw, pt, pl, y, backward, dy, dx):
    for n in prange(x.shape[0]):
        _avg_sample(x, n, ph, pw, sh, sw, pt, pl, y, backward, dy, dx)


def _setup(layer: Any, x: np.ndarray) -> tuple[np.ndarray, tuple, tuple, bool]:
    xs = to_nhwc(x, layer.data_format)
    pool, strides = layer.pool_size, layer.strides
    if layer.rank == 1:
        pool, strides = (1, pool[0]), (1, strides[0])
    g = geometry(xs.shape[1:3], pool, strides, (1, 1), layer.padding)
    out_shape = (xs.shape[0], g[8], g[9], xs.shape[3])
    params = (g[0], g[1], g[2], g[3], g[6], g[7])  # ph, pw, sh, sw, pad_top, pad_left
    return xs, params, out_shape, xs.size >= PARALLEL_MIN and xs.shape[0] > 1


@register(MaxPooling1D, MaxPooling2D)
def max_forward(layer: MaxPooling1D | MaxPooling2D, x: np.ndarray,
                training: bool) -> tuple[np.ndarray, Any]:
    fmt = layer.data_format
    xs, params, out_shape, parallel = _setup(layer, x)
    y = np.empty(out_shape, dtype=xs.dtype)
    arg = np.empty(out_shape, dtype=np.int32)
    if y.size:
        (_max_parallel if parallel else _max_serial)(xs, *params, y, arg)

    def backward(dy: np.ndarray) -> tuple[np.ndarray, list]:
        dx = np.zeros_like(xs)
        if dx.size:
            run = _max_back_parallel if parallel else _max_back_serial
            run(to_nhwc(dy, fmt).astype(xs.dtype, copy=False), arg, dx)
        return from_nhwc(dx, fmt, x.ndim), []

    return from_nhwc(y, fmt, x.ndim), backward


@register(AveragePooling1D, AveragePooling2D)
def average_forward(layer: AveragePooling1D | AveragePooling2D, x: np.ndarray,
                    training: bool) -> tuple[np.ndarray, Any]:
    fmt = layer.data_format
    xs, params, out_shape, parallel = _setup(layer, x)
    run = _avg_parallel if parallel else _avg_serial
    y = np.empty(out_shape, dtype=xs.dtype)
    if y.size:
        run(xs, *params, y, False, y, xs)

    def backward(dy: np.ndarray) -> tuple[np.ndarray, list]:
        dx = np.zeros_like(xs)
        if dx.size:
            run(xs, *params, y, True, to_nhwc(dy, fmt).astype(xs.dtype, copy=False), dx)
        return from_nhwc(dx, fmt, x.ndim), []

    return from_nhwc(y, fmt, x.ndim), backward
