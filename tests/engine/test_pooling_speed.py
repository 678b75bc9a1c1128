"""The fast paths of max pooling: whole 2x2 windows (4 loads and selects per channel) in the
forward, and the written-not-scattered input gradient when the strides equal the pool size.
Against scalar loops over every window, with ties, NaN, -inf and -0.0 in the data, and the
tiled backward against the general scatter on the same arg-max, bit for bit."""

from __future__ import annotations

import numpy as np
import pytest

from numkeras import backend
from numkeras.engine.kernels import pooling as pool_kernel
from numkeras.engine.ops import conv as ops_conv
from numkeras.layers import MaxPooling1D, MaxPooling2D
from tests.engine.gradcheck import build_and_call, run_kernel


@pytest.fixture(autouse=True)
def _fresh_names():
    backend.clear_session()


def _awkward(shape, dtype, seed):
    """Random values with ties (a first maximum to find), NaN, -inf and zeros in them."""
    x = np.random.default_rng(seed).standard_normal(shape).astype(dtype)
    x[0, :2, :3, 0] = 0.5  # a tie across a whole window
    x[0, 2:4, 2:4, :] = np.nan
    x[-1, :3, :3, -1] = -np.inf
    x.reshape(-1)[::11] = 0.0
    return x


def naive_max_pool(x, pool, strides, padding):
    """Output, arg-max (flat pixel index) and the backward of ``upstream`` by scalar loops: a
    window's elements in row-major order from -inf, a value taking over only when greater (so
    the first maximum wins and NaN never does), the gradient added at the arg-max."""
    n_n, height, width, channels = x.shape
    geom = ops_conv.geometry((height, width), pool, strides, (1, 1), padding)
    (ph, pw), (sh, sw), pt, pl, oh_n, ow_n = pool, strides, geom[6], geom[7], geom[8], geom[9]
    y = np.empty((n_n, oh_n, ow_n, channels), x.dtype)
    arg = np.empty(y.shape, np.int64)
    for n in range(n_n):
        for oh in range(oh_n):
            h0, h1 = max(oh * sh - pt, 0), min(oh * sh - pt + ph, height)
            for ow in range(ow_n):
                w0, w1 = max(ow * sw - pl, 0), min(ow * sw - pl + pw, width)
                for c in range(channels):
                    best, at = -np.inf, h0 * width + w0
                    for ih in range(h0, h1):
                        for iw in range(w0, w1):
                            if x[n, ih, iw, c] > best:
                                best, at = x[n, ih, iw, c], ih * width + iw
                    y[n, oh, ow, c], arg[n, oh, ow, c] = best, at
    return y, arg


def naive_max_pool_backward(arg, upstream, in_shape):
    dx = np.zeros(in_shape, upstream.dtype)
    flat = dx.reshape(in_shape[0], -1, in_shape[3])
    for n, oh, ow, c in np.ndindex(*upstream.shape):
        flat[n, arg[n, oh, ow, c], c] += upstream[n, oh, ow, c]
    return dx


CASES = [
    ((3, 8, 8, 5), {}),  # every window a whole 2x2 one, tiled
    ((3, 11, 11, 16), {}),  # the last row and column in no window
    ((3, 7, 9, 5), {"padding": "same"}),  # clipped 2x2 windows on the edges
    ((3, 7, 9, 5), {"strides": 1, "padding": "same"}),  # overlapping 2x2 windows
    ((3, 9, 8, 3), {"pool_size": 3, "strides": 2, "padding": "same"}),
    ((3, 8, 10, 4), {"pool_size": 3, "padding": "same"}),  # tiled, padded above and left
    ((3, 8, 9, 5), {"pool_size": (2, 3)}),
    ((2, 9, 9, 3), {"pool_size": 2, "strides": 3}),  # gaps between windows
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape, kwargs", CASES)
def test_max_pooling_matches_scalar_loops(shape, kwargs, dtype):
    x = _awkward(shape, dtype, seed=sum(shape))
    layer = MaxPooling2D(**kwargs)
    build_and_call(layer, x)
    (y,), backward = run_kernel(layer, [x], True)
    pool, strides = layer.pool_size, layer.strides
    expected_y, arg = naive_max_pool(x, pool, strides, layer.padding)
    assert y.dtype == dtype
    np.testing.assert_array_equal(y, expected_y)
    upstream = np.random.default_rng(1).standard_normal(y.shape).astype(dtype)
    upstream.reshape(-1)[::5] = -0.0
    dx = backward(upstream)[0]
    expected_dx = naive_max_pool_backward(arg, upstream, x.shape)
    assert dx.dtype == dtype
    assert dx.tobytes() == expected_dx.tobytes()  # -0.0 arrives as 0.0 + -0.0 = 0.0, as added


def test_max_pooling1d_tiled_matches_scalar_loops():
    x = _awkward((4, 1, 13, 6), np.float32, seed=3)[:, 0]
    layer = MaxPooling1D(pool_size=3, padding="same")
    build_and_call(layer, x)
    (y,), backward = run_kernel(layer, [x], True)
    expected_y, arg = naive_max_pool(x[:, None], (1, 3), (1, 3), "same")
    np.testing.assert_array_equal(y, expected_y[:, 0])
    upstream = np.random.default_rng(2).standard_normal(y.shape).astype(np.float32)
    expected_dx = naive_max_pool_backward(arg, upstream[:, None], x[:, None].shape)[:, 0]
    assert backward(upstream)[0].tobytes() == expected_dx.tobytes()


@pytest.mark.parametrize("shape, pool, padding", [
    ((5, 26, 26, 32), (2, 2), "valid"),
    ((5, 11, 11, 64), (2, 2), "valid"),
    ((4, 7, 10, 3), (3, 3), "same"),
    ((4, 1, 13, 6), (1, 4), "same"),
])
def test_tiled_backward_gives_the_bits_of_the_scatter(shape, pool, padding):
    """Both backward kernels on one arg-max: the tiled one writes over a scribbled array what the
    scatter adds into a zeroed one, in some blocks of samples and not others."""
    x = _awkward(shape, np.float32, seed=7)
    geom = ops_conv.geometry(shape[1:3], pool, pool, (1, 1), padding)
    ph, pw, pt, pl = geom[0], geom[1], geom[6], geom[7]
    y = np.empty((shape[0], geom[8], geom[9], shape[3]), np.float32)
    arg = np.empty(y.shape, np.int32)
    pool_kernel._max_block(x, 0, len(x), ph, pw, ph, pw, pt, pl, np.float32(-np.inf), y, arg)
    upstream = np.random.default_rng(8).standard_normal(y.shape).astype(np.float32)
    upstream.reshape(-1)[::3] = -0.0
    scattered = np.full(x.shape, np.nan, np.float32)
    pool_kernel._max_back_block(upstream, arg, 0, len(x), scattered)
    tiled = np.full(x.shape, np.nan, np.float32)
    pool_kernel._max_back_tiled(upstream, arg, 1, 3, ph, pw, pt, pl, np.float32(0), tiled)
    assert np.isnan(tiled[0]).all() and np.isnan(tiled[3:]).all()  # other samples untouched
    pool_kernel._max_back_tiled(upstream, arg, 0, 1, ph, pw, pt, pl, np.float32(0), tiled)
    pool_kernel._max_back_tiled(upstream, arg, 3, len(x), ph, pw, pt, pl, np.float32(0), tiled)
    assert tiled.tobytes() == scattered.tobytes()
