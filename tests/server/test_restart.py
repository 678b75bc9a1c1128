"""The server killed with SIGKILL mid-job and restarted on the same data dir."""

from __future__ import annotations

import signal

import httpx
import numpy as np

from numkeras import wire
from tests.server.conftest import create_key, start_server, stop_server, wait_job
from tests.server.test_server import create_model, data, get_weights, ref, upload


def test_server_killed_mid_job_restarts_with_everything(tmp_path) -> None:
    data_dir = tmp_path / "data"
    first = start_server(data_dir, workers=1)
    try:
        key = create_key(data_dir, "restart")
        api = first.client(key)
        model_id = create_model(api)
        x, y = data(64)
        ds = upload(api, x=x, y=y)
        short = {"kind": "fit", "model_id": model_id, "x": ref(ds, "x"), "y": ref(ds, "y"),
                 "epochs": 2, "batch_size": 16}
        done = wait_job(api, api.post("/jobs", json=short).json()["id"])
        assert done["status"] == "succeeded"
        weights = get_weights(api, model_id)
        history = api.get(f"/jobs/{done['id']}/history").json()
        # A chunked upload half done when the server dies.
        body = wire.encode_arrays({"x": x, "y": y})
        up = api.post("/datasets/uploads", json={"name": "resumed"}).json()
        assert api.put(f"/datasets/uploads/{up['id']}", params={"offset": 0},
                       content=body[:1000]).status_code == 200
        running = api.post("/jobs", json={**short, "epochs": 1_000_000, "batch_size": 4})
        wait_job(api, running.json()["id"], ("running",))
        first.process.send_signal(signal.SIGKILL)
        first.process.wait(10)
    finally:
        stop_server(first)
    second = start_server(data_dir, workers=1)
    try:
        api = second.client(key)
        job = api.get(f"/jobs/{running.json()['id']}").json()
        assert job["status"] == "failed" and job["error"].startswith("interrupted"), job
        for got, want in zip(get_weights(api, model_id), weights, strict=True):
            np.testing.assert_array_equal(got, want)
        assert api.get(f"/jobs/{done['id']}/history").json() == history
        arrays = wire.decode_arrays(api.get(f"/datasets/{ds}/arrays").content)
        np.testing.assert_array_equal(arrays["x"], x)
        assert api.get(f"/models/{model_id}").json()["compiled"] is True
        # The upload resumes where it was.
        assert api.get(f"/datasets/uploads/{up['id']}").json()["received"] == 1000
        assert api.put(f"/datasets/uploads/{up['id']}", params={"offset": 1000},
                       content=body[1000:]).status_code == 200
        resumed = api.post(f"/datasets/uploads/{up['id']}/finalize").json()
        arrays = wire.decode_arrays(api.get(f"/datasets/{resumed['id']}/arrays").content)
        np.testing.assert_array_equal(arrays["y"], y)
        # The killed server's worker noticed and exited; the new one runs jobs.
        again = wait_job(api, api.post("/jobs", json=short).json()["id"])
        assert again["status"] == "succeeded"
        assert httpx.get(second.url + "/v1/health").json()["workers_alive"] == 1
    finally:
        stop_server(second)
