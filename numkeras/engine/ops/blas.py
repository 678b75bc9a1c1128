"""Matrix products on one OpenBLAS thread, large ones split over the cores by ``parallel``.

OpenBLAS splits a product over all its threads once it passes a small size, and its threads
wait for each other several times inside one product. On a 2-core host shared with other
processes that cost far more than it gained: ``(256, 3) @ (3, 784)`` took 7.6 ms with 2 threads
against 0.15 ms with 1, and LSTM and CNN epochs ran 4-20x slower. Its threads also change the
rounding of some products (``(128, 784) @ (784, 512)`` differs in the last bits between 1 and 2
threads), so results would depend on the thread count.

So OpenBLAS always runs on one thread here, and :func:`matmul` splits a product of at least
``SPLIT_MIN_FLOPS`` into row blocks (column blocks when it has few rows) that the calling thread
and the spare cores compute: as ``gemm_tasks`` (OpenBLAS's cblas gemm called from numba,
without the GIL; the mlp's first product 721 -> 620 us, its halves alone 556 us) when numpy's
OpenBLAS is there and the blocks suit cblas, else as ``parallel.run_chunks`` of ``np.matmul``.
The blocks depend on the shapes only, so the numbers are the same whatever the thread count or
the load (tests/engine/test_blas.py checks it bit for bit). They may differ in the last bits
from one unsplit product, where OpenBLAS picks another kernel for a smaller block (seen for float64
``(40, 2000) @ (2000, 300)``; the float32 products of the benchmark models came out identical).

The thread count is set through threadpoolctl's controller for the OpenBLAS that numpy loaded
(found once, at import), at the first product here.
The setting is process-wide. Other BLAS libraries are left alone.
"""

from __future__ import annotations

import os

import numpy as np

from numkeras.engine.ops import gemm_tasks
from numkeras.engine.ops.parallel import run_chunks, run_tasks, split


def _env_flops(name: str, default: int) -> int:
    value = os.environ.get(name)
    try:
        return default if value is None else int(value)
    except ValueError:
        raise ValueError(f"{name} must be an integer number of FLOPs, got {value!r}.") from None


SPLIT_MIN_FLOPS = _env_flops("NUMKERAS_BLAS_SPLIT_MIN_FLOPS", 1 << 24)
"""Products of at least this many floating-point operations (``2 * m * k * n``) are split in
blocks over the threads of ``parallel``; 0 splits every product with enough rows or columns.
Measured on the 2-core development host, idle: two blocks of ``(128, 784) @ (784, 512)`` ran at
1.65x the speed of one thread, ``(128, 512) @ (512, 256)`` (34 MFLOP) 1.31x, but
``(64, 128) @ (128, 512)`` (8 MFLOP) 0.69x: waking a helper costs some 30 us."""

BLOCKS_PER_PRODUCT = 2
"""Blocks a split product is cut into (by shape only, so the numbers never depend on the host)."""

_ALIGN = 16  # block edges on multiples of the kernels' register tile


def _openblas_controller() -> object | None:
    """threadpoolctl's controller of the OpenBLAS numpy's products use: the copy in numpy's own
    directory when there are several (scipy brings its own, and numba may load scipy), the only
    one otherwise, else ``None`` (then threading is left to the library)."""
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:  # pragma: no cover - threadpoolctl is a base dependency
        return None
    libs = ThreadpoolController().select(internal_api="openblas").lib_controllers
    package = os.path.dirname(np.__file__)  # wheels: <site>/numpy.libs or numpy/.libs
    own = [lib for lib in libs if lib.filepath.startswith((package + os.sep,
                                                           package + ".libs" + os.sep))]
    if len(own) == 1:
        return own[0]
    return libs[0] if len(libs) == 1 else None


_CONTROLLER = _openblas_controller()
_GEMMS = gemm_tasks.available()  # numpy's OpenBLAS cblas gemm: split products as tasks
_blas_threads = 0  # what this module last set; 0: not set yet


def _one_blas_thread() -> None:
    global _blas_threads
    if _blas_threads != 1 and _CONTROLLER is not None:
        _CONTROLLER.set_num_threads(1)
        _blas_threads = 1


def _blocks(a: np.ndarray, b: np.ndarray, out: np.ndarray) -> list[gemm_tasks.Block]:
    """Blocks (``gemm_tasks.Block``: the arrays, rows, columns) that make up ``a @ b``: one, or
    ``BLOCKS_PER_PRODUCT`` blocks for a large 2D product, cutting the larger operand.

    Each block's gemm packs its whole share of ``a`` and of ``b``: row blocks both pack all of
    ``b``, column blocks all of ``a``. Cutting the larger one measured, as the sum of the two
    blocks on one thread (us): ``(128, 784) @ (784, 512)`` 1052 by columns, 1106 by rows;
    ``(128, 256) @ (256, 512).T`` 384 / 437; the weight gradients ``(784, 128) @ (128, 512)``
    and ``(512, 128) @ (128, 256)`` 1023 / 1033 and 346 / 338 (by rows there)."""
    if a.ndim == 2 and b.ndim == 2 and 2 * a.size * b.shape[1] >= SPLIT_MIN_FLOPS and \
            out.dtype == np.result_type(a, b):
        m, n = a.shape[0], b.shape[1]
        by_columns = b.size > a.size and n >= BLOCKS_PER_PRODUCT * 64
        if m >= BLOCKS_PER_PRODUCT * _ALIGN and not by_columns:
            edges = split(m, BLOCKS_PER_PRODUCT, _ALIGN)
            return [(a, b, out, i, j, 0, n) for i, j in zip(edges[:-1], edges[1:], strict=True)]
        # Column blocks narrower than 64 lost (``(9, 86528) @ (86528, 32)``: 0.85x).
        edges = split(n, BLOCKS_PER_PRODUCT, 64)
        return [(a, b, out, 0, m, i, j) for i, j in zip(edges[:-1], edges[1:], strict=True)]
    return [gemm_tasks.whole(a, b, out)]


def _run(blocks: list[tuple]) -> None:
    if len(blocks) == 1:
        a, b, out = gemm_tasks.views(blocks[0])
        np.matmul(a, b, out=out)
        return
    fields = gemm_tasks.describe(blocks) if _GEMMS else None
    if fields is not None:  # the usual case: blocks for cblas, run without the GIL
        run_tasks(fields)
    else:
        def chunk(i: int) -> None:
            a, b, out = gemm_tasks.views(blocks[i])
            np.matmul(a, b, out=out)

        run_chunks(chunk, len(blocks))


def matmul(a: np.ndarray, b: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """``a @ b`` (``np.matmul``'s numbers on one BLAS thread), large products on every core.

    Args:
        a: An array ``(..., m, k)``.
        b: An array ``(..., k, n)``.
        out: Optional output array for ``np.matmul``.
    """
    _one_blas_thread()
    if a.ndim != 2 or b.ndim != 2 or 2 * a.size * b.shape[1] < SPLIT_MIN_FLOPS:
        return np.matmul(a, b) if out is None else np.matmul(a, b, out=out)
    if out is None:
        out = np.empty((a.shape[0], b.shape[1]), dtype=np.result_type(a, b))
    _run(_blocks(a, b, out))
    return out


def matmuls(*products: tuple[np.ndarray, np.ndarray]) -> list[np.ndarray]:
    """Several independent 2D products ``a @ b`` at once: their blocks go to the cores as one
    batch (one post for the helpers instead of one per product), each product's numbers those
    of :func:`matmul`. Returns the products in order."""
    _one_blas_thread()
    if sum(2 * a.size * b.shape[1] for a, b in products) < SPLIT_MIN_FLOPS:
        # Small products: waking the helpers would cost more than they do.
        return [np.matmul(a, b) for a, b in products]
    outs = [np.empty((a.shape[0], b.shape[1]), dtype=np.result_type(a, b)) for a, b in products]
    _run([blk for (a, b), out in zip(products, outs, strict=True)
          for blk in _blocks(a, b, out)])
    return outs
