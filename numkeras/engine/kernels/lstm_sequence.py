"""The whole LSTM time loop in numba, forward and backward, for tanh / sigmoid activations.

``recurrent.forward`` runs its general cells as a Python loop over the time steps: per step one
BLAS product and four or five numba / NumPy calls, on one core. Here one numba call runs every
step for a range of batch rows, with the GIL released: the recurrence is independent across
batch rows, so the batch is cut into ``ROW_BLOCKS`` row ranges that ``parallel.run_chunks``
hands to the calling thread and the spare cores, one wake-up per layer call. The ranges depend
on the batch size only, and every row's arithmetic is the same whichever thread runs its range
(and wherever the batch is cut), so the numbers do not depend on the thread count. Measured on
the benchmark LSTM (64 units, batch 64, 50 steps, float32; 2-core development host, idle): 8.7k
training samples/s with the step loop, 14.8k with these kernels; per step and range of 32 rows,
16 us forward and 14 us backward, 9 us of each the product.

The per-step product ``h @ U`` goes through ``cblas.gemm_acc`` (OpenBLAS called from numba).
The arrays are ``recurrent.forward``'s time-major buffers, with the same meaning (``hs[t]`` the
state before step ``t``, ``os_[t + 1]`` the output of step ``t``, ``saved[t]`` the activated
gates i, f, c, o, ``cs`` the cell states, ``tcs[t]`` the activated cell state), so its
backward and weight gradients use them unchanged. Masked rows of ``saved`` and ``tcs`` are left
unwritten: the backward never reads them.

tanh of float32 is a rational function (:func:`_tanh32`): numba has no SIMD ``tanh`` (without
Intel's SVML it calls the scalar libm function: 190 us per 64 x 256 gates against 6 us for
NumPy's), while a ratio of two polynomials vectorizes (4.7 us). Sigmoid is
``tanh(x / 2) / 2 + 1 / 2``, as in the step loop. float64 (the gradient checks) uses
``math.tanh``.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from numkeras.engine.ops.cblas import address_for, gemm_acc
from numkeras.engine.ops.parallel import run_chunks, split

ROW_BLOCKS = 2
"""Row ranges a batch is cut into (by its size only, so the numbers never depend on the host).
Measured per step of the benchmark LSTM: two ``(32, 64) @ (64, 256)`` products cost 19 us
against 23 us for one of 64 rows, so two blocks cost nothing on one thread."""

ROW_ALIGN = 16  # block edges on multiples of the register tile, as in ``blas``

# tanh(x) ~ x * P(x^2) / Q(x^2) on [-9, 9]. From 9.010914 on, tanh rounds to 1 in float32;
# between 9 and there, the argument clipped to 9 gives the float32 just below 1, as tanh does.
# The coefficients come from an iteratively reweighted least-squares fit of the relative error
# of P / Q against tanh(x) / x on a dense grid of [0, 9] (degree 4 over degree 4 in x^2; fit
# error 2e-8; P(0) = 0.99999998 is 1 in float32). Evaluated in float32 by Horner's rule: under
# 7 ulp from the exact tanh, 0.25 ulp on average over [0, 10] (NumPy's float32 tanh: 1.4 ulp at
# most).
_TANH_CLIP = 9.0
_TANH_ONE = 9.010914
_P0, _P1, _P2, _P3, _P4 = (1.0, 0.13381022643447943, 0.003495584539518934,
                           2.0609022240706617e-05, 1.3354576942953529e-08)
_Q1, _Q2, _Q3, _Q4 = (0.46714338235902814, 0.025876968626826213, 0.0003285628902637607,
                      7.77652393633404e-07)


@njit(cache=True, inline="always")
def _tanh32(v):
    """float32 tanh without libm, so loops of it vectorize. NaN stays NaN (the comparisons
    below are false for it)."""
    x = np.float32(v)
    x = np.float32(_TANH_CLIP) if x > np.float32(_TANH_CLIP) else x
    x = np.float32(-_TANH_CLIP) if x < np.float32(-_TANH_CLIP) else x
    s = x * x
    p = np.float32(_P4)
    p = p * s + np.float32(_P3)
    p = p * s + np.float32(_P2)
    p = p * s + np.float32(_P1)
    p = p * s + np.float32(_P0)
    q = np.float32(_Q4)
    q = q * s + np.float32(_Q3)
    q = q * s + np.float32(_Q2)
    q = q * s + np.float32(_Q1)
    q = q * s + np.float32(1.0)
    y = x * p / q
    y = np.float32(1.0) if v >= np.float32(_TANH_ONE) else y
    return np.float32(-1.0) if v <= np.float32(-_TANH_ONE) else y


@njit(cache=True, nogil=True, error_model="numpy")
def tanh32(src, dst):
    """``dst[:] = tanh(src)`` by :func:`_tanh32`, for 1-D float32 arrays (for tests)."""
    for j in range(src.size):
        dst[j] = _tanh32(src[j])


@njit(cache=True, nogil=True, error_model="numpy")
def _activate(sigmoid, exact, src, dst):
    """``dst[:] = sigmoid(src)`` or ``tanh(src)`` over 1-D arrays; the choice is made outside
    the loops, so each loop vectorizes. ``error_model="numpy"``: without it numba checks every
    division for a zero divisor, which stops the vectorizer."""
    if exact:
        if sigmoid:
            for j in range(src.size):
                dst[j] = 0.5 * math.tanh(0.5 * src[j]) + 0.5
        else:
            for j in range(src.size):
                dst[j] = math.tanh(src[j])
        return
    half = np.float32(0.5)
    if sigmoid:
        for j in range(src.size):
            dst[j] = half * _tanh32(half * np.float32(src[j])) + half
    else:
        for j in range(src.size):
            dst[j] = _tanh32(src[j])


@njit(cache=True, inline="always")
def _dact(sigmoid, y):
    """The derivative of sigmoid or tanh in terms of its output (``recurrent._dact``'s)."""
    return y * (1.0 - y) if sigmoid else 1.0 - y * y


@njit(cache=True, nogil=True, error_model="numpy")
def lstm_forward(gemm, b0, b1, xw, bias, u, hs, os_, cs, saved, tcs, m, ca_sigmoid, cr_sigmoid,
                 zero_out, exact):
    """Every step of rows ``[b0, b1)``. ``xw[t]`` holds the input projection and is
    overwritten with the gates' pre-activations (the projection plus ``bias``, if it has any
    elements, plus ``h @ u``); ``u`` is the recurrent kernel. ``ca_sigmoid`` / ``cr_sigmoid``:
    the activation / recurrent activation is sigmoid (else tanh); ``exact``: ``math.tanh``
    (float64) instead of :func:`_tanh32`."""
    n = hs.shape[2]
    for t in range(xw.shape[0]):
        if bias.size:  # here rather than over the whole xw first: in parallel, in cache
            for b in range(b0, b1):
                row = xw[t, b]
                for j in range(row.size):
                    row[j] += bias[j]
        gemm_acc(gemm, hs[t, b0:b1], u, xw[t, b0:b1])
        for b in range(b0, b1):
            h0, h1, c0, c1 = hs[t, b], hs[t + 1, b], cs[t, b], cs[t + 1, b]
            o0, o1 = os_[t, b], os_[t + 1, b]
            if not m[t, b]:  # masked: states carried over, output repeated (or zero)
                for j in range(n):
                    h1[j] = h0[j]
                    c1[j] = c0[j]
                    o1[j] = 0.0 if zero_out else o0[j]
                continue
            a, g = xw[t, b], saved[t, b]
            _activate(cr_sigmoid, exact, a[:2 * n], g[:2 * n])
            _activate(ca_sigmoid, exact, a[2 * n:3 * n], g[2 * n:3 * n])
            _activate(cr_sigmoid, exact, a[3 * n:], g[3 * n:])
            for j in range(n):
                c1[j] = g[n + j] * c0[j] + g[j] * g[2 * n + j]
            tc = tcs[t, b]
            _activate(ca_sigmoid, exact, c1, tc)
            for j in range(n):
                y = g[3 * n + j] * tc[j]
                h1[j] = y
                o1[j] = y


@njit(cache=True, nogil=True, error_model="numpy")
def lstm_backward(gemm, b0, b1, m, saved, tcs, cs, d_seq, has_seq, do, dh, dc, da, ut,
                  ca_sigmoid, cr_sigmoid, zero_out):
    """Backward through every step of rows ``[b0, b1)``, last step first: the gates' gradients
    into ``da`` (steps, batch, 4 * units), the state gradients carried in ``do`` (output),
    ``dh`` and ``dc``; ``d_seq[t]`` is added to ``do`` before step ``t`` when ``has_seq``.
    ``ut`` is the recurrent kernel transposed (C-contiguous). The cell arithmetic is
    ``recurrent._lstm_backward``'s."""
    n = dh.shape[1]
    for t in range(saved.shape[0] - 1, -1, -1):
        for b in range(b0, b1):
            gy_o, h, c, d = do[b], dh[b], dc[b], da[t, b]
            if has_seq:
                s = d_seq[t, b]
                for j in range(n):
                    gy_o[j] += s[j]
            if not m[t, b]:
                for j in range(4 * n):
                    d[j] = 0.0
                if zero_out:
                    for j in range(n):
                        gy_o[j] = 0.0
                continue
            g, tc, c0 = saved[t, b], tcs[t, b], cs[t, b]
            for j in range(n):
                i = g[j]
                f = g[n + j]
                cc = g[2 * n + j]
                o = g[3 * n + j]
                tt = tc[j]
                gy = gy_o[j] + h[j]
                dct = c[j] + gy * o * _dact(ca_sigmoid, tt)
                d[j] = dct * cc * _dact(cr_sigmoid, i)
                d[n + j] = dct * c0[j] * _dact(cr_sigmoid, f)
                d[2 * n + j] = dct * i * _dact(ca_sigmoid, cc)
                d[3 * n + j] = gy * tt * _dact(cr_sigmoid, o)
                c[j] = dct * f
                h[j] = 0.0
                gy_o[j] = 0.0
        gemm_acc(gemm, da[t, b0:b1], ut, dh[b0:b1])


def row_edges(batch: int) -> list[int]:
    """Edges of the row ranges a batch is cut into."""
    return split(batch, ROW_BLOCKS, ROW_ALIGN)


def forward(xw: np.ndarray, bias: np.ndarray | None, recurrent: np.ndarray, hs: np.ndarray,
            os_: np.ndarray, cs: np.ndarray, saved: np.ndarray, tcs: np.ndarray, m: np.ndarray,
            ca_sigmoid: bool, cr_sigmoid: bool, zero_out: bool) -> None:
    """Runs :func:`lstm_forward` over the whole batch, its row ranges spread over the cores.
    ``xw`` is the input projection without the bias; ``hs[0]``, ``cs[0]`` and ``os_[0]`` must
    hold the initial values."""
    gemm = address_for(xw.dtype)
    exact = xw.dtype != np.float32
    edges = row_edges(xw.shape[1])
    b = np.empty(0, dtype=xw.dtype) if bias is None else np.ascontiguousarray(bias, xw.dtype)
    u = np.ascontiguousarray(recurrent)
    run_chunks(lambda i: lstm_forward(gemm, edges[i], edges[i + 1], xw, b, u, hs, os_, cs,
                                      saved, tcs, m, ca_sigmoid, cr_sigmoid, zero_out, exact),
               len(edges) - 1)


def backward(m: np.ndarray, saved: np.ndarray, tcs: np.ndarray, cs: np.ndarray,
             d_seq: np.ndarray | None, do: np.ndarray, dh: np.ndarray, dc: np.ndarray,
             da: np.ndarray, recurrent_t: np.ndarray, ca_sigmoid: bool, cr_sigmoid: bool,
             zero_out: bool) -> None:
    """Runs :func:`lstm_backward` over the whole batch, its row ranges spread over the cores."""
    gemm = address_for(da.dtype)
    seq = np.empty((0, 0, 0), dtype=da.dtype) if d_seq is None else d_seq
    edges = row_edges(da.shape[1])
    run_chunks(lambda i: lstm_backward(gemm, edges[i], edges[i + 1], m, saved, tcs, cs, seq,
                                       d_seq is not None, do, dh, dc, da, recurrent_t,
                                       ca_sigmoid, cr_sigmoid, zero_out),
               len(edges) - 1)
