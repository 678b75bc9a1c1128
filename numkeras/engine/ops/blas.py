"""Matrix products with the BLAS thread count chosen per product.

OpenBLAS splits a product over all its threads once it passes a small size, and its threads
spin while they wait for each other. On a 2-core host shared with other processes that costs far
more than it gains on the skinny products of a training step: ``(256, 3) @ (3, 784)`` took
7.6 ms with 2 threads against 0.15 ms with 1, and LSTM and CNN epochs ran 4-20x slower. Large
products still gain from every core, so :func:`matmul` runs products below
``SINGLE_THREAD_MAX_FLOPS`` on one thread and larger ones on the library's default count.

The thread count is switched through threadpoolctl's controller for the OpenBLAS that numpy
loaded (found once, at import), and only when it changes (about 1 us). The setting is
process-wide: other numpy products in the process run with the count of the last product here.
Other BLAS libraries are left alone.
"""

from __future__ import annotations

import os

import numpy as np


def _env_flops(name: str, default: int) -> int:
    value = os.environ.get(name)
    try:
        return default if value is None else int(value)
    except ValueError:
        raise ValueError(f"{name} must be an integer number of FLOPs, got {value!r}.") from None


SINGLE_THREAD_MAX_FLOPS = _env_flops("NUMKERAS_BLAS_SINGLE_THREAD_MAX_FLOPS", 1 << 30)
"""Products of fewer floating-point operations (``2 * m * k * n``) run on one thread; 0 leaves
every product to OpenBLAS's own choice. Measured on the 2-core development host with other
processes busy (load 3-8): 2 threads lost on every product tried, by 10-50x on the 3-200 MFLOP
products of the benchmark models (a descheduled helper thread costs the product a scheduler
time slice) and by 1.6x still at 2 GFLOP (1024^3); at 17 GFLOP (2048^3) they were even. At quieter
moments they won 1.4x at 103 MFLOP (128x784x512) and the benchmark mlp trained 1.6x faster. The
default keeps the worst case bounded: only products long enough to absorb a lost time slice use
every core. On a host where numkeras has the cores to itself, ``1 << 26`` (through the
environment variable of the same name, read at import) gives the mlp its 1.6x. The choice is by
size alone, never by timing: the thread count changes the rounding of some products."""


def _openblas_controller() -> tuple[object | None, int]:
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:  # pragma: no cover - threadpoolctl is a base dependency
        return None, 1
    libs = ThreadpoolController().select(internal_api="openblas").lib_controllers
    if len(libs) != 1:  # none, or several OpenBLAS copies: leave threading to the library
        return None, 1
    return libs[0], int(libs[0].num_threads)


_CONTROLLER, _DEFAULT_THREADS = _openblas_controller()
_threads = _DEFAULT_THREADS


def _use_threads(n: int) -> None:
    global _threads
    if n != _threads:
        _CONTROLLER.set_num_threads(n)
        _threads = n


def matmul(a: np.ndarray, b: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """``a @ b`` (``np.matmul``, so the same numbers), on one BLAS thread when it is small.

    Args:
        a: An array ``(..., m, k)``.
        b: An array ``(..., k, n)``.
        out: Optional output array for ``np.matmul``.
    """
    if _CONTROLLER is not None and _DEFAULT_THREADS > 1:
        flops = 2 * a.size * (b.shape[-1] if b.ndim > 1 else 1)
        _use_threads(1 if flops < SINGLE_THREAD_MAX_FLOPS else _DEFAULT_THREADS)
    if out is None:
        return np.matmul(a, b)
    return np.matmul(a, b, out=out)
