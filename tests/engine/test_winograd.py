"""Winograd F(2x2, 3x3) convolutions (ops/winograd.py): values and gradients against loops,
float32 error bounds, where Winograd is chosen, finite differences, thread independence."""

from __future__ import annotations

import numpy as np
import pytest

from numkeras import backend
from numkeras.engine.kernels import conv as conv_kernel
from numkeras.engine.ops import conv as ops_conv
from numkeras.engine.ops import winograd
from numkeras.layers import Conv1D, Conv2D
from tests.engine.gradcheck import build_and_call, check_layer_gradients, run_kernel
from tests.engine.test_conv import naive_conv2d, rand


@pytest.fixture(autouse=True)
def _fresh_names():
    backend.clear_session()


def _uses_winograd(layer, channels, dtype=np.float32):
    return winograd.applies(layer.rank, layer.kernel_size, layer.strides, layer.dilation_rate,
                            channels, layer.filters, dtype)


def _pass(layer, x, upstream):
    (y,), backward = run_kernel(layer, [x], True)
    y = y.copy()
    dx, grads = backward(upstream)
    return y, dx.copy(), [g.copy() for g in grads]


def _reference(x, kernel, bias, padding, dz):
    """float64 loops: the pre-activation output, and the kernel and input gradients of ``dz``
    (channels last)."""
    z = naive_conv2d(x, kernel, padding=padding) + bias
    pad = 1 if padding == "same" else 0
    xp = np.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    d_kernel = np.zeros_like(kernel)
    dxp = np.zeros_like(xp)
    oh, ow = dz.shape[1:3]
    for i in range(3):
        for j in range(3):
            d_kernel[i, j] = np.einsum("nhwc,nhwf->cf", xp[:, i:i + oh, j:j + ow], dz)
            dxp[:, i:i + oh, j:j + ow] += np.einsum("nhwf,cf->nhwc", dz, kernel[i, j])
    return z, d_kernel, dxp[:, pad:pad + x.shape[1], pad:pad + x.shape[2]]


CASES = [  # (batch, height, width, channels, filters, padding)
    (3, 13, 13, 32, 64, "valid"),  # the benchmark CNN's second convolution, odd output
    (2, 8, 10, 16, 16, "same"),  # even output
    (2, 7, 4, 17, 19, "same"),  # odd sides, channel counts off the vector width
    (4, 3, 3, 16, 18, "valid"),  # one output pixel
    (2, 1, 2, 16, 16, "same"),  # smaller than a tile
    (2, 2, 9, 20, 16, "valid"),  # too small for a valid output row...
]


@pytest.mark.parametrize("batch, height, width, channels, filters, padding", CASES[:-1])
@pytest.mark.parametrize("block_bytes", [1, 1 << 20])  # a block per sample; few blocks
def test_values_and_gradients_match_loops_in_float64(batch, height, width, channels, filters,
                                                     padding, block_bytes, monkeypatch):
    monkeypatch.setattr(ops_conv, "BLOCK_BYTES", block_bytes)
    layer = Conv2D(filters, 3, padding=padding, activation="relu")
    x = rand(batch, height, width, channels, seed=1)
    assert _uses_winograd(layer, channels)
    build_and_call(layer, x)
    kernel, bias = rand(3, 3, channels, filters, seed=2), rand(filters, seed=3)
    layer.kernel.value, layer.bias.value = kernel, bias
    out_h, out_w = (height, width) if padding == "same" else (height - 2, width - 2)
    upstream = rand(batch, out_h, out_w, filters, seed=4)
    y, dx, (d_kernel, d_bias) = _pass(layer, x, upstream)
    dz = upstream * (naive_conv2d(x, kernel, padding=padding) + bias > 0)
    z, expected_dk, expected_dx = _reference(x, kernel, bias, padding, dz)
    np.testing.assert_allclose(y, np.maximum(z, 0), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(d_bias, dz.sum(axis=(0, 1, 2)), rtol=1e-12)
    np.testing.assert_allclose(d_kernel, expected_dk, rtol=1e-11, atol=1e-12)
    np.testing.assert_allclose(dx, expected_dx, rtol=1e-11, atol=1e-12)


def test_an_input_too_small_for_a_valid_output_gives_an_empty_output():
    layer = Conv2D(16, 3)
    x = rand(2, 2, 9, 20, seed=1)
    build_and_call(layer, np.zeros((2, 3, 9, 20)))
    (y,), backward = run_kernel(layer, [x], True)
    assert y.shape == (2, 0, 7, 16)
    dx, (d_kernel, d_bias) = backward(np.zeros(y.shape))
    assert not dx.any() and not d_kernel.any() and not d_bias.any()


def test_float32_errors_stay_within_a_float32_sum_of_the_terms():
    """Winograd sums its terms in another order than im2col: each float32 result must be within
    a few ulps of the sum of its terms' magnitudes of the float64 value."""
    batch, size, channels, filters = 4, 12, 32, 48
    layer = Conv2D(filters, 3, padding="same", use_bias=False)
    x = rand(batch, size, size, channels, seed=5)
    build_and_call(layer, x.astype(np.float32))
    kernel = rand(3, 3, channels, filters, seed=6)
    upstream = rand(batch, size, size, filters, seed=7)
    z, dk, dx = _reference(x, kernel, 0.0, "same", upstream)
    z_abs, dk_abs, dx_abs = _reference(np.abs(x), np.abs(kernel), 0.0, "same",
                                       np.abs(upstream))
    layer.kernel.value = kernel.astype(np.float32)
    y32, dx32, (dk32,) = _pass(layer, x.astype(np.float32), upstream.astype(np.float32))
    eps = np.finfo(np.float32).eps
    for got, want, scale in ((y32, z, z_abs), (dx32, dx, dx_abs), (dk32, dk, dk_abs)):
        assert got.dtype == np.float32
        assert np.all(np.abs(got - want) <= 16 * eps * scale)


@pytest.mark.parametrize("padding", ["valid", "same"])
def test_gradients_match_finite_differences(padding):
    layer = Conv2D(16, 3, padding=padding, activation="tanh")
    x = rand(2, 5, 4, 16, seed=8)
    assert _uses_winograd(layer, 16)
    check_layer_gradients(layer, x)


def test_channels_first_and_no_bias_match_im2col(monkeypatch):
    layer = Conv2D(16, 3, padding="same", use_bias=False, data_format="channels_first",
                   activation="swish")
    x = rand(3, 16, 6, 7, seed=9)
    build_and_call(layer, x)
    upstream = rand(3, 16, 6, 7, seed=10)
    results = []
    for min_channels in (winograd.MIN_CHANNELS, 10**9):  # Winograd, then im2col
        monkeypatch.setattr(winograd, "MIN_CHANNELS", min_channels)
        results.append(_pass(layer, x, upstream))
    (y0, dx0, (dk0,)), (y1, dx1, (dk1,)) = results
    np.testing.assert_allclose(y0, y1, rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(dx0, dx1, rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(dk0, dk1, rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("layer, channels, expected", [
    (Conv2D(16, 3), 16, True),
    (Conv2D(64, 3, padding="same"), 32, True),
    (Conv2D(16, (3, 3)), 15, False),  # too few input channels
    (Conv2D(15, 3), 16, False),  # too few filters
    (Conv2D(16, 3, strides=2), 16, False),
    (Conv2D(16, 3, dilation_rate=2), 16, False),
    (Conv2D(16, (3, 2)), 16, False),
    (Conv2D(16, 5), 16, False),
    (Conv1D(16, 3), 16, False),
])
def test_winograd_runs_where_it_pays_only(layer, channels, expected):
    assert _uses_winograd(layer, channels) is expected


def test_tiling_covers_the_output_with_2x2_tiles():
    tiling = winograd.tiling_of(ops_conv.geometry((13, 13), (3, 3), (1, 1), (1, 1), "valid"),
                                13, 13)
    assert (tiling.tiles_h, tiling.tiles_w, tiling.tiles) == (6, 6, 36)
    assert (tiling.padded_h, tiling.padded_w) == (14, 14)
    same = winograd.tiling_of(ops_conv.geometry((8, 5), (3, 3), (1, 1), (1, 1), "same"), 8, 5)
    assert (same.pad_top, same.pad_left, same.tiles_h, same.tiles_w) == (1, 1, 4, 3)
    assert (same.padded_h, same.padded_w) == (10, 8)


def test_kernel_transform_and_its_gradient_are_adjoint():
    kernel, d_u = rand(3, 3, 4, 5, seed=11), rand(16, 4, 5, seed=12)
    u = winograd.kernel_transform(kernel)
    assert u.shape == (16, 4, 5) and u.dtype == kernel.dtype
    np.testing.assert_allclose(np.vdot(u, d_u), np.vdot(kernel, winograd.kernel_gradient(d_u)),
                               rtol=1e-12)
    assert winograd.kernel_transform(kernel.astype(np.float32)).dtype == np.float32


def test_the_same_bits_whichever_thread_runs_a_block(monkeypatch):
    monkeypatch.setattr(ops_conv, "BLOCK_BYTES", 1)
    layer = Conv2D(16, 3, activation="relu")
    x = rand(5, 9, 8, 16, seed=13).astype(np.float32)
    y0 = build_and_call(layer, x)
    upstream = rand(*y0.shape, seed=14).astype(np.float32)
    first = _pass(layer, x, upstream)

    def backwards(fn, count):
        for i in reversed(range(count)):
            fn(i)

    monkeypatch.setattr(conv_kernel, "run_chunks", backwards)
    second = _pass(layer, x, upstream)
    for a, b in zip([first[0], first[1], *first[2]], [second[0], second[1], *second[2]],
                    strict=True):
        assert a.tobytes() == b.tobytes()


def test_without_cblas_im2col_runs(monkeypatch):
    """numpy on another BLAS (no cblas gemm to call from numba), or a dtype it has no gemm for:
    the layer runs im2col instead, to rounding the same numbers."""
    assert not _uses_winograd(Conv2D(16, 3), 16, np.float16)
    layer = Conv2D(16, 3, padding="same", activation="relu")
    x = rand(3, 7, 6, 16, seed=15).astype(np.float32)
    y0 = build_and_call(layer, x)
    upstream = rand(*y0.shape, seed=16).astype(np.float32)
    fast = _pass(layer, x, upstream)
    monkeypatch.setattr(winograd, "address_for", lambda dtype: 0)

    def unused(*args):
        raise AssertionError("the cblas path ran")

    monkeypatch.setattr(winograd, "_forward_block", unused)
    monkeypatch.setattr(winograd, "_backward_block", unused)
    slow = _pass(layer, x, upstream)
    for a, b in zip([fast[0], fast[1], *fast[2]], [slow[0], slow[1], *slow[2]], strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)
