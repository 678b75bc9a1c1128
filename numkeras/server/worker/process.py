"""The job worker process: claims queued jobs from the database and runs them, one at a time."""

from __future__ import annotations

import os
import sys
from typing import Any


def worker_main(data_dir: str, worker_id: str, wake: Any, parent_pid: int,
                poll_interval: float) -> None:
    """Entry point of a spawned worker process.

    Args:
        data_dir: The server's data dir.
        worker_id: This worker's name, recorded on the jobs it claims.
        wake: A semaphore the server releases once per submitted job.
        parent_pid: The server's pid; the worker exits when the server is gone.
        poll_interval: Seconds to wait on ``wake`` before looking at the queue anyway.
    """
    from numkeras.server.storage import Storage
    from numkeras.server.worker.jobs import ServerGone, run_job

    storage = Storage(data_dir)
    pid = os.getpid()
    while os.getppid() == parent_pid:
        job = storage.claim_job(worker_id, pid)
        if job is None:
            wake.acquire(timeout=max(poll_interval, 0.2))
            continue
        try:
            run_job(storage, job, parent_pid)
        except ServerGone:
            break
    sys.exit(0)
