"""Blob files in the data dir, each written once and atomically (temp file + os.replace)."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import IO


class BlobStore:
    """Immutable files under ``<data_dir>/blobs``, addressed by a generated key.

    A blob is complete or absent: it is written to ``<data_dir>/tmp``, flushed to disk and
    renamed into place. Keys are recorded in the database only after the rename.
    """

    def __init__(self, data_dir: str | os.PathLike) -> None:
        self.root = Path(data_dir) / "blobs"
        self.tmp = Path(data_dir) / "tmp"
        self.uploads = Path(data_dir) / "uploads"
        for directory in (self.root, self.tmp, self.uploads):
            directory.mkdir(parents=True, exist_ok=True)

    def path(self, key: str) -> Path:
        if not key or "/" in key or "\\" in key or key.startswith("."):
            raise ValueError(f"Invalid blob key {key!r}.")
        return self.root / key[:2] / key

    def upload_path(self, upload_id: str) -> Path:
        """The file collecting the chunks of a chunked upload (kept across restarts)."""
        if not upload_id.isidentifier():
            raise ValueError(f"Invalid upload id {upload_id!r}.")
        return self.uploads / f"{upload_id}.part"

    def new_temp(self) -> IO[bytes]:
        """An open temp file in the data dir's file system, for :meth:`adopt`."""
        return tempfile.NamedTemporaryFile(dir=self.tmp, delete=False, suffix=".part")

    def adopt(self, temp_path: str | os.PathLike, suffix: str = ".npz",
              durable: bool = True) -> str:
        """Moves a finished temp file into the store; returns its key.

        ``durable=False`` skips the fsync: for transient blobs (streamed batches) that a crash
        makes worthless anyway.
        """
        key = uuid.uuid4().hex + suffix
        target = self.path(key)
        target.parent.mkdir(exist_ok=True)
        if durable:
            with open(temp_path, "rb+") as f:
                os.fsync(f.fileno())
        os.replace(temp_path, target)
        return key

    def put(self, data: bytes, suffix: str = ".npz", durable: bool = True) -> str:
        """Writes ``data`` as a new blob; returns its key."""
        return self.put_file(lambda f: f.write(data), suffix, durable)

    def put_file(self, write: Callable[[IO[bytes]], object], suffix: str = ".npz",
                 durable: bool = True) -> str:
        """Calls ``write(file)`` on a temp file and stores the result; returns its key. On
        any failure (a full disk) the temp file is removed: nothing is left behind."""
        f = self.new_temp()
        try:
            with f:
                write(f)
            return self.adopt(f.name, suffix, durable)
        except BaseException:
            with contextlib.suppress(OSError):
                f.close()
            with contextlib.suppress(FileNotFoundError):
                os.unlink(f.name)
            raise

    def read(self, key: str) -> bytes:
        return self.path(key).read_bytes()

    def delete(self, keys: Iterable[str | None]) -> None:
        for key in keys:
            if key:
                try:
                    self.path(key).unlink()
                except FileNotFoundError:
                    pass

    def clear_temp(self) -> None:
        """Removes temp files left by writes that a crash interrupted."""
        shutil.rmtree(self.tmp, ignore_errors=True)
        self.tmp.mkdir(parents=True, exist_ok=True)
