"""The whole LSTM time loop in numba, forward and backward, for tanh / sigmoid activations.

``recurrent.forward`` runs its general cells as a Python loop over the time steps: per step one
BLAS product and four or five numba / NumPy calls, on one core. Here one numba call runs every
step for a range of batch rows, with the GIL released: the recurrence is independent across
batch rows, so the batch is cut into ``ROW_BLOCKS`` row ranges that the calling thread and the
spare cores run: float32 as compiled call tasks on ``gemm_tasks``'s board (no GIL, no
wake-up), float64 (the gradient checks) as ``parallel.run_chunks``. The ranges depend
on the batch size only, and every row's arithmetic is the same whichever thread runs its range
(and wherever the batch is cut), so the numbers do not depend on the thread count. Measured on
the benchmark LSTM (64 units, batch 64, 50 steps, float32; 2-core development host, idle): 8.7k
training samples/s with the step loop, 14.8k with these kernels; per step and range of 32 rows,
16 us forward and 14 us backward, 9 us of each the product.

The per-step product goes through ``cblas.gemm_acc`` (OpenBLAS called from numba): ``h @ U``
added to the input projection, or, without input dropout, ``[x, h, 1] @ [W; U; b]`` over rows
that hold the step's input, state and a one (see :func:`lstm_forward`).
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
from numba import carray, njit

from numkeras.engine.ops import gemm_tasks
from numkeras.engine.ops.cblas import address_for, gemm_acc
from numkeras.engine.ops.parallel import run_chunks, run_tasks, split
from numkeras.engine.ops.pointers import array_at, call_task

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
def lstm_forward(gemm, b0, b1, xw, bias, w, a, h_at, hs, os_, cs, saved, tcs, m, ca_sigmoid,
                 cr_sigmoid, zero_out, exact):
    """Every step of rows ``[b0, b1)``; ``xw[t]`` ends as the gates' pre-activations. Two ways
    to get them:

    - ``h_at < 0``: ``xw[t]`` holds the input projection; ``bias`` (if it has elements) and
      ``hs[t] @ w`` (``w`` the recurrent kernel; ``a`` is ``hs``) are added to it;
    - ``h_at >= 0``: one product ``xw[t] = a[t] @ w``, where row ``a[t, b]`` is
      ``[x[t, b], h[t, b], 1]`` with the state at column ``h_at`` (the ones column only with a
      bias) and ``w`` is ``[kernel; recurrent kernel; bias]``; the kernel writes each new state
      into ``a[t + 1]`` too (``a[0]`` must hold the initial one). The backward's weight
      gradients are then one product with ``a`` as it stands.

    ``ca_sigmoid`` / ``cr_sigmoid``: the activation / recurrent activation is sigmoid (else
    tanh); ``exact``: ``math.tanh`` (float64) instead of :func:`_tanh32`."""
    n = hs.shape[2]
    for t in range(xw.shape[0]):
        if h_at < 0:
            if bias.size:  # here rather than over the whole xw first: in parallel, in cache
                for b in range(b0, b1):
                    row = xw[t, b]
                    for j in range(row.size):
                        row[j] += bias[j]
            gemm_acc(gemm, hs[t, b0:b1], w, xw[t, b0:b1], 1.0)
        else:
            gemm_acc(gemm, a[t, b0:b1], w, xw[t, b0:b1], 0.0)
        for b in range(b0, b1):
            h0, h1, c0, c1 = hs[t, b], hs[t + 1, b], cs[t, b], cs[t + 1, b]
            o0, o1 = os_[t, b], os_[t + 1, b]
            if not m[t, b]:  # masked: states carried over, output repeated (or zero)
                for j in range(n):
                    h1[j] = h0[j]
                    c1[j] = c0[j]
                    o1[j] = 0.0 if zero_out else o0[j]
            else:
                z, g = xw[t, b], saved[t, b]
                _activate(cr_sigmoid, exact, z[:2 * n], g[:2 * n])
                _activate(ca_sigmoid, exact, z[2 * n:3 * n], g[2 * n:3 * n])
                _activate(cr_sigmoid, exact, z[3 * n:], g[3 * n:])
                for j in range(n):
                    c1[j] = g[n + j] * c0[j] + g[j] * g[2 * n + j]
                tc = tcs[t, b]
                _activate(ca_sigmoid, exact, c1, tc)
                for j in range(n):
                    y = g[3 * n + j] * tc[j]
                    h1[j] = y
                    o1[j] = y
            if h_at >= 0 and t + 1 < a.shape[0]:
                nxt = a[t + 1, b]
                for j in range(n):
                    nxt[h_at + j] = h1[j]


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
        gemm_acc(gemm, da[t, b0:b1], ut, dh[b0:b1], 1.0)


# ------------------------------------------------------------------ float32 as call tasks
#
# A row range as a Python chunk (``run_chunks``) cost a GIL handoff before the helper started
# (~100 us) and a wake-up of the caller after it ended (~75 us), per layer call: ~350 us of the
# benchmark LSTM's ~4.3 ms step. float32 ranges run as compiled call tasks instead
# (``gemm_tasks.calls``), which the caller and the helpers claim without the GIL. An argument
# row holds the shapes, the arrays' addresses and the flags.

_F32, _BOOL = np.float32, np.bool_
_ROW = 24  # fields of an argument row
SIGMOID_A, SIGMOID_R, ZERO_OUT, HAS_SEQ = 1, 2, 4, 8  # flag bits


@call_task
def _forward_task(row):  # pragma: no cover - compiled
    a = carray(row, _ROW)
    steps, batch, n, b0, b1, gemm, flags = a[0], a[1], a[2], a[3], a[4], a[5], a[6]
    g = 4 * n
    k, a_steps, a_k = a[11], a[13], a[14]
    lstm_forward(gemm, b0, b1, array_at(a[7], steps * batch * g, _F32).reshape((steps, batch, g)),
                 array_at(a[8], a[9], _F32), array_at(a[10], k * g, _F32).reshape((k, g)),
                 array_at(a[12], a_steps * batch * a_k, _F32).reshape((a_steps, batch, a_k)),
                 a[15],
                 array_at(a[16], (steps + 1) * batch * n, _F32).reshape((steps + 1, batch, n)),
                 array_at(a[17], (steps + 1) * batch * n, _F32).reshape((steps + 1, batch, n)),
                 array_at(a[18], (steps + 1) * batch * n, _F32).reshape((steps + 1, batch, n)),
                 array_at(a[19], steps * batch * g, _F32).reshape((steps, batch, g)),
                 array_at(a[20], steps * batch * n, _F32).reshape((steps, batch, n)),
                 array_at(a[21], steps * batch, _BOOL).reshape((steps, batch)),
                 flags & SIGMOID_A != 0, flags & SIGMOID_R != 0, flags & ZERO_OUT != 0, False)


@call_task
def _backward_task(row):  # pragma: no cover - compiled
    a = carray(row, _ROW)
    steps, batch, n, b0, b1, gemm, flags = a[0], a[1], a[2], a[3], a[4], a[5], a[6]
    g = 4 * n
    seq = steps if flags & HAS_SEQ else 0
    lstm_backward(gemm, b0, b1, array_at(a[7], steps * batch, _BOOL).reshape((steps, batch)),
                  array_at(a[8], steps * batch * g, _F32).reshape((steps, batch, g)),
                  array_at(a[9], steps * batch * n, _F32).reshape((steps, batch, n)),
                  array_at(a[10], (steps + 1) * batch * n, _F32).reshape((steps + 1, batch, n)),
                  array_at(a[11], seq * batch * n, _F32).reshape((seq, batch, n)),
                  flags & HAS_SEQ != 0,
                  array_at(a[12], batch * n, _F32).reshape((batch, n)),
                  array_at(a[13], batch * n, _F32).reshape((batch, n)),
                  array_at(a[14], batch * n, _F32).reshape((batch, n)),
                  array_at(a[15], steps * batch * g, _F32).reshape((steps, batch, g)),
                  array_at(a[16], g * n, _F32).reshape((g, n)),
                  flags & SIGMOID_A != 0, flags & SIGMOID_R != 0, flags & ZERO_OUT != 0)


def _as_tasks(function: object, edges: list[int], head: tuple, items: list) -> bool:
    """Runs ``function`` (a task cfunc above) once per row range as call tasks, its argument
    rows ``[steps, batch, units, first row, end row, gemm, flags, *items]`` (an array item as
    its address); whether it could: every array float32 (or the bool mask) and C-contiguous,
    the task board there."""
    arrays = [a for a in items if isinstance(a, np.ndarray)]
    if not gemm_tasks.available() or not all(
            a.flags.c_contiguous and a.dtype in (_F32, _BOOL) for a in arrays):
        return False
    arguments = np.zeros((len(edges) - 1, _ROW), dtype=np.int64)
    fixed = [*head[:3], 0, 0, *head[3:],
             *(a.ctypes.data if isinstance(a, np.ndarray) else a for a in items)]
    arguments[:, :len(fixed)] = fixed
    arguments[:, 3], arguments[:, 4] = edges[:-1], edges[1:]
    run_tasks(gemm_tasks.calls(function.address, arguments))
    return True


def row_edges(batch: int) -> list[int]:
    """Edges of the row ranges a batch is cut into."""
    return split(batch, ROW_BLOCKS, ROW_ALIGN)


def forward(xw: np.ndarray, bias: np.ndarray | None, w: np.ndarray, a: np.ndarray | None,
            h_at: int, hs: np.ndarray, os_: np.ndarray, cs: np.ndarray, saved: np.ndarray,
            tcs: np.ndarray, m: np.ndarray, ca_sigmoid: bool, cr_sigmoid: bool,
            zero_out: bool) -> None:
    """Runs :func:`lstm_forward` over the whole batch, its row ranges spread over the cores.
    ``h_at < 0`` (``a`` None): ``xw`` is the input projection without the bias, ``w`` the
    recurrent kernel; else ``a``, ``h_at`` and ``w`` as :func:`lstm_forward` says (``bias``
    None). ``hs[0]``, ``cs[0]`` and ``os_[0]`` must hold the initial values."""
    gemm = address_for(xw.dtype)
    exact = xw.dtype != np.float32
    edges = row_edges(xw.shape[1])
    b = np.empty(0, dtype=xw.dtype) if bias is None else np.ascontiguousarray(bias, xw.dtype)
    w = np.ascontiguousarray(w)
    a = hs if a is None else a
    flags = SIGMOID_A * ca_sigmoid | SIGMOID_R * cr_sigmoid | ZERO_OUT * zero_out
    steps, batch, n = hs.shape[0] - 1, hs.shape[1], hs.shape[2]
    if not exact and gemm and _as_tasks(
            _forward_task, edges, (steps, batch, n, gemm, flags),
            [xw, b, b.size, w, w.shape[0], a, a.shape[0], a.shape[2], h_at, hs, os_, cs, saved,
             tcs, m]):
        return
    run_chunks(lambda i: lstm_forward(gemm, edges[i], edges[i + 1], xw, b, w, a, h_at, hs, os_,
                                      cs, saved, tcs, m, ca_sigmoid, cr_sigmoid, zero_out,
                                      exact),
               len(edges) - 1)


def backward(m: np.ndarray, saved: np.ndarray, tcs: np.ndarray, cs: np.ndarray,
             d_seq: np.ndarray | None, do: np.ndarray, dh: np.ndarray, dc: np.ndarray,
             da: np.ndarray, recurrent_t: np.ndarray, ca_sigmoid: bool, cr_sigmoid: bool,
             zero_out: bool) -> None:
    """Runs :func:`lstm_backward` over the whole batch, its row ranges spread over the cores."""
    gemm = address_for(da.dtype)
    seq = np.empty((0, 0, 0), dtype=da.dtype) if d_seq is None else d_seq
    edges = row_edges(da.shape[1])
    flags = SIGMOID_A * ca_sigmoid | SIGMOID_R * cr_sigmoid | ZERO_OUT * zero_out | \
        HAS_SEQ * (d_seq is not None)
    steps, batch, n = saved.shape[0], saved.shape[1], dh.shape[1]
    if da.dtype == np.float32 and gemm and _as_tasks(
            _backward_task, edges, (steps, batch, n, gemm, flags),
            [m, saved, tcs, cs, seq, do, dh, dc, da, recurrent_t]):
        return
    run_chunks(lambda i: lstm_backward(gemm, edges[i], edges[i + 1], m, saved, tcs, cs, seq,
                                       d_seq is not None, do, dh, dc, da, recurrent_t,
                                       ca_sigmoid, cr_sigmoid, zero_out),
               len(edges) - 1)
