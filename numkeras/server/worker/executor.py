"""The executor seam: how jobs and synchronous calls reach worker processes.

``LocalExecutor`` is the embedded default: N job workers spawned (never forked) by the server
and supervised by a thread, plus a small pool of spawned processes for the synchronous calls.
Workers share nothing with the web process but the data dir, so a distributed executor can take
this one's place with shared storage.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing as mp
import os
import signal
import threading
import uuid
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from numkeras.server.errors import ApiError
from numkeras.server.settings import Settings
from numkeras.server.storage import Storage
from numkeras.server.worker import calls
from numkeras.server.worker.process import worker_main

log = logging.getLogger("numkeras.server")


def _exit_reason(pid: int | None, code: int | None) -> str:
    if code is not None and code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        how = f"was killed by {name}"
    else:
        how = f"exited with code {code}"
    return (f"worker process {pid} {how} while running the job; the model keeps the state it "
            "had before the job")


class LocalExecutor:
    """Job worker processes and call processes on this machine.

    Args:
        settings: The server settings (data dir, number of workers).
        storage: The web process's storage, to fail the jobs of a worker that died.
    """

    def __init__(self, settings: Settings, storage: Storage) -> None:
        self.settings = settings
        self.storage = storage
        self._ctx = mp.get_context("spawn")
        self._wake = self._ctx.Semaphore(0)
        self._workers: dict[str, Any] = {}
        self._boot = uuid.uuid4().hex[:8]
        self._count = 0
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._supervisor: threading.Thread | None = None
        self._pool: ProcessPoolExecutor | None = None
        self.replaced = 0

    # ------------------------------------------------------------------ job workers
    def _spawn(self) -> None:
        self._count += 1
        worker_id = f"{self._boot}-{self._count}"
        process = self._ctx.Process(
            target=worker_main, name=f"numkeras-worker-{self._count}", daemon=True,
            args=(str(self.settings.data_dir), worker_id, self._wake, os.getpid(),
                  self.settings.poll_interval))
        process.start()
        self._workers[worker_id] = process

    def start(self) -> None:
        """Starts the job workers, their supervisor and the call pool."""
        with self._lock:
            for _ in range(self.settings.workers):
                self._spawn()
        self._supervisor = threading.Thread(target=self._supervise, name="numkeras-supervisor",
                                            daemon=True)
        self._supervisor.start()
        self._pool = self._new_pool()
        self._pool.submit(calls.warm_up)

    def _supervise(self) -> None:
        while not self._stopping.wait(0.2):
            with self._lock:
                for worker_id, process in list(self._workers.items()):
                    if process.is_alive() or self._stopping.is_set():
                        continue
                    reason = _exit_reason(process.pid, process.exitcode)
                    try:
                        failed = self.storage.fail_worker_jobs(worker_id, reason)
                    except Exception:  # the database is busy: try again on the next round
                        log.exception("could not fail the jobs of worker %s", worker_id)
                        continue
                    log.warning("%s (jobs %s); starting a replacement", reason, failed)
                    del self._workers[worker_id]
                    process.close()
                    self._spawn()
                    self.replaced += 1

    def notify(self) -> None:
        """Wakes one idle worker: a job was queued."""
        self._wake.release()

    def workers(self) -> list[dict[str, Any]]:
        with self._lock:
            return [{"id": wid, "pid": p.pid, "alive": p.is_alive()}
                    for wid, p in self._workers.items()]

    def stop(self, timeout: float = 5.0) -> None:
        """Stops every worker; jobs they were running are failed ("interrupted")."""
        self._stopping.set()
        if self._supervisor is not None:
            self._supervisor.join()
        with self._lock:
            for process in self._workers.values():
                process.terminate()
            for process in self._workers.values():
                process.join(timeout)
                if process.is_alive():
                    process.kill()
                    process.join()
            self._workers.clear()
        self.storage.fail_interrupted_jobs()
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
        self._wake = None  # releases the semaphore now, not at interpreter exit

    # -------------------------------------------------------------------- calls
    def _new_pool(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(max_workers=self.settings.call_workers, mp_context=self._ctx,
                                   initializer=calls.init_call_process,
                                   initargs=(os.getpid(),))

    async def call(self, fn: Any, *args: Any) -> Any:
        """Runs ``fn(*args)`` in a call process without blocking the event loop.

        Raises:
            ApiError: raised by ``fn``; or 503 when the call process died (a new one is
                started for the next call).
        """
        pool = self._pool
        if pool is None:
            raise ApiError(503, "The server is not running any call workers.")
        try:
            return await asyncio.wrap_future(pool.submit(fn, *args))
        except BrokenProcessPool:
            with self._lock:
                if self._pool is pool:
                    self._pool = self._new_pool()
            raise ApiError(503, "The worker process running this call died; retry the "
                                "call.") from None
