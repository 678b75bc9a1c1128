"""The blocked, multi-threaded paths of the convolution, pooling and fused-activation kernels:
block by block against the whole batch, the same bits however the blocks are scheduled (in order,
backwards, each on its own thread) and whatever thread count, against naive loops when a layer
runs in many blocks, and the recycling of large arrays."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from numkeras import backend
from numkeras.engine.kernels import conv as conv_kernel
from numkeras.engine.kernels import pooling as pool_kernel
from numkeras.engine.ops import activations as act
from numkeras.engine.ops import conv as ops_conv
from numkeras.engine.ops import parallel
from numkeras.layers import AveragePooling2D, Conv1D, Conv2D, MaxPooling2D
from tests.engine.gradcheck import build_and_call, run_kernel
from tests.engine.test_conv import naive_conv2d, rand


@pytest.fixture(autouse=True)
def _fresh_names():
    backend.clear_session()


def _in_order(fn, count):
    for i in range(count):
        fn(i)


def _backwards(fn, count):
    for i in reversed(range(count)):
        fn(i)


def _own_threads(fn, count):
    """Every chunk on a new thread, all at once: other scratch buffers, any interleaving."""
    errors = []

    def run(i):
        try:
            fn(i)
        except BaseException as exc:  # pragma: no cover - re-raised below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]


SCHEDULES = [_in_order, _backwards, _own_threads, parallel.run_chunks]
MODULES = (conv_kernel, pool_kernel, act, ops_conv)


def _schedule(monkeypatch, runner):
    for module in MODULES:
        monkeypatch.setattr(module, "run_chunks", runner)


def _assert_same_bits(a, b):
    assert a.dtype == b.dtype and a.shape == b.shape
    assert a.tobytes() == b.tobytes()


GEOMETRIES = [
    ((9, 11, 3), (3, 3), (1, 1), (1, 1), "valid"),
    ((8, 7, 2), (3, 2), (2, 1), (1, 1), "same"),
    ((10, 9, 4), (2, 3), (1, 2), (2, 1), "same"),
    ((1, 13, 5), (1, 4), (1, 3), (1, 1), "valid"),
]


@pytest.mark.parametrize("spatial_channels, kernel, strides, dilation, padding", GEOMETRIES)
def test_im2col_and_col2im_blocks_match_the_whole_batch(spatial_channels, kernel, strides,
                                                        dilation, padding):
    *spatial, channels = spatial_channels
    x = rand(5, *spatial, channels, seed=1).astype(np.float32)
    geom = ops_conv.geometry(tuple(spatial), kernel, strides, dilation, padding)
    cols = ops_conv.im2col(x, geom)
    rows = geom[8] * geom[9]
    # The reference: window values gathered one by one, zeros outside.
    expected = np.zeros_like(cols)
    kh, kw, sh, sw, dh, dw, pt, pl, oh_n, ow_n = geom
    for n in range(5):
        for oh in range(oh_n):
            for ow in range(ow_n):
                for i in range(kh):
                    for j in range(kw):
                        ih, iw = oh * sh - pt + i * dh, ow * sw - pl + j * dw
                        if 0 <= ih < spatial[0] and 0 <= iw < spatial[1]:
                            col = (i * kw + j) * channels
                            expected[(n * oh_n + oh) * ow_n + ow, col:col + channels] = \
                                x[n, ih, iw]
    _assert_same_bits(cols, expected)
    for n0, n1 in [(0, 2), (2, 5), (4, 5)]:
        part = np.full(((n1 - n0) * rows, cols.shape[1]), np.nan, dtype=np.float32)
        ops_conv.im2col_block(x, geom, n0, n1, part)
        _assert_same_bits(part, cols[n0 * rows:n1 * rows])

    d_cols = rand(*cols.shape, seed=2).astype(np.float32)
    dx = ops_conv.col2im(d_cols, geom, x.shape)
    # The adjoint: <im2col(x), d_cols> == <x, col2im(d_cols)>.
    np.testing.assert_allclose(np.vdot(cols.astype(float), d_cols),
                               np.vdot(x.astype(float), dx), rtol=1e-5)
    blocks = np.full_like(dx, np.nan)  # every sample of a block is overwritten, never added to
    for n0, n1 in [(0, 2), (2, 5)]:
        ops_conv.col2im_block(d_cols[n0 * rows:n1 * rows], geom, n0, n1, blocks)
    _assert_same_bits(blocks, dx)


def test_sample_blocks_depend_on_the_shape_only():
    assert ops_conv.sample_blocks(128, 100) == [0, 128]  # small: one block, no helper
    edges = ops_conv.sample_blocks(128, 121 * 288 * 4)  # the benchmark's second convolution
    assert edges[0] == 0 and edges[-1] == 128 and len(edges) > 2
    assert all(b > a for a, b in zip(edges, edges[1:], strict=False))
    assert ops_conv.sample_blocks(3, ops_conv.BLOCK_BYTES) == [0, 1, 2, 3]
    assert ops_conv.sample_blocks(1, 10 * ops_conv.BLOCK_BYTES) == [0, 1]
    assert ops_conv.sample_blocks(0, 100) == [0, 0]


def _conv_pass(layer, x, upstream, training):
    (y,), backward = run_kernel(layer, [x], training)
    y = y.copy()  # the layer recycles its arrays once nobody holds them
    dx, grads = backward(upstream)
    return y, dx.copy(), [g.copy() for g in grads]


CONV_CASES = [
    (Conv2D, {"filters": 8, "kernel_size": 3, "activation": "relu"}, (12, 10, 9, 1)),
    (Conv2D, {"filters": 3, "kernel_size": (2, 3), "strides": (2, 1), "padding": "same",
              "activation": "swish"}, (9, 7, 8, 5)),
    (Conv2D, {"filters": 4, "kernel_size": 2, "dilation_rate": 2, "use_bias": False,
              "data_format": "channels_first"}, (7, 3, 6, 6)),
    (Conv1D, {"filters": 6, "kernel_size": 3, "padding": "causal", "activation": "tanh"},
     (10, 12, 4)),
]


@pytest.mark.parametrize("cls, kwargs, shape", CONV_CASES,
                         ids=[f"{c.__name__}-{i}" for i, (c, _, _) in enumerate(CONV_CASES)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_conv_blocks_give_the_same_bits_however_they_are_scheduled(cls, kwargs, shape, dtype,
                                                                   monkeypatch):
    monkeypatch.setattr(ops_conv, "BLOCK_BYTES", 256)  # a block per sample or two
    monkeypatch.setattr(ops_conv, "PARALLEL_MIN_BYTES", 0)
    layer = cls(**kwargs)
    x = rand(*shape, seed=3).astype(dtype)
    y0 = build_and_call(layer, x)
    upstream = rand(*y0.shape, seed=4).astype(dtype)
    results = []
    for runner in SCHEDULES:
        _schedule(monkeypatch, runner)
        for training in (True, False):  # kept columns or recomputed ones
            results.append(_conv_pass(layer, x, upstream, training))
    first = results[0]
    for other in results[1:]:
        for a, b in zip([first[0], first[1], *first[2]], [other[0], other[1], *other[2]],
                        strict=True):
            _assert_same_bits(a, b)


@pytest.mark.parametrize("filters, kernel_size, channels", [(8, 3, 1), (3, 2, 5)])
def test_conv_in_many_blocks_matches_naive_loops(filters, kernel_size, channels, monkeypatch):
    """float64 values and gradients of a layer cut into blocks of one sample, against loops."""
    monkeypatch.setattr(ops_conv, "BLOCK_BYTES", 1)
    layer = Conv2D(filters, kernel_size, activation="relu")
    x = rand(6, 7, 8, channels, seed=5)
    build_and_call(layer, x)
    kernel, bias = rand(*layer.kernel.shape, seed=6), rand(filters, seed=7)
    layer.kernel.value, layer.bias.value = kernel, bias  # float64 weights
    upstream = rand(6, 8 - kernel_size, 9 - kernel_size, filters, seed=8)
    for training in (True, False):
        y, dx, (d_kernel, d_bias) = _conv_pass(layer, x, upstream, training)
        z = naive_conv2d(x, kernel) + bias
        np.testing.assert_allclose(y, np.maximum(z, 0), rtol=1e-12, atol=1e-12)
        dz = upstream * (z > 0)
        np.testing.assert_allclose(d_bias, dz.sum(axis=(0, 1, 2)), rtol=1e-12)
        expected_dk = np.zeros_like(kernel)
        expected_dx = np.zeros_like(x)
        for i in range(kernel_size):
            for j in range(kernel_size):
                window = x[:, i:i + dz.shape[1], j:j + dz.shape[2], :]
                expected_dk[i, j] = np.einsum("nhwc,nhwf->cf", window, dz)
                expected_dx[:, i:i + dz.shape[1], j:j + dz.shape[2], :] += \
                    np.einsum("nhwf,cf->nhwc", dz, kernel[i, j])
        np.testing.assert_allclose(d_kernel, expected_dk, rtol=1e-11, atol=1e-12)
        np.testing.assert_allclose(dx, expected_dx, rtol=1e-11, atol=1e-12)


@pytest.mark.parametrize("cls, kwargs", [
    (MaxPooling2D, {}),
    (MaxPooling2D, {"pool_size": 3, "strides": 2, "padding": "same"}),
    (AveragePooling2D, {"pool_size": (2, 3), "strides": 1}),
])
def test_pooling_per_sample_blocks_match_the_whole_batch(cls, kwargs, monkeypatch):
    """Pooling is per sample: a batch in many blocks, however scheduled, gives the bits of the
    batch in one block and of each sample alone."""
    x = rand(6, 9, 8, 3, seed=9).astype(np.float32)
    x[0, :2, :2, 0] = 1.0  # a tie: the first maximum wins
    layer = cls(**kwargs)
    y0 = build_and_call(layer, x)
    upstream = rand(*y0.shape, seed=10).astype(np.float32)
    whole = _pool_pass(layer, x, upstream)
    monkeypatch.setattr(ops_conv, "BLOCK_BYTES", 1)
    monkeypatch.setattr(ops_conv, "PARALLEL_MIN_BYTES", 0)
    for runner in SCHEDULES:
        _schedule(monkeypatch, runner)
        for a, b in zip(_pool_pass(layer, x, upstream), whole, strict=True):
            _assert_same_bits(a, b)
    for n in range(len(x)):
        for a, b in zip(_pool_pass(layer, x[n:n + 1], upstream[n:n + 1]), whole, strict=True):
            _assert_same_bits(a, b[n:n + 1])


def _pool_pass(layer, x, upstream):
    (y,), backward = run_kernel(layer, [x], True)
    y = y.copy()
    return y, backward(upstream)[0].copy()


def test_max_pooling_backward_overwrites_a_recycled_gradient():
    """The input gradient comes from a recycled array: every element must be written, the
    positions that are nobody's maximum with zeros."""
    layer = MaxPooling2D()
    x = rand(4, 33, 33, 16, seed=11).astype(np.float32)  # row and column 32 are in no window
    assert x.nbytes >= ops_conv.RECYCLE_MIN_BYTES
    build_and_call(layer, x)
    ones = np.ones((4, 16, 16, 16), dtype=np.float32)
    expected, previous = None, None
    for _ in range(3):
        (_,), backward = run_kernel(layer, [x], True)
        dx, _ = backward(ones)
        assert np.count_nonzero(dx) == ones.size and dx.sum() == ones.size
        if expected is None:
            expected = dx.copy()
        else:
            assert id(dx) == previous  # the same array again, so the test means something
            _assert_same_bits(dx, expected)
        dx[...] = np.nan  # scribbled on, then dropped: the next backward may get it back
        previous = id(dx)
        del dx


@pytest.mark.parametrize("name", ["relu", "leaky_relu", "hard_sigmoid", "softsign", "sigmoid",
                                  "linear", "swish"])
def test_fused_bias_activation_row_blocks(name, monkeypatch):
    """Above PARALLEL_MIN the fused pass runs in row blocks: the same bits however scheduled,
    the bias gradient summed in float64, the same values as one block."""
    rng = np.random.default_rng(12)
    z = rng.standard_normal((300, 7)).astype(np.float32)
    bias = rng.standard_normal(7).astype(np.float32)
    dy = rng.standard_normal(z.shape).astype(np.float32)

    def run():
        work = z.copy()
        y = act.fused_bias_act_forward(work, bias, name)
        dz, dbias = act.fused_bias_act_backward(work, dy, name)
        return y.copy(), dz, dbias

    one_block = run()
    monkeypatch.setattr(act, "PARALLEL_MIN", 64)
    results = []
    for runner in SCHEDULES:
        _schedule(monkeypatch, runner)
        results.append(run())
    for other in results[1:]:
        for a, b in zip(results[0], other, strict=True):
            _assert_same_bits(a, b)
    _assert_same_bits(results[0][0], one_block[0])  # elementwise: block-independent
    _assert_same_bits(results[0][1], one_block[1])
    np.testing.assert_allclose(results[0][2], one_block[2], rtol=1e-6)
    np.testing.assert_allclose(results[0][2], results[0][1].astype(np.float64).sum(axis=0),
                               rtol=1e-6)


def test_fused_backward_writes_into_given_arrays():
    rng = np.random.default_rng(13)
    y = np.maximum(rng.standard_normal((5, 4)), 0)
    dy = rng.standard_normal((5, 4))
    dz, dbias = np.empty_like(dy), np.empty(4)
    got = act.fused_bias_act_backward(y, dy, "relu", dz=dz, dbias=dbias)
    assert got[0] is dz and got[1] is dbias
    np.testing.assert_array_equal(dz, dy * (y > 0))
    np.testing.assert_allclose(dbias, (dy * (y > 0)).sum(axis=0))
    with pytest.raises(ValueError, match="dz"):
        act.fused_bias_act_backward(y, dy, "relu", dz=np.empty((4, 5)))
    with pytest.raises(ValueError, match="dbias"):
        act.fused_bias_act_backward(y, dy, "relu", dbias=np.empty(5))
    with pytest.raises(ValueError, match="out"):
        act.fused_bias_act_forward(y.copy(), None, "swish", out=np.empty((5, 4), np.float32))


class _Owner:
    pass


def test_recycled_arrays_come_back_only_when_nothing_holds_them():
    owner = _Owner()
    shape = (ops_conv.RECYCLE_MIN_BYTES // 4,)
    a = ops_conv.recycled(owner, "out", shape, np.float32)
    b = ops_conv.recycled(owner, "out", shape, np.float32)
    assert not np.shares_memory(a, b)  # a is still held
    b_id = id(b)
    del b
    c = ops_conv.recycled(owner, "out", shape, np.float32)
    assert id(c) == b_id  # nothing held b any more (the pool kept it alive: ids are unique)
    view = a[:10]
    del a
    d = ops_conv.recycled(owner, "out", shape, np.float32)
    assert not np.shares_memory(d, view) and not np.shares_memory(d, c)  # a view holds a
    assert len(ops_conv._RECYCLED[owner]["out"]) == ops_conv.RECYCLE_KEEP
    assert not np.shares_memory(ops_conv.recycled(owner, "other", shape, np.float32), d)
    e = ops_conv.recycled(owner, "out", (shape[0] // 2,), np.float32)
    assert e.shape == (shape[0] // 2,) and not np.shares_memory(e, d)
    f = ops_conv.recycled(owner, "out", shape, np.float64)
    assert f.dtype == np.float64 and not np.shares_memory(f, d)
    ops_conv.recycled(owner, "small", (3,), np.float32)
    assert ops_conv._RECYCLED[owner]["small"] == []  # malloc reuses small blocks by itself


def test_layer_outputs_held_by_the_caller_are_never_reused():
    layer = Conv2D(4, 3, activation="relu")
    x = rand(64, 12, 12, 3, seed=14).astype(np.float32)
    build_and_call(layer, x)
    (first,), _ = run_kernel(layer, [x], True)
    kept = first.copy()
    (second,), _ = run_kernel(layer, [x * 2], True)
    assert not np.shares_memory(first, second)
    _assert_same_bits(first, kept)


def test_scratch_is_per_thread_and_reused():
    a = ops_conv.scratch("test.buffer", (4, 5), np.float32)
    b = ops_conv.scratch("test.buffer", (2, 3), np.float32)
    assert np.shares_memory(a, b) and b.shape == (2, 3) and b.flags.c_contiguous
    other = []
    t = threading.Thread(target=lambda: other.append(
        ops_conv.scratch("test.buffer", (4, 5), np.float32)))
    t.start()
    t.join()
    assert not np.shares_memory(other[0], a)


def test_training_steps_give_the_same_weights_however_blocks_are_scheduled(monkeypatch):
    """A small CNN trained for a few steps, its kernels in many blocks: the same weights whether
    every chunk (convolution, pooling, activation and BLAS blocks) runs in order on the caller or
    each on its own thread."""
    import numkeras.engine as keras
    from numkeras.engine.ops import blas

    monkeypatch.setattr(ops_conv, "BLOCK_BYTES", 2048)
    monkeypatch.setattr(ops_conv, "PARALLEL_MIN_BYTES", 0)
    monkeypatch.setattr(act, "PARALLEL_MIN", 256)
    monkeypatch.setattr(blas, "SPLIT_MIN_FLOPS", 0)
    x = rand(32, 12, 12, 1, seed=15).astype(np.float32)
    y = np.eye(3, dtype=np.float32)[np.arange(32) % 3]

    def train(runner):
        for module in (*MODULES, blas):
            monkeypatch.setattr(module, "run_chunks", runner)
        backend.clear_session()
        inputs = keras.Input((12, 12, 1))
        h = keras.layers.Conv2D(4, 3, activation="relu", kernel_initializer="glorot_uniform")(
            inputs)
        h = keras.layers.MaxPooling2D()(h)
        h = keras.layers.Conv2D(6, 3, activation="relu")(h)
        h = keras.layers.Flatten()(h)
        outputs = keras.layers.Dense(3, activation="softmax")(h)
        model = keras.Model(inputs, outputs)
        rng = np.random.default_rng(16)
        model.set_weights([rng.standard_normal(w.shape).astype(np.float32) * 0.3
                           for w in model.get_weights()])
        model.compile(optimizer="adam", loss="categorical_crossentropy")
        model.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0)
        return model.get_weights()

    reference = train(_in_order)
    for runner in (_own_threads, _backwards, parallel.run_chunks):
        for a, b in zip(reference, train(runner), strict=True):
            _assert_same_bits(a, b)
