"""numkeras.engine.ops.blas.matmul: np.matmul's numbers on one BLAS thread, large products split."""

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

from numkeras.engine.ops import blas, gemm_tasks, parallel


@pytest.mark.parametrize("shapes", [((32, 20), (20, 64)), ((3, 256), (256, 784)),
                                    ((4, 9, 5), (4, 5, 7)), ((700, 800), (800, 1000))])
def test_matmul_equals_numpy(shapes):
    rng = np.random.default_rng(0)
    a = rng.standard_normal(shapes[0], dtype=np.float32)
    b = rng.standard_normal(shapes[1], dtype=np.float32)
    expected = np.einsum("...ik,...kj->...ij", a.astype(np.float64), b.astype(np.float64))
    got = blas.matmul(a, b)
    assert got.dtype == np.float32 and got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-3)
    out = np.empty_like(got)
    assert blas.matmul(a, b, out=out) is out
    np.testing.assert_array_equal(out, got)
    np.testing.assert_array_equal(blas.matmul(a.swapaxes(-1, -2).copy().swapaxes(-1, -2), b), got)


# Shapes of the benchmark models' products (forward, weight gradient, input gradient), split
# by rows, by columns and not at all.
SPLIT_SHAPES = [(128, 784, 512, False), (784, 128, 512, True), (128, 512, 256, False),
                (15488, 288, 64, False), (288, 15488, 64, True), (9, 4000, 32, True),
                (40, 2000, 300, True), (20, 3000, 512, False), (33, 4096, 130, False)]


def _serial(fn, count):
    for i in range(count):
        fn(i)


def _serial_tasks(fields):
    """Every block on the calling thread, in order."""
    gemm_tasks.run_here(parallel._template(), fields)


def _all_serial(monkeypatch):
    monkeypatch.setattr(blas, "run_chunks", _serial)
    monkeypatch.setattr(blas, "run_tasks", _serial_tasks)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("m,k,n,transposed", SPLIT_SHAPES)
def test_split_products_do_not_depend_on_the_threads(m, k, n, transposed, dtype, monkeypatch):
    """The same bits whether the blocks run on the helpers or one after another on the caller,
    and the product's value (to rounding) of one unsplit product."""
    rng = np.random.default_rng(1)
    a = rng.standard_normal((k, m)).astype(dtype).T if transposed else \
        rng.standard_normal((m, k)).astype(dtype)
    b = rng.standard_normal((k, n)).astype(dtype)
    with threadpool_limits(1):
        unsplit = np.matmul(a, b)
    monkeypatch.setattr(blas, "SPLIT_MIN_FLOPS", 0)
    got = blas.matmul(a, b)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(got, unsplit, rtol=tol, atol=tol * np.abs(unsplit).max())
    for _ in range(3):
        out = np.full((m, n), np.nan, dtype=dtype)
        assert blas.matmul(a, b, out=out) is out
        np.testing.assert_array_equal(out, got)
    _all_serial(monkeypatch)
    np.testing.assert_array_equal(blas.matmul(a, b), got)
    # Without the cblas tasks (numpy on another BLAS): np.matmul per block, the same bits.
    monkeypatch.setattr(blas, "_GEMMS", False)
    np.testing.assert_array_equal(blas.matmul(a, b), got)


def test_products_from_the_threshold_up_are_split(monkeypatch):
    """Both blocks of a split product are computed, whichever thread takes them; with the
    helpers disabled the same blocks run on the caller."""
    rng = np.random.default_rng(2)
    a = rng.standard_normal((256, 64), dtype=np.float32)
    b = rng.standard_normal((64, 96), dtype=np.float32)
    calls = []
    real = parallel.run_tasks
    monkeypatch.setattr(blas, "run_tasks", lambda fields: (calls.append(len(fields)),
                                                           real(fields)))
    monkeypatch.setattr(blas, "SPLIT_MIN_FLOPS", 2 * a.size * b.shape[1])
    got = blas.matmul(a, b)
    assert calls == [blas.BLOCKS_PER_PRODUCT]
    monkeypatch.setattr(blas, "SPLIT_MIN_FLOPS", 2 * a.size * b.shape[1] + 1)
    np.testing.assert_array_equal(blas.matmul(a, b), got)
    assert calls == [blas.BLOCKS_PER_PRODUCT]  # below the threshold: not split


@pytest.mark.parametrize("m,k,n,transposed,cut", [
    (128, 784, 512, False, "columns"),  # the mlp's forward: b is the larger operand
    (128, 256, 512, True, "columns"),   # an input gradient, b = W.T
    (784, 128, 512, True, "rows"),      # a weight gradient: a = x.T is the larger
    (128, 1600, 128, False, "rows"),    # equal sizes: rows
    (16, 4000, 300, False, "columns"),  # too few rows for two blocks
    (64, 2000, 100, False, "rows")])    # b larger, but too narrow for two 64-wide blocks
def test_split_cuts_the_larger_operand(m, k, n, transposed, cut):
    a = np.zeros((k, m), dtype=np.float32).T if transposed else np.zeros((m, k), np.float32)
    b = np.zeros((k, n), dtype=np.float32)
    blocks = blas._blocks(a, b, np.empty((m, n), dtype=np.float32))
    assert len(blocks) == blas.BLOCKS_PER_PRODUCT
    for block in blocks:
        r0, r1, c0, c1 = block[3:]
        assert (c0, c1) == (0, n) if cut == "rows" else (r0, r1) == (0, m)
    assert sum(gemm_tasks.views(block)[2].size for block in blocks) == m * n


@pytest.mark.skipif(blas._CONTROLLER is None, reason="needs numpy's OpenBLAS")
def test_openblas_runs_on_one_thread():
    a = np.ones((64, 64), dtype=np.float32)
    blas.matmul(a, a)
    assert blas._CONTROLLER.get_num_threads() == 1


def test_bad_environment_value_is_named(monkeypatch):
    monkeypatch.setenv("NUMKERAS_BLAS_SPLIT_MIN_FLOPS", "many")
    with pytest.raises(ValueError, match="NUMKERAS_BLAS_SPLIT_MIN_FLOPS.*'many'"):
        blas._env_flops("NUMKERAS_BLAS_SPLIT_MIN_FLOPS", 1)
    monkeypatch.setenv("NUMKERAS_BLAS_SPLIT_MIN_FLOPS", "4096")
    assert blas._env_flops("NUMKERAS_BLAS_SPLIT_MIN_FLOPS", 1) == 4096


def test_matmuls_equals_one_matmul_each(monkeypatch):
    rng = np.random.default_rng(3)
    products = [(rng.standard_normal((128, 300), dtype=np.float32),
                 rng.standard_normal((300, 200), dtype=np.float32)),
                (rng.standard_normal((300, 128), dtype=np.float32).T,
                 rng.standard_normal((300, 40), dtype=np.float32)[:, :20]),
                (rng.standard_normal((5, 7)), rng.standard_normal((7, 3)))]
    monkeypatch.setattr(blas, "SPLIT_MIN_FLOPS", 1 << 12)
    outs = blas.matmuls(*products)
    assert len(outs) == 3
    for (a, b), out in zip(products, outs, strict=True):
        assert out.dtype == np.result_type(a, b)
        np.testing.assert_array_equal(out, blas.matmul(a, b))
    _all_serial(monkeypatch)
    for got, again in zip(outs, blas.matmuls(*products), strict=True):
        np.testing.assert_array_equal(got, again)


@pytest.mark.skipif(blas._CONTROLLER is None, reason="needs numpy's OpenBLAS")
def test_numpys_openblas_is_found_beside_scipys():
    """scipy brings a second OpenBLAS; the one set to one thread must be numpy's."""
    import subprocess
    import sys

    code = ("import scipy.linalg, numpy as np\n"
            "from numkeras.engine.ops import blas\n"
            "from threadpoolctl import threadpool_info\n"
            "blas.matmul(np.ones((4, 4)), np.ones((4, 4)))\n"
            "print(blas._CONTROLLER.filepath)\n"
            "print(len([i for i in threadpool_info() if i['internal_api'] == 'openblas']))\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    if proc.returncode and "No module named 'scipy'" in proc.stderr:
        pytest.skip("scipy is not installed")
    assert proc.returncode == 0, proc.stderr
    path, copies = proc.stdout.split()
    assert "numpy" in path and "scipy.libs" not in path
    assert int(copies) >= 1


def test_small_products_together_stay_on_the_caller(monkeypatch):
    calls = []
    monkeypatch.setattr(blas, "run_chunks", lambda fn, n: (calls.append(n), _serial(fn, n)))
    monkeypatch.setattr(blas, "run_tasks", lambda fields: (calls.append(len(fields)),
                                                           _serial_tasks(fields)))
    a, b = np.ones((32, 64), dtype=np.float32), np.ones((64, 64), dtype=np.float32)
    blas.matmuls((a, b), (a.T.copy(), a))
    assert calls == []
    monkeypatch.setattr(blas, "SPLIT_MIN_FLOPS", 2 * 32 * 64 * 64 + 1)  # each below, together above
    blas.matmuls((a, b), (a.T.copy(), a))
    assert calls == [2]
