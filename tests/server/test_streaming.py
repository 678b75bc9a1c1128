"""Streamed jobs: fit / evaluate / predict on batches the client pushes while the job runs
(Keras's *_generator methods, remotely), with a bounded queue and a batch timeout."""

from __future__ import annotations

import threading
import time

import httpx
import numpy as np
import pytest

from numkeras import wire
from tests.server.conftest import wait_job
from tests.server.test_server import (
    assert_error,
    create_model,
    data,
    get_weights,
    local_model,
    ref,
    upload,
)


def _batches(n_batches: int, size: int = 16, seed: int = 0) -> list[tuple[np.ndarray, ...]]:
    x, y = data(n_batches * size, seed=seed)
    sw = np.random.default_rng(seed + 1).uniform(0.5, 2.0, size=len(x)).astype(np.float32)
    return [(x[i:i + size], y[i:i + size], sw[i:i + size]) for i in range(0, len(x), size)]


def _push(api: httpx.Client, job_id: str, arrays: dict, **params: float) -> httpx.Response:
    return api.post(f"/jobs/{job_id}/batches", content=wire.encode_arrays(arrays),
                    params=params)


def _running(api: httpx.Client, job_id: str) -> None:
    wait_job(api, job_id, ("running", "succeeded", "failed", "cancelled"))


def test_streamed_fit_gives_the_history_of_an_in_process_fit_generator(api) -> None:
    model_id = create_model(api)
    local = local_model(api, model_id)
    batches = _batches(12)
    xv, yv = data(20, seed=5)
    val = upload(api, x=xv, y=yv)
    r = api.post("/jobs", json={"kind": "fit", "model_id": model_id, "stream": True,
                                "steps_per_epoch": 4, "epochs": 3, "max_queue_size": 3,
                                "validation_data": {"x": ref(val, "x"), "y": ref(val, "y")},
                                "class_weight": {"0": 1.0, "1": 2.0, "2": 0.5}})
    assert r.status_code == 201, r.text
    job = r.json()
    assert job["stream"] is True
    for i, (x, y, sw) in enumerate(batches):
        # Per-input / per-output names, as in the *_on_batch bodies, on every other batch.
        arrays = ({"x": x, "y": y, "sample_weight": sw} if i % 2 else
                  {"x:features": x, "y:probs": y, "sample_weight": sw})
        r = _push(api, job["id"], arrays)
        assert r.status_code == 202, r.text
        assert r.json()["queued"] <= 3
    finished = wait_job(api, job["id"])
    assert finished["status"] == "succeeded", finished
    queue = api.get(f"/jobs/{job['id']}/batches").json()
    assert queue["pushed"] == queue["consumed"] == 12 and queue["queued"] == 0
    history = api.get(f"/jobs/{job['id']}/history").json()
    expected = local.fit_generator(iter(batches), steps_per_epoch=4, epochs=3,
                                   validation_data=(xv, yv), verbose=0,
                                   class_weight={0: 1.0, 1: 2.0, 2: 0.5})
    assert history["epoch"] == [0, 1, 2]
    assert set(history["history"]) == set(expected.history) == {
        "loss", "accuracy", "val_loss", "val_accuracy"}
    for name, values in expected.history.items():
        np.testing.assert_allclose(history["history"][name], values, rtol=1e-5, atol=1e-6)
    for got, want in zip(get_weights(api, model_id), local.get_weights(), strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    # The job is over: it takes no more batches.
    assert_error(_push(api, job["id"], {"x": batches[0][0], "y": batches[0][1]}), 409)


def test_end_of_data_stops_like_an_exhausted_generator(api) -> None:
    model_id = create_model(api)
    local = local_model(api, model_id)
    batches = _batches(5, seed=2)
    job = api.post("/jobs", json={"kind": "fit", "model_id": model_id, "stream": True,
                                  "steps_per_epoch": 4, "epochs": 3}).json()
    for x, y, _ in batches:
        assert _push(api, job["id"], {"x": x, "y": y}).status_code == 202
    end = api.post(f"/jobs/{job['id']}/batches/end")
    assert end.status_code == 200 and end.json()["ended"] is True
    assert_error(_push(api, job["id"], {"x": batches[0][0], "y": batches[0][1]}), 409)
    assert wait_job(api, job["id"])["status"] == "succeeded"
    history = api.get(f"/jobs/{job['id']}/history").json()
    with pytest.warns(UserWarning, match="ran out of data"):
        expected = local.fit_generator(iter([b[:2] for b in batches]), steps_per_epoch=4,
                                       epochs=3, verbose=0)
    assert history["epoch"] == expected.epoch == [0, 1]
    for name, values in expected.history.items():
        np.testing.assert_allclose(history["history"][name], values, rtol=1e-5, atol=1e-6)


def test_streamed_evaluate_and_predict(api) -> None:
    model_id = create_model(api)
    local = local_model(api, model_id)
    batches = _batches(3, size=10, seed=4)
    ev = api.post("/jobs", json={"kind": "evaluate", "model_id": model_id, "stream": True,
                                 "steps": 3}).json()
    pr = api.post("/jobs", json={"kind": "predict", "model_id": model_id, "stream": True,
                                 "steps": 3}).json()
    for x, y, sw in batches:
        assert _push(api, ev["id"], {"x": x, "y": y, "sample_weight": sw}).status_code == 202
        assert _push(api, pr["id"], {"x:features": x}).status_code == 202
    assert wait_job(api, ev["id"])["status"] == "succeeded"
    assert wait_job(api, pr["id"])["status"] == "succeeded"
    result = api.get(f"/jobs/{ev['id']}/result").json()
    np.testing.assert_allclose(result["result"],
                               local.evaluate_generator(iter(batches), steps=3), rtol=1e-5)
    outputs = wire.decode_arrays(api.get(f"/jobs/{pr['id']}/result").content)
    x_all = np.concatenate([b[0] for b in batches])
    np.testing.assert_allclose(outputs["probs"], local.predict(x_all), rtol=1e-5, atol=1e-7)


def test_a_silent_client_fails_the_job_with_the_timeout_reason(api) -> None:
    model_id = create_model(api)
    (x, y, _), = _batches(1)
    job = api.post("/jobs", json={"kind": "fit", "model_id": model_id, "stream": True,
                                  "steps_per_epoch": 5, "epochs": 2,
                                  "batch_timeout": 0.5}).json()
    assert _push(api, job["id"], {"x": x, "y": y}).status_code == 202
    before = get_weights(api, model_id)
    finished = wait_job(api, job["id"])
    assert finished["status"] == "failed"
    assert finished["error"].startswith("batch_timeout: no batch arrived for 0.5 s")
    body = assert_error(_push(api, job["id"], {"x": x, "y": y}), 409)
    assert "batch_timeout" in body["message"]
    for got, want in zip(get_weights(api, model_id), before, strict=True):
        np.testing.assert_array_equal(got, want)


def test_backpressure_bounds_the_queue(server, api) -> None:
    model_id = create_model(api)
    batches = _batches(5, size=8, seed=7)
    # Keep every worker busy with a streamed job waiting for its first batch.
    workers = httpx.get(server.url + "/v1/health").json()["workers"]
    blockers = [api.post("/jobs", json={"kind": "predict", "model_id": model_id,
                                        "stream": True, "steps": 1}).json()
                for _ in range(workers)]
    for blocker in blockers:
        _running(api, blocker["id"])
    job = api.post("/jobs", json={"kind": "predict", "model_id": model_id, "stream": True,
                                  "steps": 5, "max_queue_size": 2}).json()
    assert api.get(f"/jobs/{job['id']}").json()["status"] == "queued"
    for x, _, _ in batches[:2]:
        assert _push(api, job["id"], {"x": x}, wait=0).status_code == 202
    full = _push(api, job["id"], {"x": batches[2][0]}, wait=0.2)
    body = assert_error(full, 429)
    assert full.headers["Retry-After"] == "1"
    assert body["queued"] == body["max_queue_size"] == 2
    queue = api.get(f"/jobs/{job['id']}/batches").json()
    assert (queue["pushed"], queue["queued"], queue["ended"]) == (2, 2, False)
    # A push that waits for room goes through once the worker takes batches.
    answer: list[httpx.Response] = []
    pusher = threading.Thread(target=lambda: answer.append(
        _push(api, job["id"], {"x": batches[2][0]}, wait=30)))
    pusher.start()
    time.sleep(0.3)
    assert not answer, "the push did not wait for room in the queue"
    for blocker in blockers:
        assert api.post(f"/jobs/{blocker['id']}/cancel").status_code == 200
    pusher.join(30)
    assert answer and answer[0].status_code == 202, answer
    for x, _, _ in batches[3:]:
        assert _push(api, job["id"], {"x": x}).status_code == 202
    assert wait_job(api, job["id"])["status"] == "succeeded"
    assert {wait_job(api, b["id"])["status"] for b in blockers} == {"cancelled"}
    local = local_model(api, model_id)
    outputs = wire.decode_arrays(api.get(f"/jobs/{job['id']}/result").content)
    np.testing.assert_allclose(outputs["probs"],
                               local.predict(np.concatenate([b[0] for b in batches])),
                               rtol=1e-5, atol=1e-7)


def test_bad_streamed_jobs_and_batches(api, other_api) -> None:
    model_id = create_model(api)
    ds = upload(api, x=data(8)[0], y=data(8)[1])
    base = {"kind": "fit", "model_id": model_id, "stream": True}
    assert_error(api.post("/jobs", json=base), 422, "steps_per_epoch")
    assert_error(api.post("/jobs", json={**base, "steps_per_epoch": 2, "x": ref(ds, "x")}),
                 422, "x")
    assert_error(api.post("/jobs", json={**base, "steps_per_epoch": 2, "batch_size": 4}),
                 422, "batch_size")
    assert_error(api.post("/jobs", json={**base, "steps_per_epoch": 2, "max_queue_size": 0}),
                 422, "max_queue_size")
    assert_error(api.post("/jobs", json={"kind": "predict", "model_id": model_id,
                                         "stream": True}), 422, "steps")
    assert_error(api.post("/jobs", json={"kind": "fit", "model_id": model_id}), 422, "x")
    # Queue arguments belong to streamed jobs only.
    assert_error(api.post("/jobs", json={"kind": "fit", "model_id": model_id,
                                         "x": ref(ds, "x"), "y": ref(ds, "y"),
                                         "batch_timeout": 5}), 422, "batch_timeout")
    plain = api.post("/jobs", json={"kind": "predict", "model_id": model_id,
                                    "x": ref(ds, "x")}).json()
    assert_error(_push(api, plain["id"], {"x": data(8)[0]}), 409)
    job = api.post("/jobs", json={**base, "steps_per_epoch": 1, "batch_timeout": 30}).json()
    x, y = data(8)
    assert_error(_push(api, job["id"], {"y": y}), 422, "x")
    assert_error(_push(api, job["id"], {"x": x}), 422, "y")
    assert_error(_push(api, job["id"], {"x": x, "y": y, "z": y}), 422, "body")
    assert_error(_push(api, job["id"], {"x:nope": x, "y": y}), 422, "body")
    assert_error(_push(api, job["id"], {"x": x[:, :3], "y": y}), 422, "x")
    assert_error(_push(api, job["id"], {"x": x, "y": y[:5]}), 422, "body")
    r = api.post(f"/jobs/{job['id']}/batches", content=b"not an npz")
    assert_error(r, 422, "body")
    assert api.get(f"/jobs/{job['id']}/batches").json()["pushed"] == 0
    assert_error(api.post("/jobs/job_nope/batches", content=wire.encode_arrays({"x": x})), 404)
    # Another tenant can neither push to the job nor see or end its queue.
    assert_error(_push(other_api, job["id"], {"x": x, "y": y}), 404)
    assert_error(other_api.get(f"/jobs/{job['id']}/batches"), 404)
    assert_error(other_api.post(f"/jobs/{job['id']}/batches/end"), 404)
    assert api.post(f"/jobs/{job['id']}/cancel").status_code == 200
    assert wait_job(api, job["id"])["status"] == "cancelled"
