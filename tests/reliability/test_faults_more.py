"""More faults: the disk filling up while a fit saves the trained model, a client that drops
its event stream mid-job, and the container's user. Nothing stored is lost."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.reliability.helpers import create_model, data, fit_body, snapshot, upload
from tests.server.conftest import Server, create_key, start_server, stop_server, wait_job
from tests.server.test_docker import DOCKERFILE, parse_dockerfile

# Dense(4 -> 100_000) -> Dense(3): 800_003 float32 weights, a 3.2 MB checkpoint (6.4 MB more of
# Adam state), next to a dataset of a few kB.
HIDDEN = 100_000


@contextlib.contextmanager
def _tmpfs(directory: Path, megabytes: int) -> Iterator[None]:
    directory.mkdir()
    mount = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={megabytes}m", "tmpfs",
                            str(directory)], capture_output=True, text=True)
    if mount.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mount.stderr.strip()}")
    try:
        yield
    finally:
        subprocess.run(["umount", "-l", str(directory)], check=False)


def _fill(path: Path, leave: int) -> None:
    """Writes a file that leaves about ``leave`` bytes free on ``path``'s file system."""
    st = os.statvfs(path.parent)
    size = st.f_bavail * st.f_frsize - leave
    assert size > 0, (st.f_bavail * st.f_frsize, leave)
    with open(path, "wb") as f:
        chunk = b"\0" * (1 << 20)
        while size > 0:
            size -= f.write(chunk[:size])


def _digest(api: httpx.Client, model_id: str) -> str:
    r = api.get(f"/models/{model_id}/weights")
    assert r.status_code == 200, r.text
    return hashlib.sha256(r.content).hexdigest()


def test_disk_full_during_the_checkpoint_fails_the_fit_and_keeps_the_model(tmp_path: Path
                                                                          ) -> None:
    data_dir = tmp_path / "data"
    with _tmpfs(data_dir, 32):
        srv = start_server(data_dir, workers=1)
        try:
            api = srv.client(create_key(srv.data_dir, "disk"))
            model_id = create_model(api, hidden=HIDDEN)
            x, y = data(64)
            ds = upload(api, x=x, y=y)
            before = snapshot(api)
            checkpoint = len(api.get(f"/models/{model_id}/weights").content)
            assert checkpoint > 3_000_000
            # The dataset is read and training runs; only the end-of-fit save does not fit.
            filler = tmp_path / "data" / "filler"
            _fill(filler, checkpoint // 2)
            failed = wait_job(api, api.post("/jobs", json=fit_body(model_id, ds)).json()["id"],
                              timeout=60)
            assert failed["status"] == "failed", failed
            assert "storage is full" in failed["error"], failed["error"]
            assert "keeps the state it had before the job" in failed["error"]
            assert failed["progress"]["epoch"] == 1, failed  # it had trained: the save failed
            after = snapshot(api)
            assert after["models"] == before["models"]
            assert after["datasets"] == before["datasets"]
            assert after["jobs"] == {**before["jobs"], failed["id"]: ("failed",
                                                                     failed["finished_at"])}
            # No partial checkpoint is left behind, in the temp dir or as an orphan blob.
            assert list((srv.data_dir / "tmp").iterdir()) == []
            blobs = sorted(p.name for p in (srv.data_dir / "blobs").rglob("*") if p.is_file())
            with sqlite3.connect(srv.data_dir / "numkeras.sqlite3") as db:
                assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
                known = {k for row in db.execute(
                    "SELECT weights_blob, optimizer_blob FROM models UNION ALL "
                    "SELECT blob, NULL FROM datasets") for k in row if k}
            assert set(blobs) <= known, set(blobs) - known
            # Still serving, and once space is freed the same fit succeeds.
            assert httpx.get(srv.url + "/v1/health").status_code == 200
            filler.unlink()
            done = wait_job(api, api.post("/jobs", json=fit_body(model_id, ds)).json()["id"],
                            timeout=60)
            assert done["status"] == "succeeded", done
            assert _digest(api, model_id) != before["models"][model_id][1]
            assert api.get(f"/models/{model_id}").json()["updated_at"] > json.loads(
                before["models"][model_id][0])["updated_at"]
        finally:
            stop_server(srv)


def _follow(api: httpx.Client, job_id: str, last_event_id: int | None = None,
            stop_after: int | None = None) -> tuple[list[tuple[int, str, str]], str]:
    """Reads the job's server-sent events: all of them, or ``stop_after`` and then drops the
    connection. Returns the events and the job's status when the stream was left."""
    headers = {} if last_event_id is None else {"Last-Event-ID": str(last_event_id)}
    events: list[tuple[int, str, str]] = []
    current: dict[str, str] = {}
    with api.stream("GET", f"/jobs/{job_id}/events", headers=headers) as r:
        assert r.status_code == 200, r.read()
        for line in r.iter_lines():
            if line.startswith(":"):
                continue
            if line:
                field, _, value = line.partition(": ")
                current[field] = value
                continue
            if current:
                events.append((int(current["id"]), current["event"], current["data"]))
                current = {}
            if stop_after is not None and len(events) == stop_after:
                return events, api.get(f"/jobs/{job_id}").json()["status"]
    return events, api.get(f"/jobs/{job_id}").json()["status"]


def test_client_dropping_the_event_stream_then_resuming(server: Server, api: httpx.Client
                                                        ) -> None:
    model_id = create_model(api)
    x, y = data(400)
    ds = upload(api, x=x, y=y)
    job = api.post("/jobs", json=fit_body(model_id, ds, epochs=60, batch_size=8)).json()
    head, status = _follow(api, job["id"], stop_after=3)
    assert status == "running", "the job ended before the client dropped its stream"
    # The server keeps serving while the job runs on after the client left.
    assert httpx.get(server.url + "/v1/health").status_code == 200
    assert api.get(f"/models/{model_id}").status_code == 200
    tail, status = _follow(api, job["id"], last_event_id=head[-1][0])
    assert status == "succeeded"
    full, _ = _follow(api, job["id"])
    assert head + tail == full
    ids = [i for i, _, _ in full]
    assert ids == sorted(set(ids))
    assert [k for _, k, _ in full].count("epoch_end") == 60
    assert full[-1][1] == "status" and json.loads(full[-1][2])["status"] == "succeeded"
    history = api.get(f"/jobs/{job['id']}/history").json()
    assert len(history["history"]["loss"]) == 60


def _final_stage(instructions: list[tuple[str, str]]) -> list[tuple[str, str]]:
    starts = [i for i, (word, _) in enumerate(instructions) if word == "FROM"]
    assert starts, "the Dockerfile has no FROM"
    return instructions[starts[-1]:]


def test_container_runs_its_command_as_a_non_root_user() -> None:
    stage = _final_stage(parse_dockerfile(DOCKERFILE))
    words = [w for w, _ in stage]
    start = min(words.index(w) for w in ("ENTRYPOINT", "CMD") if w in words)
    users = [args.split()[0] for w, args in stage[:start] if w == "USER"]
    assert users, "no USER before the final stage's ENTRYPOINT/CMD: it would run as root"
    user, _, group = users[-1].partition(":")
    assert user not in ("root", "0") and not user.startswith("$"), users[-1]
    assert group not in ("root", "0"), users[-1]
    # A numeric uid must be one the image creates (a name must be created too).
    created = " ".join(args for w, args in stage if w == "RUN")
    assert (f"--uid {user}" in created) if user.isdigit() else (f" {user}" in created), created
    assert all(w != "USER" for w in words[start:]), "USER changes after the start command"
