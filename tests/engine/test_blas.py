"""numkeras.engine.ops.blas.matmul: np.matmul's numbers, one BLAS thread for small products."""

import numpy as np
import pytest

from numkeras.engine.ops import blas


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


@pytest.mark.skipif(blas._CONTROLLER is None or blas._DEFAULT_THREADS < 2,
                    reason="needs numpy's OpenBLAS with several threads")
def test_thread_count_follows_product_size(monkeypatch):
    a = np.ones((64, 64), dtype=np.float32)
    monkeypatch.setattr(blas, "SINGLE_THREAD_MAX_FLOPS", 2 * 64 ** 3 + 1)
    blas.matmul(a, a)
    assert blas._CONTROLLER.get_num_threads() == 1
    monkeypatch.setattr(blas, "SINGLE_THREAD_MAX_FLOPS", 2 * 64 ** 3)
    blas.matmul(a, a)
    assert blas._CONTROLLER.get_num_threads() == blas._DEFAULT_THREADS


def test_bad_environment_value_is_named(monkeypatch):
    monkeypatch.setenv("NUMKERAS_BLAS_SINGLE_THREAD_MAX_FLOPS", "many")
    with pytest.raises(ValueError, match="NUMKERAS_BLAS_SINGLE_THREAD_MAX_FLOPS.*'many'"):
        blas._env_flops("NUMKERAS_BLAS_SINGLE_THREAD_MAX_FLOPS", 1)
    monkeypatch.setenv("NUMKERAS_BLAS_SINGLE_THREAD_MAX_FLOPS", "4096")
    assert blas._env_flops("NUMKERAS_BLAS_SINGLE_THREAD_MAX_FLOPS", 1) == 4096
