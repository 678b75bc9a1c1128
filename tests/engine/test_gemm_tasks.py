"""Matrix-product blocks run without the GIL (ops/gemm_tasks.py): which blocks qualify, their
numbers against np.matmul, the helpers' board under many posts mixed with run_chunks jobs,
concurrent callers, and the same bits with 1, 2 or 3 threads."""

from __future__ import annotations

import os
import subprocess
import sys
import threading

import numpy as np
import pytest

from numkeras.engine.ops import blas, gemm_tasks, parallel

pytestmark = pytest.mark.skipif(not gemm_tasks.available(),
                                reason="needs numpy's OpenBLAS cblas gemm")


def _rand(*shape, dtype=np.float32, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def _operands(dtype):
    """(a, b) pairs: row-major, transposed, strided rows, single rows and columns."""
    big = _rand(300, 200, dtype=dtype, seed=1)
    return [(_rand(40, 30, dtype=dtype, seed=2), _rand(30, 20, dtype=dtype, seed=3)),
            (_rand(30, 40, dtype=dtype, seed=4).T, _rand(30, 20, dtype=dtype, seed=5)),
            (_rand(40, 30, dtype=dtype, seed=6), _rand(20, 30, dtype=dtype, seed=7).T),
            (big[10:50, 5:35], big[100:130, 50:70]),
            (_rand(1, 30, dtype=dtype, seed=8), _rand(30, 1, dtype=dtype, seed=9)),
            (_rand(30, 1, dtype=dtype, seed=10).T, _rand(1, 30, dtype=dtype, seed=11).T)]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_blocks_give_np_matmul_s_bits(dtype):
    blocks, expected = [], []
    for a, b in _operands(dtype):
        expected.append(np.matmul(a, b))
        blocks.append(gemm_tasks.whole(a, b, np.full(expected[-1].shape, np.nan, dtype=dtype)))
    wide = np.full((40, 50), np.nan, dtype=dtype)  # a column block of a wider output
    a, b = _operands(dtype)[0]
    blocks.append(gemm_tasks.whole(a, b, wide[:, 10:30]))
    expected.append(np.matmul(a, b))
    fields = gemm_tasks.describe(blocks)
    assert fields is not None and len(fields) == len(blocks)
    gemm_tasks.run_here(parallel._template(), fields)
    for block, want in zip(blocks, expected, strict=True):
        out = block[2]
        if min(out.shape) > 1:
            np.testing.assert_array_equal(out, want)
        else:  # numpy takes a vector routine there, cblas gemm its own order: to rounding
            np.testing.assert_allclose(out, want, rtol=1e-5)
    assert np.isnan(wide[:, :10]).all() and np.isnan(wide[:, 30:]).all()  # nothing outside


@pytest.mark.parametrize("block", [
    (np.ones((4, 4), dtype=np.int64), np.ones((4, 4), dtype=np.int64),
     np.empty((4, 4), dtype=np.int64)),  # not a float
    (np.ones((4, 4), dtype=np.float32), np.ones((4, 4)), np.empty((4, 4))),  # mixed dtypes
    (np.ones((2, 4, 4)), np.ones((2, 4, 4)), np.empty((2, 4, 4))),  # batched
    (np.ones((4, 8))[:, ::2], np.ones((4, 4)), np.empty((4, 4))),  # no unit stride
    (np.ones((4, 4)), np.ones((4, 4)), np.empty((4, 4)).T),  # transposed output
    (np.ones((4, 0)), np.ones((0, 4)), np.empty((4, 4))),  # empty inner dimension
])
def test_what_cblas_cannot_do_in_place_is_left_to_numpy(block):
    assert gemm_tasks.describe([gemm_tasks.whole(*block)]) is None


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("transposed", [False, True])
def test_blocks_of_a_product_are_offsets_into_its_arrays(dtype, transposed):
    """Row and column blocks of one product (addresses taken once, the blocks' as offsets):
    each block writes exactly its part of the output, with np.matmul's bits for it."""
    big = _rand(70, 90, dtype=dtype, seed=14)
    a = big[5:65, 3:43].T.copy().T if transposed else big[5:65, 3:43]  # strided rows
    b = _rand(50, 40, dtype=dtype, seed=15).T  # (40, 50), transposed
    out = np.full((60, 50), np.nan, dtype=dtype)
    blocks = [(a, b, out, 0, 16, 0, 50), (a, b, out, 16, 60, 0, 20),
              (a, b, out, 16, 60, 20, 50)]
    gemm_tasks.run_here(parallel._template(), gemm_tasks.describe(blocks))
    for block in blocks:
        block_a, block_b, block_out = gemm_tasks.views(block)
        np.testing.assert_array_equal(block_out, np.matmul(block_a, block_b))
    assert not np.isnan(out).any()


@pytest.mark.parametrize("rows,cols", [((0, 0), (0, 4)), ((2, 5), (0, 4)), ((0, 4), (3, 5)),
                                       ((-1, 2), (0, 4))])
def test_blocks_outside_their_product_are_refused(rows, cols):
    a = np.ones((4, 3), dtype=np.float32)
    b = np.ones((3, 4), dtype=np.float32)
    out = np.empty((4, 4), dtype=np.float32)
    assert gemm_tasks.describe([(a, b, out, *rows, *cols)]) is None
    assert gemm_tasks.describe([(a, b, out, 0, 4, 0, 4)]) is not None


def test_mismatched_shapes_are_refused():
    a = np.ones((4, 3), dtype=np.float32)
    assert gemm_tasks.describe([gemm_tasks.whole(a, np.ones((2, 4), np.float32),
                                                 np.empty((4, 4), np.float32))]) is None
    assert gemm_tasks.describe([(a, np.ones((3, 4), np.float32), np.empty((4, 5), np.float32),
                                 0, 4, 0, 4)]) is None


def test_too_many_blocks_are_left_to_numpy():
    a = np.ones((2, 2), dtype=np.float32)
    blocks = [gemm_tasks.whole(a, a, np.empty((2, 2), dtype=np.float32))] * \
        (gemm_tasks.MAX_TASKS + 1)
    assert gemm_tasks.describe(blocks) is None
    assert gemm_tasks.describe(blocks[:-1]) is not None
    assert gemm_tasks.describe([]) is None


def test_posted_batches_and_run_chunks_jobs_interleave(monkeypatch):
    """Hundreds of task batches on the helpers' board, between run_chunks jobs and short and
    long pauses (helpers spinning or asleep): every block computed once, the same bits."""
    monkeypatch.setattr(blas, "SPLIT_MIN_FLOPS", 0)
    a, b = _rand(96, 64, seed=12), _rand(64, 80, seed=13)
    expected = np.empty((96, 80), dtype=np.float32)
    gemm_tasks.run_here(parallel._template(), gemm_tasks.describe(
        blas._blocks(a, b, expected)))
    hits = np.zeros(8, dtype=np.int64)
    for i in range(300):
        out = np.full((96, 80), np.nan, dtype=np.float32)
        assert blas.matmul(a, b, out=out) is out
        assert out.tobytes() == expected.tobytes(), i
        if i % 3 == 0:
            parallel.run_chunks(lambda k: hits.__setitem__(k, hits[k] + 1), len(hits))
        if i % 50 == 49:
            threading.Event().wait(0.01)  # long enough for the helpers to fall asleep
    assert (hits == 100).all()


def test_concurrent_callers_each_get_their_products(monkeypatch):
    """Two threads splitting products at once: one posts on the board, the other runs its
    blocks itself; nobody gets the other's numbers."""
    monkeypatch.setattr(blas, "SPLIT_MIN_FLOPS", 0)
    pairs = [(_rand(64, 48, seed=s), _rand(48, 64, seed=s + 1)) for s in (20, 30)]
    wanted = [np.matmul(a, b) for a, b in pairs]
    errors = []

    def work(j):
        a, b = pairs[j]
        for _ in range(200):
            got = blas.matmul(a, b)
            if not np.allclose(got, wanted[j], rtol=1e-5, atol=1e-5):
                errors.append(j)
                return

    threads = [threading.Thread(target=work, args=(j,)) for j in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


CHILD = """
import hashlib
import numpy as np
from numkeras.engine.ops import blas
rng = np.random.default_rng(5)
a = rng.standard_normal((128, 784)).astype(np.float32)
b = rng.standard_normal((784, 512)).astype(np.float32)
c = rng.standard_normal((512, 300)).astype(np.float64)
out = [blas.matmul(a, b), blas.matmul(a.T.copy().T, b), *blas.matmuls((b.T, a.T), (c.T, c))]
print(hashlib.sha256(b"".join(o.tobytes() for o in out)).hexdigest())
"""


def test_the_same_bits_with_one_two_or_three_threads():
    def run(threads):
        env = {**os.environ, "NUMKERAS_NUM_THREADS": str(threads)}
        proc = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True,
                              env=env, timeout=300)
        assert proc.returncode == 0, proc.stderr
        return proc.stdout.strip()

    assert run(1) == run(2) == run(3)


def test_call_tasks_run_a_cfunc_per_argument_row():
    """Compiled call tasks: the cfunc at an address, once per argument row, on the caller and
    the helpers; malformed arguments are refused."""
    from numba import carray, cfunc, types

    from numkeras.engine.ops.pointers import array_at

    @cfunc(types.void(types.CPointer(types.int64)))
    def add_row_index(row):
        args = carray(row, 3)
        x = array_at(args[0], args[1], np.float64)
        for i in range(x.size):
            x[i] += args[2]

    x = np.zeros(1000)
    arguments = np.array([[x.ctypes.data + 8 * 100 * i, 100, i + 1] for i in range(10)],
                         dtype=np.int64)
    for _ in range(20):
        parallel.run_tasks(gemm_tasks.calls(add_row_index.address, arguments))
    np.testing.assert_array_equal(x, np.repeat(np.arange(1, 11) * 20.0, 100))
    with pytest.raises(ValueError, match="int64"):
        gemm_tasks.calls(add_row_index.address, arguments.astype(np.int32))
    with pytest.raises(ValueError, match="2-D"):
        gemm_tasks.calls(add_row_index.address, arguments[0])


def test_call_tasks_compile_on_first_use_not_at_import():
    """Importing the engine compiles no call task (with a cold numba cache each one took
    seconds); using one does."""
    code = ("import numkeras.engine\n"
            "from numkeras.engine.updates import adam, sgd\n"
            "from numkeras.engine.kernels import lstm_sequence as ls\n"
            "tasks = [adam.task, sgd.task, ls._forward_task, ls._backward_task]\n"
            "print([t._compiled is None for t in tasks])\n"
            "adam.task.address\n"
            "print(adam.task._compiled is None)\n")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=300)
    assert run.returncode == 0, run.stderr
    assert run.stdout.split("\n")[:2] == ["[True, True, True, True]", "False"]
