"""A helping hand: independent chunks of work run on the calling thread and the spare cores.

``run_chunks(fn, count)`` calls ``fn(0) ... fn(count - 1)`` and returns when all are done. The
calling thread works through the chunks itself; helper threads (one per spare core) claim
whichever chunks are still unclaimed when they wake up. Nobody waits for a helper to *start*:
when the machine is busy and a helper is not scheduled, the caller simply does every chunk, so
a busy host costs at most the chunk a descheduled helper already holds. That is the difference
from OpenBLAS's own threads, which wait for each other several times inside one product and
made small products 10-50x slower on a loaded 2-core host (see ``blas``).

Blocks of matrix products go another way, :func:`run_tasks`: they are data on a board that the
caller and the helpers work through in numba, without the GIL (``gemm_tasks``), and an idle
helper watches that board for a while before it sleeps, so a product's blocks cost no thread
wake-up in a busy training step.

``fn`` must release the GIL for the helpers to add anything: NumPy's BLAS products and ufuncs
on large arrays and ``@njit(nogil=True)`` kernels do. Chunks must not depend on each other or
on which thread runs them; the callers split work by its shape only, so the numbers never depend
on the thread count or on timing.

Threads: ``NUMKERAS_NUM_THREADS`` (read at import) caps the total, calling thread included; the
default is the number of CPUs this process may run on. ``1`` runs everything on the caller.
A ``run_chunks`` inside a chunk, or while another thread's chunks are running, runs serially.
"""

from __future__ import annotations

import itertools
import os
import threading
from collections.abc import Callable

import numpy as np

from numkeras.engine.ops import gemm_tasks


def _env_threads() -> int:
    value = os.environ.get("NUMKERAS_NUM_THREADS")
    if value is None:
        try:
            return max(len(os.sched_getaffinity(0)), 1)
        except AttributeError:  # pragma: no cover - not Linux
            return os.cpu_count() or 1
    try:
        count = int(value)
    except ValueError:
        count = 0
    if count < 1:
        raise ValueError(f"NUMKERAS_NUM_THREADS must be a positive integer, got {value!r}.")
    return count


NUM_THREADS = _env_threads()
"""Threads that run chunks, the calling thread included."""

HELPER_SPIN_CHECKS = 1 << 20
"""Reads of the task board (without the GIL; ~0.6 ms on the development host) an idle helper
makes before it sleeps. In a training step products follow each other closely, and a helper
that has gone to sleep costs twice: it takes the GIL on its way to sleep, and waking it took
~58 us on the 2-core development host (a VM). The mlp benchmark's longest gap without a
product (the small output layer, the loss and its gradient) is ~0.25-0.3 ms: ``train_on_batch``
medians, processes alternating, 2.51-2.63 ms with 2**18 reads (~0.15 ms), 2.37-2.50 with 2**19,
2.26-2.60 with 2**20. The price is a core kept busy for up to this long after the last task."""


class _Job:
    """One ``run_chunks`` call: chunks are claimed from a shared counter."""

    __slots__ = ("fn", "count", "claims", "lock", "finished", "done", "error")

    def __init__(self, fn: Callable[[int], object], count: int) -> None:
        self.fn = fn
        self.count = count
        self.claims = itertools.count()  # next() is atomic under the GIL
        self.lock = threading.Lock()
        self.finished = 0
        self.done = threading.Event()
        self.error: BaseException | None = None

    def work(self) -> None:
        """Claims and runs chunks until none is left."""
        _local.busy = True
        try:
            while True:
                index = next(self.claims)
                if index >= self.count:
                    return
                try:
                    self.fn(index)
                except BaseException as exc:  # re-raised on the calling thread
                    if self.error is None:
                        self.error = exc
                with self.lock:
                    self.finished += 1
                    if self.finished == self.count:
                        self.done.set()
        finally:
            _local.busy = False


class _Helpers:
    """The helper threads of this process. Between jobs each watches the task board for a
    while (running any task batch posted meanwhile, without the GIL), then sleeps until the
    next post."""

    def __init__(self, count: int) -> None:
        self.wake = threading.Condition()
        self.generation = 0
        self.kind = 0
        self.job: _Job | None = None
        self.sleepers = 0
        self.board = gemm_tasks.new_board()
        self.posting = threading.Lock()
        self.pid = os.getpid()
        for i in range(count):
            threading.Thread(target=self._loop, name=f"numkeras-helper-{i}",
                             daemon=True).start()

    def _loop(self) -> None:
        handled = 0
        while True:
            pending = False
            if self.board is not None:  # watch the board, running task batches, GIL-free
                seen, pending = gemm_tasks.idle(self.board, handled, HELPER_SPIN_CHECKS)
                handled = handled if pending else seen
            with self.wake:
                if not pending and self.generation == handled:
                    self.sleepers += 1
                    while self.generation == handled:
                        self.wake.wait()
                    self.sleepers -= 1
                handled = self.generation  # the latest post; older ones are done or taken
                kind, job = self.kind, self.job
            if kind == gemm_tasks.KIND_TASKS:
                gemm_tasks.work(self.board, handled)
            elif job is not None:
                job.work()
                # Drop it now, not at the next wake-up: its chunks' closures may hold arrays
                # that callers reuse once nothing refers to them (``conv.recycled``).
                job = None

    def _post(self, kind: int, job: _Job | None, fields: np.ndarray | None) -> int:
        with self.wake:
            self.generation += 1
            self.kind, self.job = kind, job
            if fields is not None:
                gemm_tasks.post(self.board, self.generation, fields)
            elif self.board is not None:
                gemm_tasks.publish(self.board, self.generation, kind, 0)
            if self.sleepers:
                self.wake.notify_all()
            return self.generation

    def post(self, job: _Job) -> None:
        self._post(gemm_tasks.KIND_PYTHON, job, None)

    def run_tasks(self, fields: np.ndarray) -> None:
        gen = self._post(gemm_tasks.KIND_TASKS, None, fields)
        gemm_tasks.finish(self.board, gen, len(fields))


_local = threading.local()
_helpers: _Helpers | None = None
_helpers_lock = threading.Lock()


def _get_helpers() -> _Helpers | None:
    global _helpers
    if NUM_THREADS < 2:
        return None
    helpers = _helpers
    if helpers is None or helpers.pid != os.getpid():  # first use, or a forked child
        with _helpers_lock:
            if _helpers is None or _helpers.pid != os.getpid():
                _helpers = _Helpers(NUM_THREADS - 1)
            helpers = _helpers
    return helpers


def run_chunks(fn: Callable[[int], object], count: int) -> None:
    """Runs ``fn(i)`` for every ``i`` in ``range(count)``, on this thread and the helpers.

    Raises the first exception a chunk raised, after every chunk has finished.
    """
    helpers = None if count < 2 or getattr(_local, "busy", False) else _get_helpers()
    if helpers is None or not helpers.posting.acquire(blocking=False):
        for i in range(count):
            fn(i)
        return
    try:
        job = _Job(fn, count)
        helpers.post(job)
        job.work()
        job.done.wait()
        helpers.job = None
        job.fn = None  # a helper may still hold the job a moment: not the chunks' arrays
    finally:
        helpers.posting.release()
    if job.error is not None:
        raise job.error


_TEMPLATE: list = []


def _template() -> np.ndarray:
    """An empty task board, for runs on the calling thread alone."""
    if not _TEMPLATE:
        _TEMPLATE.append(gemm_tasks.new_board())
    return _TEMPLATE[0]


def run_tasks(fields: np.ndarray) -> None:
    """Runs matrix-product tasks (``gemm_tasks.describe``) on this thread and the helpers,
    without the GIL; returns when all are done."""
    helpers = None if len(fields) < 2 or getattr(_local, "busy", False) else _get_helpers()
    if helpers is None or not helpers.posting.acquire(blocking=False):
        gemm_tasks.run_here(_template(), fields)
        return
    try:
        helpers.run_tasks(fields)
    finally:
        helpers.posting.release()


def split(length: int, parts: int, align: int = 1) -> list[int]:
    """Edges ``[0, ..., length]`` of ``parts`` near-equal ranges, inner edges multiples of
    ``align`` (fewer parts when ``length`` is too short for them)."""
    parts = max(min(parts, length // max(align, 1)), 1)
    edges = [0]
    for p in range(1, parts):
        edge = (length * p // parts) // align * align
        if edge > edges[-1]:
            edges.append(edge)
    edges.append(length)
    return edges
