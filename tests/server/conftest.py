"""A real numkeras server for the session: uvicorn in a subprocess, a temp data dir, two job
workers; API keys made with the CLI."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

MAX_REQUEST_MB = 8


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def create_key(data_dir: Path, name: str) -> str:
    out = subprocess.run([sys.executable, "-m", "numkeras.cli", "keys", "create", name,
                          "--data-dir", str(data_dir)], check=True, capture_output=True,
                         text=True, timeout=60)
    return out.stdout.strip().splitlines()[-1]


class Server:
    """The running server: its URL, data dir, process and keys."""

    def __init__(self, url: str, data_dir: Path, process: subprocess.Popen, log: Path) -> None:
        self.url, self.data_dir, self.process, self.log = url, data_dir, process, log
        self.clients: list[httpx.Client] = []

    def client(self, key: str | None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        client = httpx.Client(base_url=self.url + "/v1", headers=headers, timeout=60.0)
        self.clients.append(client)
        return client


def start_server(data_dir: Path, workers: int = 2, extra: list[str] | None = None) -> Server:
    """Starts ``numkeras serve`` on a free loopback port and waits for /v1/health; ``extra``
    arguments are appended to the command line."""
    port = _free_port()
    log = data_dir.parent / f"server-{port}.log"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "numkeras.cli", "serve", "--port", str(port), "--data-dir",
             str(data_dir), "--workers", str(workers), "--max-request-mb", str(MAX_REQUEST_MB),
             "--log-level", "warning", *(extra or [])],
            stdout=out, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(url + "/v1/health", timeout=1.0).status_code == 200:
                break
        except httpx.TransportError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"the server did not start:\n{log.read_text()}")
        time.sleep(0.1)
    return Server(url, data_dir, process, log)


def stop_server(srv: Server) -> None:
    for client in srv.clients:
        client.close()
    srv.process.terminate()
    try:
        srv.process.wait(15)
    except subprocess.TimeoutExpired:
        srv.process.kill()
        srv.process.wait()


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = start_server(tmp_path_factory.mktemp("numkeras-data"))
    try:
        yield srv
    finally:
        stop_server(srv)


@pytest.fixture(scope="session")
def api(server: Server) -> httpx.Client:
    """A client with a key made by ``numkeras keys create``."""
    return server.client(create_key(server.data_dir, "tests"))


@pytest.fixture(scope="session")
def other_api(server: Server) -> httpx.Client:
    """A client of a second tenant."""
    return server.client(create_key(server.data_dir, "other"))


def wait_job(api: httpx.Client, job_id: str, statuses: tuple[str, ...] = (
        "succeeded", "failed", "cancelled"), timeout: float = 30.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        job = api.get(f"/jobs/{job_id}").json()
        if job["status"] in statuses:
            return job
        if time.monotonic() > deadline:
            raise AssertionError(f"job {job_id} still {job['status']} after {timeout} s: {job}")
        time.sleep(0.02)
