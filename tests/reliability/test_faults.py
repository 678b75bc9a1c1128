"""Faults: cancel in every job state, two servers on one data dir, a client that disconnects
mid-upload, and a disk that fills during an upload. None loses or corrupts what is stored."""

from __future__ import annotations

import contextlib
import functools
import resource
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest

from numkeras import wire
from numkeras.server.storage.lock import DataDirLocked, lock_data_dir
from tests.reliability.helpers import assert_error, create_model, data, fit_body, snapshot, upload
from tests.server import conftest
from tests.server.conftest import Server, create_key, start_server, stop_server, wait_job


@pytest.fixture(scope="module")
def one_worker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, httpx.Client]]:
    """A server with one job worker, so that a second job stays queued behind a long one."""
    srv = start_server(tmp_path_factory.mktemp("one-worker") / "data", workers=1)
    try:
        yield srv, srv.client(create_key(srv.data_dir, "faults"))
    finally:
        stop_server(srv)


def _running(api: httpx.Client, job_id: str) -> dict:
    """Waits until the job has finished a batch (it is really training)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        job = api.get(f"/jobs/{job_id}").json()
        if job["status"] == "running" and job["progress"]:
            return job
        assert job["status"] in ("queued", "running"), job
        time.sleep(0.02)
    raise AssertionError(f"job {job_id} did not start")


def test_cancel_in_every_job_state(one_worker: tuple[Server, httpx.Client]) -> None:
    """queued -> cancelled at once; running -> cancelled within a batch, the model keeps its
    weights; finished (succeeded, cancelled) -> 200 and a no-op: the job stays as it ended."""
    _, api = one_worker
    model_id = create_model(api)
    x, y = data(400)
    ds = upload(api, x=x, y=y)
    weights = api.get(f"/models/{model_id}/weights").content
    long_job = api.post("/jobs", json=fit_body(model_id, ds, epochs=5000, batch_size=8)).json()
    queued = api.post("/jobs", json=fit_body(model_id, ds, epochs=1)).json()
    _running(api, long_job["id"])
    assert api.get(f"/jobs/{queued['id']}").json()["status"] == "queued"

    r = api.post(f"/jobs/{queued['id']}/cancel")
    assert r.status_code == 200 and r.json()["status"] == "cancelled", r.text

    r = api.post(f"/jobs/{long_job['id']}/cancel")
    assert r.status_code == 200 and r.json()["cancel_requested"], r.text
    assert wait_job(api, long_job["id"])["status"] == "cancelled"
    assert api.get(f"/models/{model_id}/weights").content == weights

    done = api.post("/jobs", json={"kind": "evaluate", "model_id": model_id,
                                   "x": {"dataset_id": ds, "arrays": "x"},
                                   "y": {"dataset_id": ds, "arrays": "y"}}).json()
    finished = wait_job(api, done["id"])
    assert finished["status"] == "succeeded"
    for job in (finished, api.get(f"/jobs/{queued['id']}").json()):
        r = api.post(f"/jobs/{job['id']}/cancel")
        assert r.status_code == 200, r.text
        assert r.json() == job
    assert api.get(f"/jobs/{done['id']}/result").status_code == 200
    assert api.get(f"/models/{model_id}/weights").content == weights


def test_second_server_on_a_data_dir_is_refused(one_worker: tuple[Server, httpx.Client]
                                                ) -> None:
    srv, api = one_worker
    create_model(api)
    before = snapshot(api)
    second = subprocess.run(
        [sys.executable, "-m", "numkeras.cli", "serve", "--port", "1", "--data-dir",
         str(srv.data_dir), "--workers", "1"], capture_output=True, text=True, timeout=60)
    assert second.returncode != 0
    assert "already served by another numkeras server" in second.stderr, second.stderr
    assert f"pid {srv.process.pid}" in second.stderr
    # The app itself (however it is served) takes the same lock on start-up.
    with pytest.raises(DataDirLocked, match="already served"):
        lock_data_dir(srv.data_dir)
    assert srv.process.poll() is None
    assert snapshot(api) == before
    with sqlite3.connect(srv.data_dir / "numkeras.sqlite3") as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_lock_is_released_when_the_server_stops(tmp_path: Path) -> None:
    srv = start_server(tmp_path / "data", workers=1)
    stop_server(srv)
    lock_data_dir(tmp_path / "data").close()


def _send_partial(url: str, path: str, key: str, declared: int, sent: bytes) -> None:
    """Sends the headers and part of a body, then drops the connection."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as s:
        s.sendall((f"{path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {key}\r\n"
                   f"Content-Type: {wire.NPZ_MEDIA_TYPE}\r\nContent-Length: {declared}\r\n\r\n"
                   ).encode() + sent)
        time.sleep(0.3)


def _temp_files(data_dir: Path) -> list[str]:
    return sorted(p.name for p in (data_dir / "tmp").iterdir())


def _eventually(check: object, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():  # type: ignore[operator]
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.05)


def test_client_disconnecting_mid_upload_leaves_nothing(one_worker: tuple[Server, httpx.Client]
                                                        ) -> None:
    srv, api = one_worker
    key = api.headers["Authorization"].split()[1]
    body = wire.encode_arrays({"x": np.ones((100_000, 4), np.float32)})
    before = snapshot(api)
    _send_partial(srv.url, "POST /v1/datasets", key, len(body), body[: len(body) // 3])
    _eventually(lambda: _temp_files(srv.data_dir) == [])
    up = api.post("/datasets/uploads", json={"name": "cut"}).json()
    first = api.put(f"/datasets/uploads/{up['id']}", params={"offset": 0},
                    content=body[:1000])
    assert first.status_code == 200, first.text
    _send_partial(srv.url, f"PUT /v1/datasets/uploads/{up['id']}?offset=1000", key,
                  len(body) - 1000, body[1000: len(body) // 2])
    part = srv.data_dir / "uploads" / f"{up['id']}.part"
    _eventually(lambda: part.stat().st_size == 1000)
    assert api.get(f"/datasets/uploads/{up['id']}").json()["received"] == 1000
    # The upload resumes where it was and completes.
    r = api.put(f"/datasets/uploads/{up['id']}", params={"offset": 1000}, content=body[1000:])
    assert r.status_code == 200, r.text
    ds = api.post(f"/datasets/uploads/{up['id']}/finalize")
    assert ds.status_code == 201, ds.text
    assert api.get(f"/datasets/{ds.json()['id']}/arrays").content == body
    after = snapshot(api)
    del after["datasets"][ds.json()["id"]]
    assert {**after, "uploads": {}} == {**before, "uploads": {}}


@contextlib.contextmanager
def _small_disk(directory: Path, megabytes: int, how: str) -> Iterator[str]:
    """A size-limited data dir: a tmpfs (``how="tmpfs"``, when this process may mount one), or
    a file size limit (RLIMIT_FSIZE) on the server process. Yields which one it is."""
    directory.mkdir()
    mounted = how == "tmpfs" and subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={megabytes}m", "tmpfs", str(directory)],
        capture_output=True).returncode == 0
    if mounted:
        try:
            yield "tmpfs"
        finally:
            subprocess.run(["umount", "-l", str(directory)], check=False)
        return

    def limit() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails (EFBIG)
        size = megabytes << 20
        resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(conftest.subprocess, "Popen",
                   functools.partial(subprocess.Popen, preexec_fn=limit))
        yield "rlimit"


@pytest.mark.parametrize("limit", ["tmpfs", "rlimit"])
def test_disk_full_during_upload_gives_507_and_keeps_serving(tmp_path: Path, limit: str
                                                             ) -> None:
    with _small_disk(tmp_path / "small", 4, limit) as how:
        srv = start_server(tmp_path / "small" / "data", workers=1)
        try:
            api = srv.client(create_key(srv.data_dir, "disk"))
            x, y = data(64)
            small = upload(api, x=x, y=y)
            before = snapshot(api)
            big = wire.encode_arrays({"x": np.ones((6 << 20) // 4, np.float32)})
            body = assert_error(api.post("/datasets", content=big), 507, 507)
            assert "storage is full" in body["message"], (how, body)
            assert _temp_files(srv.data_dir) == []
            up = api.post("/datasets/uploads", json={"name": "big"}).json()
            assert_error(api.put(f"/datasets/uploads/{up['id']}", params={"offset": 0},
                                 content=big), 507, 507)
            assert api.get(f"/datasets/uploads/{up['id']}").json()["received"] == 0
            assert (srv.data_dir / "uploads" / f"{up['id']}.part").stat().st_size == 0
            assert api.delete(f"/datasets/uploads/{up['id']}").status_code == 204
            assert snapshot(api) == before
            # Still serving: reads, and a write that fits.
            assert httpx.get(srv.url + "/v1/health").status_code == 200
            assert api.get(f"/datasets/{small}/arrays").content == wire.encode_arrays(
                {"x": x, "y": y})
            upload(api, x=x)
            with sqlite3.connect(srv.data_dir / "numkeras.sqlite3") as db:
                assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        finally:
            stop_server(srv)
