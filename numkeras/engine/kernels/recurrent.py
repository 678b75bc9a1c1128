"""SimpleRNN, LSTM and GRU: one GEMM projects every step's input, then per time step one BLAS
product for the recurrent part, NumPy's SIMD tanh for tanh / sigmoid gates (other activations in
numba) and fused numba kernels for the state update and Keras's masking. Backward through time
walks the steps in reverse over the saved gates (numba, no transcendental functions: every
derivative is written in terms of the activation's output) with one BLAS product per step, and
ends with one GEMM per weight (SimpleRNN and LSTM without dropout: one for both kernels).

LSTM with tanh / sigmoid activations and no recurrent dropout in training (the default) runs
the whole time loop, forward and backward, in one numba call per batch-row range instead
(:mod:`lstm_sequence`); the input projection and the weight gradients stay here.

Arrays are time-major inside: ``hs[t]`` is the state before step ``t`` (``hs[0]`` the initial
state), ``os_[t + 1]`` the output of step ``t`` (``os_[0] = 0``). A masked step keeps the states
and repeats the previous output (zeros with ``zero_output_for_mask``), as tf-keras's
``backend.rnn`` does."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numba import njit

from numkeras.activations import SELU_ALPHA, SELU_SCALE
from numkeras.engine.kernels import lstm_sequence, register
from numkeras.engine.kernels.dropout import generator_of
from numkeras.engine.ops import activations as act
from numkeras.engine.ops.blas import matmul
from numkeras.engine.ops.conv import recycled
from numkeras.layers.recurrent import GRU, LSTM, RecurrentBase, SimpleRNN

_SUPPORTED = ("linear", "relu", "relu6", "leaky_relu", "hard_sigmoid", "softsign", "sigmoid",
              "tanh", "softplus", "elu", "selu", "exponential")
_LEAKY_ALPHA = 0.2


def activation_code(layer: Any, fn: Any) -> int:
    """The engine code of a recurrent activation; only those whose derivative is a function of
    their output can be fused into the cell kernels.

    Raises:
        ValueError: naming the layer and the activation otherwise.
    """
    name = act.resolve(fn)
    if name not in _SUPPORTED:
        raise ValueError(
            f"Layer {layer.name!r}: activation {name!r} is not supported in recurrent cells; "
            f"use one of {', '.join(_SUPPORTED)}."
        )
    return getattr(act, name.upper())


@njit(cache=True, inline="always")
def _act(code, v):
    if code == act.TANH:
        return 1.0 - 2.0 / (math.exp(2.0 * v) + 1.0)
    if code == act.SIGMOID:
        return 1.0 / (1.0 + math.exp(-v))
    if code == act.LINEAR:
        return v
    if code == act.RELU:
        return max(v, 0.0)
    if code == act.RELU6:
        return min(max(v, 0.0), 6.0)
    if code == act.LEAKY_RELU:
        return v if v > 0 else _LEAKY_ALPHA * v
    if code == act.HARD_SIGMOID:
        return min(max(0.2 * v + 0.5, 0.0), 1.0)
    if code == act.SOFTSIGN:
        return v / (1.0 + abs(v))
    if code == act.SOFTPLUS:
        return math.log1p(math.exp(-abs(v))) + max(v, 0.0)
    if code == act.ELU:
        return v if v > 0 else math.expm1(v)
    if code == act.SELU:
        return SELU_SCALE * (v if v > 0 else SELU_ALPHA * math.expm1(v))
    return math.exp(v)  # exponential


@njit(cache=True, inline="always")
def _dact(code, y):
    """The derivative of the activation, written in terms of its output ``y``."""
    if code == act.TANH:
        return 1.0 - y * y
    if code == act.SIGMOID:
        return y * (1.0 - y)
    if code == act.LINEAR:
        return 1.0
    if code == act.RELU:
        return 1.0 if y > 0 else 0.0
    if code == act.RELU6:
        return 1.0 if 0.0 < y < 6.0 else 0.0
    if code == act.LEAKY_RELU:
        return 1.0 if y > 0 else _LEAKY_ALPHA
    if code == act.HARD_SIGMOID:
        return 0.2 if 0.0 < y < 1.0 else 0.0
    if code == act.SOFTSIGN:
        return (1.0 - abs(y)) * (1.0 - abs(y))
    if code == act.SOFTPLUS:
        return -math.expm1(-y)
    if code == act.ELU:
        return 1.0 if y > 0 else y + 1.0
    if code == act.SELU:
        return SELU_SCALE if y > 0 else y + SELU_SCALE * SELU_ALPHA
    return y  # exponential


@njit(cache=True, inline="always")
def _carry(b, h0, o0, h1, o1, zero_out):
    for j in range(h0.shape[1]):
        h1[b, j] = h0[b, j]
        o1[b, j] = 0.0 if zero_out else o0[b, j]


@njit(cache=True)
def _activate_loop(code, a):
    for b in range(a.shape[0]):
        for j in range(a.shape[1]):
            a[b, j] = _act(code, a[b, j])


def _activate(code: int, a: np.ndarray) -> None:
    """Applies an activation in place; tanh and sigmoid through NumPy's SIMD tanh, which is
    several times faster than numba's scalar exp (sigmoid(x) = (1 + tanh(x / 2)) / 2)."""
    if code == act.TANH:
        np.tanh(a, out=a)
    elif code == act.SIGMOID:
        a *= 0.5
        np.tanh(a, out=a)
        a *= 0.5
        a += 0.5
    elif code != act.LINEAR:
        _activate_loop(code, a)


# ----------------------------------------------------------------------- SimpleRNN


@njit(cache=True)
def _select(y, m, h0, o0, h1, o1, zero_out):
    """The new state and output: ``y`` where the step is not masked, else carried over."""
    for b in range(h0.shape[0]):
        if not m[b]:
            _carry(b, h0, o0, h1, o1, zero_out)
            continue
        for j in range(h0.shape[1]):
            h1[b, j] = y[b, j]
            o1[b, j] = y[b, j]


@njit(cache=True)
def _rnn_backward(m, y, do, dh, da, code, zero_out):
    for b in range(dh.shape[0]):
        if not m[b]:
            for j in range(dh.shape[1]):
                da[b, j] = 0.0
                if zero_out:
                    do[b, j] = 0.0
            continue
        for j in range(dh.shape[1]):
            da[b, j] = (do[b, j] + dh[b, j]) * _dact(code, y[b, j])
            do[b, j] = 0.0
            dh[b, j] = 0.0


# ----------------------------------------------------------------------------- LSTM


@njit(cache=True)
def _lstm_cell(gates, m, c0, c1):
    n = c0.shape[1]
    for b in range(c0.shape[0]):
        if not m[b]:
            for j in range(n):
                c1[b, j] = c0[b, j]
            continue
        for j in range(n):
            c1[b, j] = gates[b, n + j] * c0[b, j] + gates[b, j] * gates[b, 2 * n + j]


@njit(cache=True)
def _lstm_cell_affine(gates, scale, shift, m, c0, c1):
    """``gates = gates * scale + shift`` (turns tanh(x / 2) into sigmoid(x)), then the cell."""
    for b in range(c0.shape[0]):
        row = gates[b]
        for j in range(row.size):
            row[j] = row[j] * scale[j] + shift[j]
    _lstm_cell(gates, m, c0, c1)


@njit(cache=True)
def _lstm_output(gates, tc, m, h0, o0, h1, o1, zero_out):
    n = h0.shape[1]
    for b in range(h0.shape[0]):
        if not m[b]:
            _carry(b, h0, o0, h1, o1, zero_out)
            continue
        for j in range(n):
            y = gates[b, 3 * n + j] * tc[b, j]
            h1[b, j] = y
            o1[b, j] = y


@njit(cache=True)
def _lstm_backward(m, gates, tc, c0, do, dh, dc, da, ca, cr, zero_out):
    n = dh.shape[1]
    for b in range(dh.shape[0]):
        if not m[b]:
            for j in range(4 * n):
                da[b, j] = 0.0
            if zero_out:
                for j in range(n):
                    do[b, j] = 0.0
            continue
        for j in range(n):
            i = gates[b, j]
            f = gates[b, n + j]
            g = gates[b, 2 * n + j]
            o = gates[b, 3 * n + j]
            t = tc[b, j]
            gy = do[b, j] + dh[b, j]
            dct = dc[b, j] + gy * o * _dact(ca, t)
            da[b, j] = dct * g * _dact(cr, i)
            da[b, n + j] = dct * c0[b, j] * _dact(cr, f)
            da[b, 2 * n + j] = dct * i * _dact(ca, g)
            da[b, 3 * n + j] = gy * t * _dact(cr, o)
            dc[b, j] = dct * f
            dh[b, j] = 0.0
            do[b, j] = 0.0


# ------------------------------------------------------------------------------ GRU


@njit(cache=True)
def _gru_output(gates, m, h0, o0, h1, o1, zero_out):
    """``h = z * h_prev + (1 - z) * hh`` where the step is not masked."""
    n = h0.shape[1]
    for b in range(h0.shape[0]):
        if not m[b]:
            _carry(b, h0, o0, h1, o1, zero_out)
            continue
        for j in range(n):
            z = gates[b, j]
            y = z * h0[b, j] + (1.0 - z) * gates[b, 2 * n + j]
            h1[b, j] = y
            o1[b, j] = y


@njit(cache=True)
def _gru_backward(m, gates, rh, h0, do, dh, dx, dr, ca, cr, zero_out):
    n = dh.shape[1]
    for b in range(dh.shape[0]):
        if not m[b]:
            for j in range(3 * n):
                dx[b, j] = 0.0
                dr[b, j] = 0.0
            if zero_out:
                for j in range(n):
                    do[b, j] = 0.0
            continue
        for j in range(n):
            z = gates[b, j]
            r = gates[b, n + j]
            hh = gates[b, 2 * n + j]
            gy = do[b, j] + dh[b, j]
            dah = gy * (1.0 - z) * _dact(ca, hh)
            daz = gy * (h0[b, j] - hh) * _dact(cr, z)
            dar = dah * rh[b, j] * _dact(cr, r)
            dx[b, j] = daz
            dx[b, n + j] = dar
            dx[b, 2 * n + j] = dah
            dr[b, j] = daz
            dr[b, n + j] = dar
            dr[b, 2 * n + j] = dah * r
            dh[b, j] = gy * z
            do[b, j] = 0.0


@njit(cache=True)
def _gru_backward_before(m, gates, h0, do, dh, dx, ca, cr, zero_out):
    """reset_after=False, first half: the z and h gradients and the direct state gradient."""
    n = dh.shape[1]
    for b in range(dh.shape[0]):
        if not m[b]:
            for j in range(3 * n):
                dx[b, j] = 0.0
            if zero_out:
                for j in range(n):
                    do[b, j] = 0.0
            continue
        for j in range(n):
            z = gates[b, j]
            hh = gates[b, 2 * n + j]
            gy = do[b, j] + dh[b, j]
            dx[b, j] = gy * (h0[b, j] - hh) * _dact(cr, z)
            dx[b, 2 * n + j] = gy * (1.0 - z) * _dact(ca, hh)
            dh[b, j] = gy * z
            do[b, j] = 0.0


@njit(cache=True)
def _gru_backward_reset(m, gates, h0, d_rh_in, rmask_h, dh, dx, cr):
    """reset_after=False, second half: gradient through ``r * h`` into r and the state."""
    n = dh.shape[1]
    for b in range(dh.shape[0]):
        if not m[b]:
            continue
        for j in range(n):
            r = gates[b, n + j]
            d = d_rh_in[b, j] * rmask_h[b, j]
            dx[b, n + j] = d * h0[b, j] * _dact(cr, r)
            dh[b, j] += d * r


# ------------------------------------------------------------------------- driver


def _dropout_masks(layer: RecurrentBase, rate: float, count: int, shape: tuple,
                   dtype: np.dtype) -> list[np.ndarray] | None:
    if rate <= 0.0:
        return None
    rng = generator_of(layer)
    if rate >= 1.0:
        return [np.zeros(shape, dtype=dtype) for _ in range(count)]
    return [np.multiply(rng.random(shape) >= rate, 1.0 / (1.0 - rate), dtype=dtype)
            for _ in range(count)]


def _gate(a: np.ndarray, k: int, n: int) -> np.ndarray:
    return a[..., k * n:(k + 1) * n]


def _matmul_gates(h: np.ndarray, weight: np.ndarray, masks: list | None, n: int,
                  out: np.ndarray) -> None:
    """``out = h @ weight``, or per gate ``(h * masks[k]) @ weight_k`` with dropout masks."""
    if masks is None:
        matmul(h, weight, out=out)
        return
    for k, mk in enumerate(masks):
        out[:, k * n:(k + 1) * n] = matmul(h * mk, _gate(weight, k, n))


def _matmul_gates_t(d: np.ndarray, weight: np.ndarray, masks: list | None, n: int,
                    buffers: tuple | None = None) -> np.ndarray:
    """The transpose of :func:`_matmul_gates`: the gradient with respect to ``h``.

    ``buffers`` (optional, used without masks) is ``(out, weight.T as a C-contiguous array)``.
    """
    if masks is None:
        return matmul(d, weight.T) if buffers is None else matmul(d, buffers[1], out=buffers[0])
    total = None
    for k, mk in enumerate(masks):
        part = matmul(_gate(d, k, n), _gate(weight, k, n).T) * mk
        total = part if total is None else total + part
    return total


def _weight_grad(h: np.ndarray, d: np.ndarray, masks: list | None, n: int) -> np.ndarray:
    """Gradient of ``weight`` in :func:`_matmul_gates`, summed over steps: ``h`` is
    (steps, batch, in), ``d`` (steps, batch, gates * n)."""
    h2 = h.reshape(-1, h.shape[-1])
    d2 = d.reshape(-1, d.shape[-1])
    if masks is None:
        return matmul(h2.T, d2)
    parts = []
    for k, mk in enumerate(masks):
        parts.append(matmul((h * mk).reshape(h2.shape).T, _gate(d2, k, n)))
    return np.concatenate(parts, axis=1)


def _take(layer: Any, name: str, shape: tuple, dtype: np.dtype) -> np.ndarray:
    """A large time-major buffer of ``layer``, an earlier one when nothing holds it any more
    (``conv.recycled``): fresh multi-megabyte arrays each batch cost page faults on every
    first touch (measured: 2075 -> ~3200 training samples/s on the [engine-speed] LSTM with
    one BLAS thread; predict, whose forward no backward follows, 2.4 -> 1.0 ms per batch)."""
    return recycled(layer, name, shape, dtype)


def _split_inputs(layer: RecurrentBase, inputs: Any) -> tuple[np.ndarray, list | None]:
    if isinstance(inputs, (list, tuple)):
        if len(inputs) != 1 + layer.state_count:
            raise ValueError(
                f"Layer {layer.name!r} expects {layer.state_count} initial state(s), got "
                f"{len(inputs) - 1}."
            )
        return np.asarray(inputs[0]), [np.asarray(s) for s in inputs[1:]]
    return np.asarray(inputs), None


@register(SimpleRNN, LSTM, GRU)
def forward(layer: RecurrentBase, inputs: Any, training: bool, mask: Any = None,
            need_input_grad: bool = True) -> tuple[Any, Any]:
    x, given_states = _split_inputs(layer, inputs)
    if x.ndim != 3:
        raise ValueError(f"Layer {layer.name!r} expects inputs (batch, timesteps, features), "
                         f"got shape {x.shape}.")
    dtype = x.dtype if x.dtype in (np.float32, np.float64) else np.dtype(layer.dtype)
    x = x.astype(dtype, copy=False)
    batch, steps, _ = x.shape
    n, gates = layer.units, layer.gates
    kind = "lstm" if isinstance(layer, LSTM) else "gru" if isinstance(layer, GRU) \
        else "rnn"
    reset_after = kind == "gru" and layer.reset_after
    ca = activation_code(layer, layer.activation)
    cr = activation_code(layer, layer.recurrent_activation) if gates > 1 else 0
    zero_out = layer.zero_output_for_mask

    if isinstance(mask, list):
        mask = mask[0]
    xt = (x[:, ::-1] if layer.go_backwards else x).transpose(1, 0, 2)  # time-major
    if mask is None:
        m = np.ones((steps, batch), dtype=np.bool_)
    else:
        m = np.asarray(mask).astype(np.bool_).reshape(batch, steps)
        m = np.ascontiguousarray((m[:, ::-1] if layer.go_backwards else m).T)

    kernel = layer.kernel.value.astype(dtype, copy=False)
    recurrent = layer.recurrent_kernel.value.astype(dtype, copy=False)
    bias = None if layer.bias is None else layer.bias.value.astype(dtype, copy=False)
    b_in = bias if bias is None or bias.ndim == 1 else bias[0]
    b_rec = np.zeros(3 * n, dtype=dtype) if not reset_after or bias is None else bias[1]

    # Dropout masks, constant over time: one per gate with implementation 1, else one shared.
    count = gates if layer.implementation == 1 else 1
    dmasks = _dropout_masks(layer, layer.dropout, count, (batch, x.shape[2]), dtype) \
        if training else None
    rmasks = _dropout_masks(layer, layer.recurrent_dropout, gates, (batch, n), dtype) \
        if training else None
    if dmasks is not None and len(dmasks) == 1:
        dmasks = dmasks * gates

    # LSTM with tanh / sigmoid gates (the default) and no recurrent dropout: the whole time loop
    # in numba (lstm_sequence), which also adds the input bias. With recurrent dropout, in the
    # step loop: one SIMD tanh over all four gates per step, since sigmoid(x) = tanh(x / 2) / 2
    # + 1 / 2; the halving is folded into the weights.
    tanh_gates = kind == "lstm" and ca in (act.TANH, act.SIGMOID) and \
        cr in (act.TANH, act.SIGMOID)
    sequence = tanh_gates and rmasks is None
    xw = _take(layer, "xw", (steps, batch, gates * n), dtype)
    f = x.shape[2]
    # Without dropout the sequence kernels take x, h and 1 together: rows [x_t, h_t, 1] of xh
    # times [kernel; recurrent kernel; bias] make each step's pre-activations in one product
    # (no input projection beforehand, no bias pass), and xh is what the weight gradients'
    # product needs afterwards (no copy then). The per-step product grows from K = units to
    # K = features + units + 1; the benchmark LSTM's train_on_batch, medians of 9 runs of
    # each in alternation: 4.00 -> 3.75 ms.
    stacked = sequence and dmasks is None
    if stacked:
        ones = int(b_in is not None)
        xh = _take(layer, "xh", (steps * batch, f + n + ones), dtype)
        xh3 = xh.reshape(steps, batch, -1)
        xh3[:, :, :f] = xt
        if ones:
            xh3[:, :, f + n] = 1
        flat_x = xh[:, :f]
    else:
        xh = None
        # Input projection for every step at once.
        xt = np.ascontiguousarray(xt)
        flat_x = xt.reshape(steps * batch, -1)
        _matmul_gates(flat_x, kernel,
                      None if dmasks is None else [np.tile(d, (steps, 1)) for d in dmasks], n,
                      xw.reshape(steps * batch, -1))
        if b_in is not None and not sequence:
            xw += b_in

    if tanh_gates and not sequence:
        sig = np.array([cr == act.SIGMOID, cr == act.SIGMOID, ca == act.SIGMOID,
                        cr == act.SIGMOID]).repeat(n)
        xw *= np.where(sig, 0.5, 1.0).astype(dtype)
        recurrent_scaled = recurrent * np.where(sig, 0.5, 1.0).astype(dtype)
        post_scale = np.where(sig, 0.5, 1.0).astype(dtype)
        post_shift = np.where(sig, 0.5, 0.0).astype(dtype)

    # States: given, carried over (stateful) or zeros.
    if given_states is not None:
        init = [np.asarray(s, dtype=dtype).reshape(batch, n) for s in given_states]
    elif layer.stateful and layer.states is not None:
        if layer.states[0].shape[0] != batch:
            raise ValueError(
                f"Stateful layer {layer.name!r} was built for batch size "
                f"{layer.states[0].shape[0]}, got a batch of {batch}."
            )
        init = [s.astype(dtype) for s in layer.states]
    else:
        init = [np.zeros((batch, n), dtype=dtype) for _ in range(layer.state_count)]

    hs = _take(layer, "hs", (steps + 1, batch, n), dtype)
    os_ = _take(layer, "os", (steps + 1, batch, n), dtype)
    hs[0] = init[0]
    os_[0] = 0.0
    rec = np.empty((batch, gates * n), dtype=dtype)
    if kind == "gru" and not reset_after:
        rec = np.empty((batch, 2 * n), dtype=dtype)
        rec_h = np.empty((batch, n), dtype=dtype)
        u_zr = np.ascontiguousarray(recurrent[:, :2 * n])
        u_h = np.ascontiguousarray(recurrent[:, 2 * n:])
    saved = _take(layer, "saved", (steps, batch, gates * n), dtype)  # the activated gates
    ones_h = np.ones((batch, n), dtype=dtype)
    if kind == "lstm":
        cs = _take(layer, "cs", (steps + 1, batch, n), dtype)
        cs[0] = init[1]
        tcs = _take(layer, "tcs", (steps, batch, n), dtype)
    if kind == "gru":
        rhs = _take(layer, "rhs", (steps, batch, n), dtype)
    if stacked:
        xh3[0, :, f:f + n] = hs[0]
        w = np.concatenate([kernel, recurrent] + ([b_in[None]] if ones else []))
        lstm_sequence.forward(xw, None, w, xh3, f, hs, os_, cs, saved, tcs, m,
                              ca == act.SIGMOID, cr == act.SIGMOID, zero_out)
    elif sequence:
        lstm_sequence.forward(xw, b_in, recurrent, None, -1, hs, os_, cs, saved, tcs, m,
                              ca == act.SIGMOID, cr == act.SIGMOID, zero_out)
    else:
        for t in range(steps):
            g = saved[t]
            if kind == "rnn":
                _matmul_gates(hs[t], recurrent, rmasks, n, g)
                g += xw[t]
                _activate(ca, g)
                _select(g, m[t], hs[t], os_[t], hs[t + 1], os_[t + 1], zero_out)
            elif tanh_gates:
                _matmul_gates(hs[t], recurrent_scaled, rmasks, n, g)
                g += xw[t]
                np.tanh(g, out=g)
                _lstm_cell_affine(g, post_scale, post_shift, m[t], cs[t], cs[t + 1])
                if ca == act.TANH:
                    np.tanh(cs[t + 1], out=tcs[t])
                else:
                    np.copyto(tcs[t], cs[t + 1])
                    _activate(ca, tcs[t])
                _lstm_output(g, tcs[t], m[t], hs[t], os_[t], hs[t + 1], os_[t + 1], zero_out)
            elif kind == "lstm":
                _matmul_gates(hs[t], recurrent, rmasks, n, g)
                g += xw[t]
                _activate(cr, g[:, :2 * n])
                _activate(ca, g[:, 2 * n:3 * n])
                _activate(cr, g[:, 3 * n:])
                _lstm_cell(g, m[t], cs[t], cs[t + 1])
                np.copyto(tcs[t], cs[t + 1])
                _activate(ca, tcs[t])
                _lstm_output(g, tcs[t], m[t], hs[t], os_[t], hs[t + 1], os_[t + 1], zero_out)
            elif reset_after:
                _matmul_gates(hs[t], recurrent, rmasks, n, rec)
                rec += b_rec
                np.add(xw[t, :, :2 * n], rec[:, :2 * n], out=g[:, :2 * n])
                _activate(cr, g[:, :2 * n])
                rhs[t] = rec[:, 2 * n:]
                np.multiply(g[:, n:2 * n], rhs[t], out=g[:, 2 * n:])
                g[:, 2 * n:] += xw[t, :, 2 * n:]
                _activate(ca, g[:, 2 * n:])
                _gru_output(g, m[t], hs[t], os_[t], hs[t + 1], os_[t + 1], zero_out)
            else:
                _matmul_gates(hs[t], u_zr, None if rmasks is None else rmasks[:2], n, rec)
                np.add(xw[t, :, :2 * n], rec, out=g[:, :2 * n])
                _activate(cr, g[:, :2 * n])
                np.multiply(g[:, n:2 * n], hs[t], out=rhs[t])
                if rmasks is not None:
                    rhs[t] *= rmasks[2]
                matmul(rhs[t], u_h, out=rec_h)
                np.add(xw[t, :, 2 * n:], rec_h, out=g[:, 2 * n:])
                _activate(ca, g[:, 2 * n:])
                _gru_output(g, m[t], hs[t], os_[t], hs[t + 1], os_[t + 1], zero_out)

    finals = [hs[steps]] + ([cs[steps]] if kind == "lstm" else [])
    if layer.stateful:
        layer.states = [f.astype(layer.dtype, copy=True) for f in finals]
    y = os_[1:].transpose(1, 0, 2).copy() if layer.return_sequences \
        else os_[steps].copy()
    outputs = [y] + [f.copy() for f in finals] if layer.return_state else y

    def backward(d_outputs: Any) -> tuple[Any, list]:
        douts = d_outputs if layer.return_state else [d_outputs]
        dy = douts[0]
        do = np.zeros((batch, n), dtype=dtype)
        d_seq = None
        if layer.return_sequences:
            d_seq = np.ascontiguousarray(np.asarray(dy, dtype=dtype).transpose(1, 0, 2))
        else:
            do += dy
        d_states = [np.zeros((batch, n), dtype=dtype) for _ in range(layer.state_count)]
        if layer.return_state:
            for ds, d in zip(d_states, douts[1:], strict=True):
                if d is not None:
                    ds += d
        dh = d_states[0]
        dc = d_states[1] if kind == "lstm" else None
        dx_all = _take(layer, "dx", (steps, batch, gates * n), dtype)
        rec_t = (np.empty((batch, n), dtype=dtype), np.ascontiguousarray(recurrent.T))
        dr_all = _take(layer, "dr", (steps, batch, gates * n), dtype) if reset_after else dx_all
        if sequence:
            lstm_sequence.backward(m, saved, tcs, cs, d_seq, do, dh, dc, dx_all, rec_t[1],
                                   ca == act.SIGMOID, cr == act.SIGMOID, zero_out)
        else:
            for t in range(steps - 1, -1, -1):
                if d_seq is not None:
                    do += d_seq[t]
                if kind == "rnn":
                    _rnn_backward(m[t], saved[t], do, dh, dx_all[t], ca, zero_out)
                    dh += _matmul_gates_t(dx_all[t], recurrent, rmasks, n, rec_t)
                elif kind == "lstm":
                    _lstm_backward(m[t], saved[t], tcs[t], cs[t], do, dh, dc, dx_all[t], ca, cr,
                                   zero_out)
                    dh += _matmul_gates_t(dx_all[t], recurrent, rmasks, n, rec_t)
                elif reset_after:
                    _gru_backward(m[t], saved[t], rhs[t], hs[t], do, dh, dx_all[t], dr_all[t], ca,
                                  cr, zero_out)
                    dh += _matmul_gates_t(dr_all[t], recurrent, rmasks, n)
                else:
                    _gru_backward_before(m[t], saved[t], hs[t], do, dh, dx_all[t], ca, cr,
                                         zero_out)
                    d_rh_in = matmul(dx_all[t, :, 2 * n:], u_h.T)
                    rmask_h = ones_h if rmasks is None else rmasks[2]
                    _gru_backward_reset(m[t], saved[t], hs[t], d_rh_in, rmask_h, dh, dx_all[t], cr)
                    dh += _matmul_gates_t(dx_all[t, :, :2 * n], u_zr,
                                          None if rmasks is None else rmasks[:2], n)

        flat_dx = dx_all.reshape(steps * batch, -1)
        tiled = None if dmasks is None else [np.tile(d, (steps, 1)) for d in dmasks]
        # Without dropout both weights' gradients are one product over [x, h]: one product of
        # 96 rows ran in 0.93 ms against 1.14 ms for the two (32 and 64 rows) of the benchmark
        # LSTM, and the copy into xh takes 0.05 ms. A column of ones makes the product's last
        # row the bias gradient, for one more row of the product instead of a 0.14 ms column
        # sum over the whole (steps * batch, gates * units) gradient.
        joint = kind != "gru" and tiled is None and rmasks is None
        db_joint = None
        if joint:
            ones = int(bias is not None)
            rows = xh  # the stacked forward left [x, h, 1] as it is needed
            if rows is None:
                rows = _take(layer, "xh", (steps * batch, f + n + ones), dtype)
                rows[:, :f] = flat_x
                rows[:, f:f + n] = hs[:steps].reshape(steps * batch, n)
                if ones:
                    rows[:, f + n] = 1
            d_both = matmul(rows.T, flat_dx)
            d_kernel, d_rec = d_both[:f], d_both[f:f + n]
            db_joint = d_both[f + n] if ones else None
        else:
            d_kernel = _weight_grad(flat_x, flat_dx, tiled, n)
        dx = None
        if need_input_grad:
            dxt = _matmul_gates_t(flat_dx, kernel, tiled, n).reshape(steps, batch, -1)
            dx = dxt.transpose(1, 0, 2)
            dx = np.ascontiguousarray(dx[:, ::-1] if layer.go_backwards else dx)
        if kind == "gru" and not reset_after:
            d_rec = np.empty_like(recurrent)
            d_rec[:, :2 * n] = _weight_grad(hs[:steps], dx_all[:, :, :2 * n],
                                            None if rmasks is None else rmasks[:2], n)
            d_rec[:, 2 * n:] = _weight_grad(rhs, dx_all[:, :, 2 * n:], None, n)
        elif not joint:
            d_rec = _weight_grad(hs[:steps], dr_all, rmasks, n)
        grads = [d_kernel, d_rec]
        if bias is not None:
            db = db_joint if db_joint is not None else flat_dx.sum(axis=0)
            if reset_after:
                db = np.stack([db, dr_all.reshape(steps * batch, -1).sum(axis=0)])
            grads.append(db)
        if given_states is None:
            return dx, grads
        return [dx, dh] + ([dc] if kind == "lstm" else []), grads

    return outputs, backward
