"""Server settings: one object built by the CLI (or a test) and handed to ``create_app``."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path


def _default_workers() -> int:
    return max(1, os.cpu_count() or 1)


@dataclass
class Settings:
    """Settings of one server.

    Attributes:
        data_dir: Directory of the SQLite database and the blob files.
        host: Interface to listen on.
        port: TCP port.
        workers: Number of job worker processes (default: one per core).
        call_workers: Processes for the synchronous calls (model inspection, compile checks,
            ``*_on_batch``), separate from the job workers so that they answer while every job
            worker is busy.
        max_request_bytes: Largest request body accepted; larger ones get 413. A chunk of a
            chunked upload is one request.
        max_upload_bytes: Largest dataset a chunked upload may assemble (413 beyond).
        upload_expiry: Seconds after its last chunk that an unfinished upload is deleted.
        poll_interval: Seconds between looks at the database of an idle worker or event stream.
        cors_origins: Browser origins allowed to call the API (CORS); none by default.
    """

    data_dir: Path = field(default_factory=lambda: Path("numkeras-data"))
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = field(default_factory=_default_workers)
    call_workers: int = 1
    max_request_bytes: int = 1 << 30
    max_upload_bytes: int = 1 << 36
    upload_expiry: float = 24 * 3600.0
    poll_interval: float = 0.05
    cors_origins: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.data_dir = Path(self.data_dir)
        if self.workers < 1:
            raise ValueError(f"workers must be >= 1, got {self.workers}.")
        if self.call_workers < 1:
            raise ValueError(f"call_workers must be >= 1, got {self.call_workers}.")
        if self.max_request_bytes < 1:
            raise ValueError(f"max_request_bytes must be >= 1, got {self.max_request_bytes}.")
        if self.max_upload_bytes < 1:
            raise ValueError(f"max_upload_bytes must be >= 1, got {self.max_upload_bytes}.")
        if not self.upload_expiry > 0:
            raise ValueError(f"upload_expiry must be > 0 seconds, got {self.upload_expiry}.")

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"
