"""A small matrix product that numba kernels can call without the GIL: OpenBLAS's cblas gemm.

The LSTM sequence kernels run the whole time loop in numba, one ``(rows, units) @ (units,
4 * units)`` product per step. Written as numba loops that product runs at a third of
OpenBLAS's speed (measured on the 2-core AVX-512 development host, float32, per product:
``(32, 64) @ (64, 256)`` 33 us in i-k-j loops vs 9.3 us through cblas, ``(64, 64) @ (64, 256)``
46 us vs 22.6 us; float64 60 and 132 us in loops): the loops reload and store the output row for
every ``k`` where OpenBLAS keeps a register tile. So the kernels call the cblas gemm of the
OpenBLAS that numpy loaded (found through ctypes), by its address (:func:`gemm_at`; the
Winograd blocks and ``gemm_tasks`` call it so too).

The address is passed to the kernels as an argument, not read as a global: a global address
would be baked into the machine code of numba's cache, and wrong in the next process.
:func:`address_for` returns 0 when no usable symbol is found (a numpy built on another BLAS);
:func:`gemm_acc` then runs its numba loops, with the same results to rounding.

numpy's wheels bundle OpenBLAS with 64-bit integers and ``scipy_`` prefixed names:
``scipy_cblas_sgemm64_`` / ``scipy_cblas_dgemm64_`` (scipy's copy, which numba loads when scipy
is installed, names them otherwise; numpy's is looked up first). The library runs on one thread
here, as for every product of ``blas``: the kernels are already split over the cores by batch
rows, and OpenBLAS's own threads would change the rounding with the thread count.
"""

from __future__ import annotations

import ctypes
import os
import threading
from typing import Any

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic

ROW_MAJOR, NO_TRANS, TRANS = 101, 111, 112  # CBLAS_ORDER.CblasRowMajor, CBLAS_TRANSPOSE

_SYMBOLS = {np.dtype(np.float32): ("scipy_cblas_sgemm64_", ctypes.c_float),
            np.dtype(np.float64): ("scipy_cblas_dgemm64_", ctypes.c_double)}
_lock = threading.Lock()
_functions: dict[np.dtype, Any] | None = None


def _find() -> dict[np.dtype, Any]:
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:  # pragma: no cover - threadpoolctl is a base dependency
        return {}
    # numpy's copy first: scipy's (loaded once scipy.linalg is used, e.g. by numba) has other
    # symbol names, but the one numpy uses is the one ``blas`` keeps on one thread.
    numpy_dir = os.path.dirname(np.__file__)
    libs = sorted(ThreadpoolController().select(internal_api="openblas").lib_controllers,
                  key=lambda lib: not lib.filepath.startswith(numpy_dir))
    for controller in libs:
        try:
            lib = ctypes.CDLL(controller.filepath)
        except OSError:  # pragma: no cover - the library was found loaded
            continue
        found = {}
        for dtype, (name, scalar) in _SYMBOLS.items():
            fn = getattr(lib, name, None)
            if fn is None:
                continue
            i64, ptr = ctypes.c_int64, ctypes.c_void_p
            fn.restype = None
            fn.argtypes = [i64, i64, i64, i64, i64, i64, scalar, ptr, i64, ptr, i64, scalar, ptr,
                           i64]
            found[dtype] = fn
        if found:
            controller.set_num_threads(1)
            return found
    return {}


def gemm_for(dtype: Any) -> Any:
    """The cblas gemm for ``dtype`` (float32 or float64) as a ctypes function, or ``None``
    where there is none."""
    global _functions
    if _functions is None:
        with _lock:
            if _functions is None:
                _functions = _find()
    return _functions.get(np.dtype(dtype))


def address_for(dtype: Any) -> int:
    """The address of the cblas gemm for ``dtype`` (for :func:`gemm_at` and :func:`gemm_acc`),
    0 where there is none."""
    fn = gemm_for(dtype)
    return 0 if fn is None else ctypes.cast(fn, ctypes.c_void_p).value


@intrinsic
def gemm_at(typingctx, address, double, ta, tb, m, n, k, a, lda, b, ldb, c, ldc,
            beta):  # pragma: no cover - compiled
    """``cblas_?gemm(RowMajor, ta, tb, m, n, k, 1, a, lda, b, ldb, beta, c, ldc)`` through the
    function at ``address`` (float64 when ``double``, a literal; the pointers are integers;
    ``beta`` 0 writes ``c``, 1 adds to it). An address, not a ctypes object: numba types a
    ctypes argument anew on every call, ~50 us each."""
    if not isinstance(double, types.BooleanLiteral):
        return None

    def codegen(context, builder, signature, args):
        real = ir.DoubleType() if double.literal_value else ir.FloatType()
        i64, ptr = ir.IntType(64), ir.IntType(8).as_pointer()
        fnty = ir.FunctionType(ir.VoidType(), [i64] * 6 + [real, ptr, i64, ptr, i64, real,
                                                           ptr, i64])
        fn = builder.inttoptr(args[0], fnty.as_pointer())
        ta_, tb_, m_, n_, k_, a_, lda_, b_, ldb_, c_, ldc_ = args[2:13]
        beta_ = context.cast(builder, args[13], signature.args[13],
                             types.float64 if double.literal_value else types.float32)
        builder.call(fn, [ir.Constant(i64, ROW_MAJOR), ta_, tb_, m_, n_, k_,
                          ir.Constant(real, 1.0), builder.inttoptr(a_, ptr), lda_,
                          builder.inttoptr(b_, ptr), ldb_, beta_,
                          builder.inttoptr(c_, ptr), ldc_])
        return context.get_dummy_value()

    return types.none(address, double, *([types.int64] * 11), types.float64), codegen


@njit(cache=True, nogil=True)
def gemm_loops(a, b, c):
    """``c += a @ b`` in numba, i-k-j order so the innermost loop runs along rows of ``b`` and
    ``c`` (and vectorizes)."""
    for i in range(a.shape[0]):
        for p in range(a.shape[1]):
            aip = a[i, p]
            for j in range(b.shape[1]):
                c[i, j] += aip * b[p, j]


@njit(cache=True, nogil=True)
def gemm_acc(gemm, a, b, c, beta=1.0):
    """``c = beta * c + a @ b`` for 2-D float32 or float64 arrays (``beta`` 1: ``c += a @ b``;
    0: ``c = a @ b``, whatever ``c`` held): through the cblas gemm at address ``gemm``
    (:func:`address_for`) when each array's rows are contiguous (any row stride but a negative
    one), else, or when ``gemm`` is 0, in numba loops."""
    m, k = a.shape
    n = b.shape[1]
    if m == 0 or n == 0:
        return
    rows = a.strides[1] == a.itemsize and b.strides[1] == b.itemsize and \
        c.strides[1] == c.itemsize and min(a.strides[0], b.strides[0], c.strides[0]) >= 0
    if gemm == 0 or not rows or k == 0:
        if beta == 0.0:
            c[:, :] = 0.0  # as cblas with beta 0, which never reads c
        gemm_loops(a, b, c)
        return
    # Leading dimensions: the row strides (at least the row length, as cblas demands of the
    # single-row views, whose row stride numpy may set to anything).
    lda = max(a.strides[0] // a.itemsize, k)
    ldb = max(b.strides[0] // b.itemsize, n)
    ldc = max(c.strides[0] // c.itemsize, n)
    pa, pb, pc = np.int64(a.ctypes.data), np.int64(b.ctypes.data), np.int64(c.ctypes.data)
    if c.itemsize == 8:
        gemm_at(gemm, True, NO_TRANS, NO_TRANS, m, n, k, pa, lda, pb, ldb, pc, ldc, beta)
    else:
        gemm_at(gemm, False, NO_TRANS, NO_TRANS, m, n, k, pa, lda, pb, ldb, pc, ldc, beta)
