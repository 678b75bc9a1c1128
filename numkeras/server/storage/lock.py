"""One server per data dir: ``<data_dir>/server.lock``, flock-ed by the serving process.

The lock goes with the process (the kernel drops it when the process dies, even by SIGKILL), so a
crashed server never leaves a stale lock behind. ``numkeras keys create`` does not take it: keys
can be made while the server runs.
"""

from __future__ import annotations

import errno
import fcntl
import os
from pathlib import Path
from typing import IO

LOCK_NAME = "server.lock"


class DataDirLocked(RuntimeError):
    """Another process serves this data dir."""


def lock_data_dir(data_dir: str | os.PathLike) -> IO[str]:
    """Takes the data dir's server lock; the returned file holds it until it is closed.

    Raises:
        DataDirLocked: naming the data dir and the pid of the server that holds it.
    """
    path = Path(data_dir) / LOCK_NAME
    path.parent.mkdir(parents=True, exist_ok=True)
    f = open(path, "a+")  # noqa: SIM115  (kept open: the open file is the lock)
    try:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as e:
        f.seek(0)
        holder = f.read().strip() or "unknown"
        f.close()
        if e.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
            raise
        raise DataDirLocked(
            f"The data dir {str(data_dir)!r} is already served by another numkeras server "
            f"(pid {holder}); two servers on one data dir would corrupt its job queue. Stop "
            "that server or pass another --data-dir.") from None
    f.seek(0)
    f.truncate()
    f.write(f"{os.getpid()}\n")
    f.flush()
    return f
