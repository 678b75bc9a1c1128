"""Max and average pooling on channels-last 4D arrays, in numba, over blocks of samples on every
core. Max pooling caches the arg-max (flat pixel index, first maximum wins) so its backward is a
scatter; "same" windows only cover real inputs, as in TensorFlow.

Blocks: the batch is cut into blocks of whole samples by shape only (``conv.sample_blocks``),
run through ``parallel.run_chunks``; each block writes only its own samples, so the numbers do
not depend on the threads. The backward kernels zero their samples of the input gradient
themselves (one sample at a time, while it is in cache) instead of scattering into a separate
``np.zeros`` pass. Outputs, arg-max and input gradients are ``conv.recycled`` arrays, reused
once nothing holds them, so they are not allocated (and page-faulted) again for every batch.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numba import njit

from numkeras.engine.kernels import register
from numkeras.engine.ops.conv import from_nhwc, geometry, recycled, sample_blocks, to_nhwc
from numkeras.engine.ops.parallel import run_chunks
from numkeras.layers.pooling import (
    AveragePooling1D,
    AveragePooling2D,
    MaxPooling1D,
    MaxPooling2D,
)


@njit(cache=True, nogil=True)
def _window(o, stride, pad, size, limit):
    start = o * stride - pad
    return max(start, 0), min(start + size, limit)


# Flat arrays and unsigned offsets: numba wraps negative indices around, a test on every
# access that keeps LLVM from vectorizing the channel loops (see ``ops.conv``).


@njit(cache=True, nogil=True, inline="always")
def _clear(dst, d, count):
    for k in range(count):
        dst[np.uintp(d + k)] = 0.0


# Max pooling keeps a window's running maximum and its position in local variables: writing
# them to the output in the channel loop, as a first version did, made LLVM store and reload
# them for every window element (it cannot prove the output does not alias the input), so the
# loop did not vectorize. A whole 2x2 window, the common case, is 4 loads and selects per
# channel with the channel loop innermost, which vectorizes; any other window loops over its
# elements inside the channel loop. ``lowest`` is -inf in the input's dtype: a float64
# literal would widen float32 comparisons to double and halve the vector width.


@njit(cache=True, nogil=True, inline="always")
def _max_2x2(xf, s, row, channels, a0, a1, a2, a3, lowest, yf, af, o):
    """The window whose top-left element starts at flat offset ``s`` (``row``: offset to the next
    line), positions ``a0 .. a3`` in row-major order; the first maximum wins, as below."""
    for c in range(channels):
        v0 = xf[np.uintp(s + c)]
        v1 = xf[np.uintp(s + channels + c)]
        v2 = xf[np.uintp(s + row + c)]
        v3 = xf[np.uintp(s + row + channels + c)]
        more = v0 > lowest
        best = v0 if more else lowest
        at = a0
        more = v1 > best
        best = v1 if more else best
        at = a1 if more else at
        more = v2 > best
        best = v2 if more else best
        at = a2 if more else at
        more = v3 > best
        best = v3 if more else best
        at = a3 if more else at
        yf[np.uintp(o + c)] = best
        af[np.uintp(o + c)] = at


@njit(cache=True, nogil=True)
def _max_block(x, n0, n1, ph, pw, sh, sw, pt, pl, lowest, y, arg):
    height, width, channels = x.shape[1], x.shape[2], x.shape[3]
    oh_n, ow_n = y.shape[1], y.shape[2]
    xf, yf, af = x.reshape(-1), y.reshape(-1), arg.reshape(-1)
    for n in range(n0, n1):
        base = n * height * width
        for oh in range(oh_n):
            h0, h1 = _window(oh, sh, pt, ph, height)
            for ow in range(ow_n):
                w0, w1 = _window(ow, sw, pl, pw, width)
                o = ((n * oh_n + oh) * ow_n + ow) * channels
                first = h0 * width + w0
                if h1 - h0 == 2 and w1 - w0 == 2:
                    _max_2x2(xf, (base + first) * channels, width * channels, channels,
                             np.int32(first), np.int32(first + 1), np.int32(first + width),
                             np.int32(first + width + 1), lowest, yf, af, o)
                    continue
                for c in range(channels):
                    best, at = lowest, first
                    for ih in range(h0, h1):
                        for iw in range(w0, w1):
                            v = xf[np.uintp((base + ih * width + iw) * channels + c)]
                            if v > best:
                                best, at = v, ih * width + iw
                    yf[np.uintp(o + c)] = best
                    af[np.uintp(o + c)] = at


@njit(cache=True, nogil=True)
def _max_back_block(dy, arg, n0, n1, dx):
    """Samples ``n0 .. n1 - 1`` of ``dx`` (overwritten): each zeroed, then the scatter, while it
    is in cache (zeroing the whole block first ran 3x slower). For windows that may overlap."""
    size, channels = dx.shape[1] * dx.shape[2] * dx.shape[3], dx.shape[3]
    outputs = dy.shape[1] * dy.shape[2]
    dyr = dy.reshape((dy.shape[0], outputs * channels))
    ar = arg.reshape((dy.shape[0], outputs * channels))
    dxr = dx.reshape((dx.shape[0], size))
    for n in range(n0, n1):
        d, g, a = dxr[n], dyr[n], ar[n]
        for k in range(size):
            d[k] = 0.0
        for o in range(outputs):
            for c in range(channels):
                i = o * channels + c
                d[np.uintp(a[i] * channels + c)] += g[i]


@njit(cache=True, nogil=True)
def _max_back_tiled(dy, arg, n0, n1, ph, pw, pt, pl, zero, dx):
    """Samples ``n0 .. n1 - 1`` of ``dx`` (overwritten) when the strides equal the pool size.

    The windows then tile the input, so every position is in one window at most and its gradient
    is written once, not scattered and added: for each window element, every channel's upstream
    gradient or zero, a loop that vectorizes (the scatter does not). Positions past the last
    window are zeroed. ``+ zero`` (0 in dx's dtype) turns -0.0 into 0.0 like the scatter's
    ``0.0 + g``, so both kernels give the same bits.
    """
    height, width, channels = dx.shape[1], dx.shape[2], dx.shape[3]
    oh_n, ow_n = dy.shape[1], dy.shape[2]
    df, gf, af = dx.reshape(-1), dy.reshape(-1), arg.reshape(-1)
    covered_h = min(oh_n * ph - pt, height)
    covered_w = min(ow_n * pw - pl, width)
    for n in range(n0, n1):
        base = n * height * width
        for ih in range(covered_h):
            _clear(df, (base + ih * width + covered_w) * channels,
                  (width - covered_w) * channels)
        _clear(df, (base + covered_h * width) * channels, (height - covered_h) * width * channels)
        for oh in range(oh_n):
            h0, h1 = _window(oh, ph, pt, ph, height)
            for ow in range(ow_n):
                w0, w1 = _window(ow, pw, pl, pw, width)
                o = ((n * oh_n + oh) * ow_n + ow) * channels
                for ih in range(h0, h1):
                    for iw in range(w0, w1):
                        at = np.int32(ih * width + iw)
                        s = (base + ih * width + iw) * channels
                        for c in range(channels):
                            g = gf[np.uintp(o + c)]
                            mine = af[np.uintp(o + c)] == at
                            df[np.uintp(s + c)] = (g if mine else zero) + zero


@njit(cache=True, nogil=True)
def _avg_block(x, n0, n1, ph, pw, sh, sw, pt, pl, y):
    height, width, channels = x.shape[1], x.shape[2], x.shape[3]
    for n in range(n0, n1):
        for oh in range(y.shape[1]):
            h0, h1 = _window(oh, sh, pt, ph, height)
            for ow in range(y.shape[2]):
                w0, w1 = _window(ow, sw, pl, pw, width)
                scale = 1.0 / ((h1 - h0) * (w1 - w0))
                for c in range(channels):
                    y[n, oh, ow, c] = 0.0
                for ih in range(h0, h1):
                    for iw in range(w0, w1):
                        for c in range(channels):
                            y[n, oh, ow, c] += x[n, ih, iw, c]
                for c in range(channels):
                    y[n, oh, ow, c] *= scale


@njit(cache=True, nogil=True)
def _avg_back_block(dy, n0, n1, ph, pw, sh, sw, pt, pl, dx):
    """``dx`` (samples ``n0 .. n1 - 1``, overwritten) = each ``dy`` spread over its window."""
    height, width, channels = dx.shape[1], dx.shape[2], dx.shape[3]
    for n in range(n0, n1):
        dx[n] = 0.0
        for oh in range(dy.shape[1]):
            h0, h1 = _window(oh, sh, pt, ph, height)
            for ow in range(dy.shape[2]):
                w0, w1 = _window(ow, sw, pl, pw, width)
                scale = 1.0 / ((h1 - h0) * (w1 - w0))
                for ih in range(h0, h1):
                    for iw in range(w0, w1):
                        for c in range(channels):
                            dx[n, ih, iw, c] += dy[n, oh, ow, c] * scale


def _setup(layer: Any, x: np.ndarray) -> tuple[np.ndarray, tuple, tuple, list[int]]:
    xs = to_nhwc(x, layer.data_format)
    pool, strides = layer.pool_size, layer.strides
    if layer.rank == 1:
        pool, strides = (1, pool[0]), (1, strides[0])
    g = geometry(xs.shape[1:3], pool, strides, (1, 1), layer.padding)
    out_shape = (xs.shape[0], g[8], g[9], xs.shape[3])
    params = (g[0], g[1], g[2], g[3], g[6], g[7])  # ph, pw, sh, sw, pad_top, pad_left
    edges = sample_blocks(xs.shape[0], xs[:1].nbytes)
    return xs, params, out_shape, edges


def _blocks(edges: list[int], fn: Any) -> None:
    """Runs ``fn(n0, n1)`` for every block of samples, on every core."""
    run_chunks(lambda i: fn(edges[i], edges[i + 1]), len(edges) - 1)


@register(MaxPooling1D, MaxPooling2D)
def max_forward(layer: MaxPooling1D | MaxPooling2D, x: np.ndarray,
                training: bool) -> tuple[np.ndarray, Any]:
    fmt = layer.data_format
    xs, params, out_shape, edges = _setup(layer, x)
    y = recycled(layer, "y", out_shape, xs.dtype)
    arg = recycled(layer, "arg", out_shape, np.int32)
    lowest = xs.dtype.type(-np.inf)
    if y.size:
        _blocks(edges, lambda n0, n1: _max_block(xs, n0, n1, *params, lowest, y, arg))
    # The backward needs only the arg-max: no reference to the input or the output.
    in_shape, dtype, ndim, windows = xs.shape, xs.dtype, x.ndim, y.size
    ph, pw, sh, sw, pt, pl = params
    tiled = (ph, pw) == (sh, sw)

    def backward(dy: np.ndarray) -> tuple[np.ndarray, list]:
        dx = recycled(layer, "dx", in_shape, dtype)
        dys = np.ascontiguousarray(to_nhwc(dy, fmt), dtype=dtype)
        if windows and tiled:
            zero = dtype.type(0)
            _blocks(edges, lambda n0, n1: _max_back_tiled(dys, arg, n0, n1, ph, pw, pt, pl,
                                                          zero, dx))
        elif windows:
            _blocks(edges, lambda n0, n1: _max_back_block(dys, arg, n0, n1, dx))
        else:
            dx[...] = 0
        return from_nhwc(dx, fmt, ndim), []

    return from_nhwc(y, fmt, x.ndim), backward


@register(AveragePooling1D, AveragePooling2D)
def average_forward(layer: AveragePooling1D | AveragePooling2D, x: np.ndarray,
                    training: bool) -> tuple[np.ndarray, Any]:
    fmt = layer.data_format
    xs, params, out_shape, edges = _setup(layer, x)
    y = recycled(layer, "y", out_shape, xs.dtype)
    if y.size:
        _blocks(edges, lambda n0, n1: _avg_block(xs, n0, n1, *params, y))
    in_shape, dtype, ndim = xs.shape, xs.dtype, x.ndim

    def backward(dy: np.ndarray) -> tuple[np.ndarray, list]:
        dx = recycled(layer, "dx", in_shape, dtype)
        dys = np.ascontiguousarray(to_nhwc(dy, fmt), dtype=dtype)
        if dx.size:
            _blocks(edges, lambda n0, n1: _avg_back_block(dys, n0, n1, *params, dx))
        return from_nhwc(dx, fmt, ndim), []

    return from_nhwc(y, fmt, x.ndim), backward
