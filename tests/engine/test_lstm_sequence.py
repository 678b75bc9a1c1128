"""The whole-sequence LSTM kernels (``kernels.lstm_sequence``) and the cblas product they call:
values against test_recurrent's NumPy step loop and gradients against finite differences, on
batches cut into several row ranges, with masks, through both products (OpenBLAS and the numba
loops); the float32 tanh; results that depend neither on the thread count nor on where the
batch is cut."""

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from numkeras import backend
from numkeras.engine.kernels import lstm_sequence
from numkeras.engine.kernels.recurrent import forward as recurrent_forward
from numkeras.engine.ops import cblas, gemm_tasks, parallel
from numkeras.layers import LSTM
from tests.engine.gradcheck import build_and_call, check_layer_gradients
from tests.engine.test_masking import with_mask
from tests.engine.test_recurrent import reference


@pytest.fixture(autouse=True)
def _fresh_names():
    backend.clear_session()


@pytest.fixture(params=["cblas", "loops"])
def product(request, monkeypatch):
    """Runs the test with OpenBLAS's gemm, then with the numba loops a numpy without the cblas
    symbol gets (``address_for`` answering 0, as it then does)."""
    if request.param == "loops":
        monkeypatch.setattr(lstm_sequence, "address_for", lambda dtype: 0)
    elif cblas.gemm_for(np.float32) is None:
        pytest.skip("numpy's BLAS has no scipy_cblas_sgemm64_")
    return request.param


def _x(shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def _mask(batch, steps, seed=1):
    """Random holes, one all-masked sample and one unmasked sample."""
    mask = np.random.default_rng(seed).random((batch, steps)) > 0.3
    mask[0] = False
    mask[1] = True
    return mask


# ------------------------------------------------------------------------------- tanh


def test_tanh32_is_within_a_few_ulp_of_tanh():
    # Every 11th float32 from 1e-12 to 10 (3.3e7 values, in blocks), and their negatives.
    start, stop = np.array([1e-12, 10.0], np.float32).view(np.int32)
    worst = 0.0
    for begin in range(start, stop, 11 << 22):
        x = np.arange(begin, min(begin + (11 << 22), stop), 11, dtype=np.int32).view(np.float32)
        y = np.empty_like(x)
        lstm_sequence.tanh32(x, y)
        exact = np.tanh(x.astype(np.float64))
        ulp = np.spacing(exact.astype(np.float32)).astype(np.float64)
        worst = max(worst, np.max(np.abs(y - exact) / ulp))
        negative = np.empty_like(x)
        lstm_sequence.tanh32(-x, negative)
        np.testing.assert_array_equal(negative, -y)
    assert worst <= 8.0


def test_tanh32_special_values_and_saturation():
    x = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 30.0, -1e30, 9.010914, -9.010914,
                  9.010913, 9.0], np.float32)
    y = np.empty_like(x)
    lstm_sequence.tanh32(x, y)
    assert np.isnan(y[0])
    below_one = np.nextafter(np.float32(1), np.float32(0))
    np.testing.assert_array_equal(y[1:], [1, -1, 0, 0, 1, -1, 1, -1, below_one, below_one])
    assert not np.signbit(y[3]) and np.signbit(y[4])
    # Saturated exactly where float32 tanh rounds to +-1, so sigmoid gates reach 0 and 1.
    np.testing.assert_array_equal(y[1:], np.tanh(x[1:].astype(np.float64)).astype(np.float32))


# ----------------------------------------------------------------------------- cblas


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_gemm_acc_adds_the_product_into_row_views(dtype, product):
    gemm = lstm_sequence.address_for(dtype)
    rng = np.random.default_rng(0)
    a = rng.standard_normal((3, 40, 24)).astype(dtype)
    b = rng.standard_normal((24, 72)).astype(dtype)
    c = rng.standard_normal((2, 40, 72)).astype(dtype)
    before = c.copy()
    cblas.gemm_acc(gemm, a[1, 5:29], b, c[1, 5:29], 1.0)  # row-strided views, offset rows
    want = before[1, 5:29] + a[1, 5:29].astype(np.float64) @ b
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(c[1, 5:29], want, rtol=tol, atol=tol * 10)
    c[1, 5:29] = before[1, 5:29]
    np.testing.assert_array_equal(c, before)  # nothing else written
    cblas.gemm_acc(gemm, a[1, :0], b, c[1, :0], 1.0)  # no rows: nothing to do


def test_gemm_acc_takes_arrays_with_strided_rows(product):
    """Arrays whose rows are not contiguous (here a transposed view) go to the loops."""
    gemm = lstm_sequence.address_for(np.float32)
    rng = np.random.default_rng(1)
    a = rng.standard_normal((9, 30)).astype(np.float32)
    b = rng.standard_normal((17, 30)).astype(np.float32).T
    c = np.zeros((17, 9), np.float32).T
    cblas.gemm_acc(gemm, a, b, c, 1.0)
    np.testing.assert_allclose(c, a.astype(np.float64) @ b, rtol=1e-5, atol=1e-5)


def test_numpy_openblas_gemm_is_found():
    """numpy's wheels bundle scipy-openblas: the fast product must not silently fall back."""
    from threadpoolctl import ThreadpoolController

    numpy_dir = os.path.dirname(np.__file__)
    libs = ThreadpoolController().select(internal_api="openblas").lib_controllers
    if not any(lib.filepath.startswith(numpy_dir) and "scipy_openblas64_" in lib.filepath
               for lib in libs):
        pytest.skip("numpy does not bundle scipy-openblas64")
    assert cblas.gemm_for(np.float32) is not None
    assert cblas.gemm_for(np.float64) is not None
    assert cblas.gemm_for(np.float16) is None


# ------------------------------------------------------------------- layer, split batch

# Batches of 40 and 34 are cut into two row ranges, [0, 16) and [16, batch).
OPTIONS = [
    {"return_sequences": True, "return_state": True},
    {"go_backwards": True, "zero_output_for_mask": True, "return_sequences": True},
    {"activation": "sigmoid", "recurrent_activation": "tanh", "return_state": True},
]


def test_batches_are_cut_into_row_ranges():
    assert lstm_sequence.row_edges(40) == [0, 16, 40]
    assert lstm_sequence.row_edges(64) == [0, 32, 64]
    assert lstm_sequence.row_edges(20) == [0, 20]


@pytest.mark.parametrize("options", OPTIONS, ids=lambda o: "-".join(f"{k}" for k in o))
def test_masked_values_match_the_numpy_step_loop(options, product):
    x = _x((40, 6, 3))
    mask = _mask(40, 6)
    rng = np.random.default_rng(2)
    initial = [rng.standard_normal((40, 5)).astype(np.float32) for _ in range(2)]
    layer = LSTM(5, bias_initializer="random_normal", **options)
    build_and_call(layer, x, *initial)
    got = recurrent_forward(layer, [x, *initial], False, mask=mask)[0]
    want = reference(layer, x, mask=mask, initial=initial)
    for g, w in zip(got if isinstance(got, list) else [got],
                    want if isinstance(want, list) else [want], strict=True):
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=2e-6)


@pytest.mark.parametrize("options", OPTIONS, ids=lambda o: "-".join(f"{k}" for k in o))
def test_float64_gradients_through_split_masked_batches(options, product):
    x = _x((34, 4, 3))
    layer = LSTM(4, bias_initializer="random_normal", **options)
    build_and_call(layer, x)
    check_layer_gradients(with_mask(layer, _mask(34, 4)), x)


def test_both_products_agree_on_a_training_step(monkeypatch):
    if cblas.gemm_for(np.float32) is None:
        pytest.skip("numpy's BLAS has no scipy_cblas_sgemm64_")
    x = _x((48, 7, 5))
    layer = LSTM(16, return_sequences=True)
    build_and_call(layer, x)
    upstream = _x((48, 7, 16), seed=3)

    def step():
        y, backward = recurrent_forward(layer, x, True, mask=_mask(48, 7))
        return [y, *backward(upstream)[1]]

    with_blas = step()
    monkeypatch.setattr(lstm_sequence, "address_for", lambda dtype: 0)
    for a, b in zip(with_blas, step(), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)


# ------------------------------------------------------------ same bits, however it runs


def _kernels(dtype, ranges, gemm, batch=48, units=32, steps=9):
    """Forward and backward of the kernels over the row ranges, one after another."""
    rng = np.random.default_rng(4)
    xw = rng.standard_normal((steps, batch, 4 * units)).astype(dtype)
    bias = rng.standard_normal(4 * units).astype(dtype)
    u = (0.3 * rng.standard_normal((units, 4 * units))).astype(dtype)
    m = _mask(batch, steps).T.copy()
    hs, os_, cs = (np.zeros((steps + 1, batch, units), dtype) for _ in range(3))
    hs[0] = rng.standard_normal((batch, units))
    cs[0] = rng.standard_normal((batch, units))
    saved = np.zeros((steps, batch, 4 * units), dtype)
    tcs = np.zeros((steps, batch, units), dtype)
    for b0, b1 in ranges:
        lstm_sequence.lstm_forward(gemm, b0, b1, xw, bias, u, hs, -1, hs, os_, cs, saved, tcs,
                                   m, False, True, False, dtype == np.float64)
    d_seq = rng.standard_normal((steps, batch, units)).astype(dtype)
    do, dh, dc = (rng.standard_normal((batch, units)).astype(dtype) for _ in range(3))
    da = np.zeros_like(saved)
    ut = np.ascontiguousarray(u.T)
    for b0, b1 in ranges:
        lstm_sequence.lstm_backward(gemm, b0, b1, m, saved, tcs, cs, d_seq, True, do, dh, dc,
                                    da, ut, False, True, False)
    return [xw, hs, os_, cs, saved, tcs, do, dh, dc, da]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_row_ranges_give_the_bits_of_the_whole_batch(dtype, product):
    """Each row's arithmetic is the same wherever the batch is cut."""
    gemm = lstm_sequence.address_for(dtype)
    edges = lstm_sequence.row_edges(48)
    whole = _kernels(dtype, [(0, 48)], gemm)
    for ranges in ([(0, 16), (16, 48)], [(0, 7), (7, 30), (30, 48)],
                   list(zip(edges[:-1], edges[1:], strict=True))):
        for a, b in zip(whole, _kernels(dtype, ranges, gemm), strict=True):
            np.testing.assert_array_equal(a, b)


def _serial(fn, count):
    for i in range(count):
        fn(i)


def test_helper_threads_give_the_bits_of_one_thread(monkeypatch):
    x = _x((64, 12, 8))
    layer = LSTM(32, return_sequences=True, return_state=True)
    build_and_call(layer, x)
    upstream = [_x((64, 12, 32), seed=5), _x((64, 32), seed=6), _x((64, 32), seed=7)]

    def step():
        outputs, backward = recurrent_forward(layer, x, True, mask=_mask(64, 12))
        d_in, d_w = backward(upstream)
        return [*outputs, d_in, *d_w]

    tasks = []
    real_tasks = lstm_sequence._as_tasks
    monkeypatch.setattr(lstm_sequence, "_as_tasks", lambda *a: tasks.append(real_tasks(*a))
                        or tasks[-1])
    threaded = [step() for _ in range(3)]
    # float32 row ranges run as call tasks (the caller and the helpers, GIL-free) ...
    assert tasks and all(tasks) == gemm_tasks.available()
    monkeypatch.setattr(lstm_sequence, "run_tasks", lambda fields: gemm_tasks.run_here(
        parallel._template(), fields))
    runs = threaded + [step()]  # ... or all on the caller, in order
    # ... and as Python chunks, on the helpers or one after another.
    monkeypatch.setattr(lstm_sequence, "_as_tasks", lambda *a: False)
    runs.append(step())
    monkeypatch.setattr(lstm_sequence, "run_chunks", _serial)
    serial = step()
    for run in runs:
        for a, b in zip(run, serial, strict=True):
            np.testing.assert_array_equal(a, b)


def test_training_does_not_depend_on_numkeras_num_threads():
    """A few Adam steps of an LSTM model in fresh processes with 1 and 2 threads."""
    script = textwrap.dedent("""
        import hashlib
        import numpy as np
        import numkeras.engine as keras
        rng = np.random.default_rng(0)
        x = rng.standard_normal((96, 10, 6)).astype(np.float32)
        y = rng.standard_normal((96, 1)).astype(np.float32)
        inp = keras.Input((10, 6))
        out = keras.layers.Dense(1)(keras.layers.LSTM(24)(inp))
        model = keras.Model(inp, out)
        model.set_weights([rng.normal(0, 0.3, w.shape).astype(np.float32)
                           for w in model.get_weights()])
        model.compile("adam", "mse")
        model.fit(x, y, batch_size=48, epochs=2, shuffle=False, verbose=0)
        digest = hashlib.sha256()
        for w in model.get_weights():
            digest.update(np.ascontiguousarray(w).tobytes())
        print(digest.hexdigest())
    """)
    digests = []
    for threads in ("1", "2"):
        env = {**os.environ, "NUMKERAS_NUM_THREADS": threads}
        run = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                             text=True, timeout=300, check=True)
        digests.append(run.stdout.split()[-1])
    assert digests[0] == digests[1]


def test_gemm_acc_takes_arrays_with_reversed_rows(product):
    """A negative row stride (a reversed view) is not a cblas leading dimension: the loops."""
    gemm = lstm_sequence.address_for(np.float32)
    rng = np.random.default_rng(2)
    a = rng.standard_normal((12, 20)).astype(np.float32)[::-1]
    b = rng.standard_normal((20, 33)).astype(np.float32)[::-1]
    c = np.zeros((12, 33), np.float32)[::-1]
    cblas.gemm_acc(gemm, a, b, c, 1.0)
    np.testing.assert_allclose(c, a.astype(np.float64) @ b, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("with_bias", [True, False])
def test_stacked_products_match_projection_then_recurrence(dtype, with_bias, product):
    """``h_at >= 0``: one product ``[x_t, h_t, 1] @ [kernel; recurrent; bias]`` per step, the
    kernel writing each new state into the stacked rows; the same states as the input
    projection followed by the recurrent products, to rounding, for every row range."""
    gemm = lstm_sequence.address_for(dtype)
    steps, batch, f, units = 6, 40, 5, 16
    rng = np.random.default_rng(7)
    x = rng.standard_normal((steps, batch, f)).astype(dtype)
    kernel = (0.4 * rng.standard_normal((f, 4 * units))).astype(dtype)
    u = (0.3 * rng.standard_normal((units, 4 * units))).astype(dtype)
    bias = rng.standard_normal(4 * units).astype(dtype) if with_bias else \
        np.empty(0, dtype)
    m = _mask(batch, steps).T.copy()
    h0 = rng.standard_normal((batch, units)).astype(dtype)

    def run(stacked, ranges):
        hs, os_, cs = (np.zeros((steps + 1, batch, units), dtype) for _ in range(3))
        hs[0], cs[0] = h0, 0.5
        saved = np.zeros((steps, batch, 4 * units), dtype)
        tcs = np.zeros((steps, batch, units), dtype)
        if stacked:
            a = np.zeros((steps, batch, f + units + int(with_bias)), dtype)
            a[:, :, :f], a[0, :, f:f + units] = x, h0
            if with_bias:
                a[:, :, -1] = 1
            w = np.concatenate([kernel, u] + ([bias[None]] if with_bias else []))
            xw = np.full((steps, batch, 4 * units), np.nan, dtype)  # overwritten, never read
            args = (xw, np.empty(0, dtype), w, a, f)
        else:
            a = None
            xw = (x.reshape(-1, f) @ kernel).reshape(steps, batch, -1)
            args = (xw, bias, u, hs, -1)
        for b0, b1 in ranges:
            lstm_sequence.lstm_forward(gemm, b0, b1, *args, hs, os_, cs, saved, tcs, m, False,
                                       True, False, dtype == np.float64)
        return a, [hs, os_, cs, saved, tcs]

    _, want = run(False, [(0, batch)])
    tol = 1e-5 if dtype == np.float32 else 1e-12
    whole_a, whole = run(True, [(0, batch)])
    for got, expected in zip(whole, want, strict=True):
        np.testing.assert_allclose(got, expected, rtol=tol, atol=tol)
    np.testing.assert_array_equal(whole_a[:, :, f:f + units], whole[0][:steps])
    np.testing.assert_array_equal(whole_a[:, :, :f], x)
    split_a, split = run(True, [(0, 16), (16, batch)])
    for got, expected in zip([split_a, *split], [whole_a, *whole], strict=True):
        np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("dropout,stacked", [(0.0, True), (0.3, False)])
def test_layer_stacks_x_and_h_without_input_dropout(dropout, stacked, monkeypatch):
    """The layer takes the stacked products unless input dropout changes x per step; either
    way training gives the loop's numbers (the other tests) and the stacked rows are the
    weight gradients' operand."""
    seen = []
    real = lstm_sequence.forward
    monkeypatch.setattr(lstm_sequence, "forward", lambda *a: seen.append(a[4]) or real(*a))
    x = _x((16, 5, 3))
    layer = LSTM(8, dropout=dropout)
    build_and_call(layer, x)
    y, backward = recurrent_forward(layer, x, True)
    _, grads = backward(_x((16, 8), seed=2))
    assert (seen[-1] >= 0) == stacked  # the training call (build_and_call ran one too)
    assert [g.shape for g in grads] == [(3, 32), (8, 32), (32,)]
