"""The service end to end: routes, auth, jobs in worker processes, events, bad input."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import time

import httpx
import numpy as np
import pytest

import numkeras.engine as keras
from numkeras import wire
from tests.server.conftest import MAX_REQUEST_MB, wait_job

COMPILE = {"optimizer": {"class_name": "Adam", "config": {"learning_rate": 0.01}},
           "loss": "sparse_categorical_crossentropy", "metrics": ["accuracy"]}


def model_json(hidden: int = 8) -> dict:
    a = keras.Input(shape=(4,), name="features")
    h = keras.layers.Dense(hidden, activation="relu", name="hidden")(a)
    b = keras.layers.Dense(3, activation="softmax", name="probs")(h)
    return json.loads(keras.Model(inputs=a, outputs=b, name="clf").to_json())


def data(n: int = 64, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 4)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int64) + (x[:, 1] > 0.5).astype(np.int64)
    return x, y


def create_model(api: httpx.Client, compile_args: dict | None = COMPILE) -> str:
    r = api.post("/models", json={"config": model_json()})
    assert r.status_code == 201, r.text
    if compile_args is not None:
        assert api.put(f"/models/{r.json()['id']}/compile", json=compile_args).status_code == 200
    return r.json()["id"]


def upload(api: httpx.Client, **arrays: np.ndarray) -> str:
    r = api.post("/datasets", content=wire.encode_arrays(arrays))
    assert r.status_code == 201, r.text
    return r.json()["id"]


def get_weights(api: httpx.Client, model_id: str) -> list[np.ndarray]:
    r = api.get(f"/models/{model_id}/weights")
    assert r.status_code == 200
    arrays = wire.decode_arrays(r.content)
    return [arrays[f"arr_{i}"] for i in range(len(arrays))]


def local_model(api: httpx.Client, model_id: str) -> keras.Model:
    """The same model in this process: same architecture, same current weights, same compile."""
    config = api.get(f"/models/{model_id}").json()["config"]
    model = keras.models.model_from_json(json.dumps(config))
    model.set_weights(get_weights(api, model_id))
    model.compile(**{**COMPILE, "optimizer": keras.optimizers.Adam(learning_rate=0.01)})
    return model


def ref(ds: str, arrays: object) -> dict:
    return {"dataset_id": ds, "arrays": arrays}


def assert_error(r: httpx.Response, status: int, argument: str | None = None) -> dict:
    assert r.status_code == status, r.text
    body = r.json()
    assert isinstance(body["message"], str) and body["message"]
    if argument is not None:
        assert body.get("argument") == argument, body
    return body


def state(api: httpx.Client) -> tuple:
    """Everything the tenant has stored, to show that bad input changed nothing."""
    models = [(m["id"], m["updated_at"]) for m in api.get("/models").json()]
    weights = [wire.decode_arrays(api.get(f"/models/{m}/weights").content) for m, _ in models]
    return (models, [sorted((k, v.tobytes()) for k, v in w.items()) for w in weights],
            api.get("/datasets").json(), api.get("/jobs").json())


# ---------------------------------------------------------------------------------------------
def test_health_needs_no_key(server) -> None:
    r = httpx.get(server.url + "/v1/health")
    assert r.status_code == 200
    assert r.json()["status"] == "ok" and r.json()["workers"] == 2


def test_first_start_prints_client_settings(server) -> None:
    lines = server.log.read_text().splitlines()
    assert f"export NUMKERAS_URL={server.url}" in lines
    key = next(line.split("=", 1)[1] for line in lines
               if line.startswith("export NUMKERAS_API_KEY="))
    assert server.client(key).get("/models").json() == []


def test_web_process_does_not_load_the_engine() -> None:
    code = ("import sys; from numkeras.server import Settings, create_app; "
            "create_app(Settings(data_dir=sys.argv[1])); import numkeras.cli; "
            "print(sorted(m for m in sys.modules if m.startswith('numkeras.engine') "
            "or m.split('.')[0] == 'numba'))")
    out = subprocess.run([sys.executable, "-c", code, "unused-dir"], capture_output=True,
                         text=True, check=True, cwd=os.path.dirname(os.path.dirname(
                             os.path.dirname(os.path.abspath(__file__)))))
    assert out.stdout.strip() == "[]"


def test_auth_is_required_on_every_v1_route(server, api) -> None:
    anon = server.client(None)
    wrong = server.client("nk_not-a-key")
    for client in (anon, wrong):
        for method, path in (("GET", "/models"), ("POST", "/models"), ("GET", "/datasets"),
                             ("POST", "/datasets"), ("GET", "/jobs"), ("POST", "/jobs"),
                             ("GET", "/jobs/job_x/events"), ("GET", "/models/m/weights")):
            r = client.request(method, path, content=b"{}")
            assert_error(r, 401)
            assert r.headers["www-authenticate"] == "Bearer"
    assert api.get("/models").status_code == 200


def test_tenants_see_only_their_own(api, other_api) -> None:
    model_id = create_model(api)
    ds = upload(api, x=np.zeros((2, 4), np.float32))
    job = api.post("/jobs", json={"kind": "predict", "model_id": model_id, "x": ref(ds, "x")})
    assert job.status_code == 201
    job_id = job.json()["id"]
    for path in (f"/models/{model_id}", f"/models/{model_id}/weights",
                 f"/models/{model_id}/layers/0", f"/datasets/{ds}", f"/jobs/{job_id}",
                 f"/jobs/{job_id}/history", f"/jobs/{job_id}/result", f"/jobs/{job_id}/events"):
        assert_error(other_api.get(path), 404)
    assert_error(other_api.delete(f"/models/{model_id}"), 404)
    assert_error(other_api.delete(f"/datasets/{ds}"), 404)
    assert_error(other_api.post(f"/jobs/{job_id}/cancel"), 404)
    assert_error(other_api.put(f"/models/{model_id}/compile", json=COMPILE), 404)
    assert_error(other_api.post("/jobs", json={"kind": "predict", "model_id": model_id,
                                               "x": ref(ds, "x")}), 404, "model_id")
    own = create_model(other_api)
    assert_error(other_api.post("/jobs", json={"kind": "predict", "model_id": own,
                                               "x": ref(ds, "x")}), 404, "x")
    assert model_id not in [m["id"] for m in other_api.get("/models").json()]
    assert ds not in [d["id"] for d in other_api.get("/datasets").json()]
    assert job_id not in [j["id"] for j in other_api.get("/jobs").json()]
    assert wait_job(api, job_id)["status"] == "succeeded"


def test_create_list_get_delete_model(api) -> None:
    r = api.post("/models", json={"config": json.dumps(model_json(hidden=5))})
    assert r.status_code == 201
    model = r.json()
    # Dense(4 -> 5) + Dense(5 -> 3): 4*5 + 5 + 5*3 + 3
    assert model["count_params"] == 43
    assert model["input_names"] == ["features"] and model["output_names"] == ["probs"]
    assert model["input_shapes"] == [[None, 4]] and model["output_shapes"] == [[None, 3]]
    assert "Total params: 43" in model["summary"] and model["compiled"] is False
    assert model["config"]["config"]["name"] == "clf"
    assert model["id"] in [m["id"] for m in api.get("/models").json()]
    assert api.get(f"/models/{model['id']}").json()["summary"] == model["summary"]
    layer = api.get(f"/models/{model['id']}/layers/hidden").json()
    assert layer["index"] == 1 and layer["class_name"] == "Dense"
    assert layer["config"]["units"] == 5 and layer["output_shape"] == [None, 5]
    assert api.get(f"/models/{model['id']}/layers/-1").json()["name"] == "probs"
    assert_error(api.get(f"/models/{model['id']}/layers/7"), 404)
    assert_error(api.get(f"/models/{model['id']}/layers/nope"), 404)
    assert api.delete(f"/models/{model['id']}").status_code == 204
    assert_error(api.get(f"/models/{model['id']}"), 404)
    assert model["id"] not in [m["id"] for m in api.get("/models").json()]


def test_compile_good_and_bad(api) -> None:
    model_id = create_model(api, compile_args=None)
    r = api.put(f"/models/{model_id}/compile", json=COMPILE)
    assert r.status_code == 200
    assert r.json()["metrics_names"] == ["loss", "accuracy"]
    assert r.json()["training_config"]["optimizer_config"]["class_name"] == "Adam"
    assert api.get(f"/models/{model_id}").json()["compiled"] is True
    before = api.get(f"/models/{model_id}").json()
    for args, argument in (({"optimizer": "adamz", "loss": "mse"}, "optimizer"),
                           ({"optimizer": "sgd", "loss": "not_a_loss"}, "loss"),
                           ({"optimizer": "sgd", "loss": "mse", "metrics": ["nope"]}, "metrics"),
                           ({"optimizer": "sgd", "loss": "mse", "sample_weight_mode": "x"},
                            "sample_weight_mode"),
                           ({"optimizer": "sgd", "loss": "mse", "loss_weights": [1.0, 2.0]},
                            "loss_weights"),
                           ({"optimizer": "sgd", "lost": "mse"}, "lost")):
        assert_error(api.put(f"/models/{model_id}/compile", json=args), 422, argument)
    assert api.get(f"/models/{model_id}").json() == before


def test_weights_round_trip(api) -> None:
    model_id = create_model(api)
    shapes = [w.shape for w in get_weights(api, model_id)]
    assert shapes == [(4, 8), (8,), (8, 3), (3,)]
    rng = np.random.default_rng(1)
    new = [rng.normal(size=s).astype(np.float32) for s in shapes]
    r = api.put(f"/models/{model_id}/weights", content=wire.encode_arrays(
        {f"arr_{i}": w for i, w in enumerate(new)}))
    assert r.status_code == 204, r.text
    for got, want in zip(get_weights(api, model_id), new, strict=True):
        np.testing.assert_array_equal(got, want)
    # predict_on_batch uses them: softmax(relu(x W1 + b1) W2 + b2) computed here by hand
    x = rng.normal(size=(3, 4)).astype(np.float32)
    r = api.post(f"/models/{model_id}/predict_on_batch", content=wire.encode_arrays({"x": x}))
    logits = np.maximum(x @ new[0] + new[1], 0) @ new[2] + new[3]
    expected = np.exp(logits - logits.max(1, keepdims=True))
    expected /= expected.sum(1, keepdims=True)
    np.testing.assert_allclose(wire.decode_arrays(r.content)["probs"], expected, rtol=1e-5)
    bad = {f"arr_{i}": w for i, w in enumerate(new)} | {"arr_3": np.zeros(4, np.float32)}
    assert_error(api.put(f"/models/{model_id}/weights", content=wire.encode_arrays(bad)), 422,
                 "weights")
    assert_error(api.put(f"/models/{model_id}/weights", content=wire.encode_arrays(
        {"arr_0": new[0]})), 422, "weights")
    for got, want in zip(get_weights(api, model_id), new, strict=True):
        np.testing.assert_array_equal(got, want)


def test_dataset_upload(api) -> None:
    x, y = data(10)
    r = api.post("/datasets", params={"name": "train"},
                 content=wire.encode_arrays({"x": x, "y": y}))
    assert r.status_code == 201
    ds = r.json()
    assert ds["name"] == "train"
    assert ds["arrays"] == {"x": {"shape": [10, 4], "dtype": "<f4"},
                            "y": {"shape": [10], "dtype": "<i8"}}
    assert api.get(f"/datasets/{ds['id']}").json() == ds
    back = wire.decode_arrays(api.get(f"/datasets/{ds['id']}/arrays").content)
    np.testing.assert_array_equal(back["x"], x)
    np.testing.assert_array_equal(back["y"], y)
    assert api.delete(f"/datasets/{ds['id']}").status_code == 204
    assert_error(api.get(f"/datasets/{ds['id']}"), 404)


def test_fit_job_matches_in_process_fit(api) -> None:
    model_id = create_model(api)
    local = local_model(api, model_id)
    x, y = data(64)
    ds = upload(api, x=x, y=y)
    job = {"kind": "fit", "model_id": model_id, "x": ref(ds, "x"), "y": ref(ds, "y"),
           "epochs": 3, "batch_size": 16, "shuffle": False, "validation_split": 0.25,
           "verbose": 1}
    r = api.post("/jobs", json=job)
    assert r.status_code == 201 and r.json()["status"] in ("queued", "running")
    finished = wait_job(api, r.json()["id"])
    assert finished["status"] == "succeeded", finished
    assert finished["started_at"] <= finished["finished_at"]
    history = api.get(f"/jobs/{r.json()['id']}/history").json()
    expected = local.fit(x, y, epochs=3, batch_size=16, shuffle=False, validation_split=0.25,
                         verbose=0)
    assert history["epoch"] == [0, 1, 2]
    assert set(history["history"]) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    for name, values in expected.history.items():
        np.testing.assert_allclose(history["history"][name], values, rtol=1e-5, atol=1e-6)
    for got, want in zip(get_weights(api, model_id), local.get_weights(), strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    # The optimizer state was kept with the model: a second fit continues as Keras would.
    xv, yv = data(20, seed=9)
    val = upload(api, x=xv, y=yv)
    second = {**job, "epochs": 4, "initial_epoch": 2, "validation_split": None,
              "validation_data": {"x": ref(val, "x"), "y": ref(val, "y")},
              "class_weight": {"0": 1.0, "1": 2.0, "2": 0.5}}
    r = api.post("/jobs", json=second)
    assert wait_job(api, r.json()["id"])["status"] == "succeeded"
    again = local.fit(x, y, epochs=4, initial_epoch=2, batch_size=16, shuffle=False,
                      validation_data=(xv, yv), class_weight={0: 1.0, 1: 2.0, 2: 0.5},
                      verbose=0)
    history = api.get(f"/jobs/{r.json()['id']}/history").json()
    assert history["epoch"] == [2, 3]
    for name, values in again.history.items():
        np.testing.assert_allclose(history["history"][name], values, rtol=1e-5, atol=1e-6)
    assert_error(api.get(f"/jobs/{r.json()['id']}/result"), 409)


def test_evaluate_and_predict_jobs(api) -> None:
    model_id = create_model(api)
    local = local_model(api, model_id)
    x, y = data(50, seed=3)
    ds = upload(api, x=x, y=y)
    ev = api.post("/jobs", json={"kind": "evaluate", "model_id": model_id, "x": ref(ds, "x"),
                                 "y": ref(ds, "y"), "batch_size": 7})
    pr = api.post("/jobs", json={"kind": "predict", "model_id": model_id,
                                 "x": ref(ds, {"features": "x"}), "batch_size": 7})
    assert ev.status_code == 201 and pr.status_code == 201
    assert wait_job(api, ev.json()["id"])["status"] == "succeeded"
    assert wait_job(api, pr.json()["id"])["status"] == "succeeded"
    result = api.get(f"/jobs/{ev.json()['id']}/result").json()
    assert result["metrics_names"] == ["loss", "accuracy"]
    np.testing.assert_allclose(result["result"], local.evaluate(x, y, batch_size=7, verbose=0),
                               rtol=1e-5)
    outputs = wire.decode_arrays(api.get(f"/jobs/{pr.json()['id']}/result").content)
    np.testing.assert_allclose(outputs["probs"], local.predict(x, batch_size=7), rtol=1e-5,
                               atol=1e-7)
    assert_error(api.get(f"/jobs/{ev.json()['id']}/history"), 409)
    listed = api.get("/jobs", params={"model_id": model_id, "status": "succeeded"}).json()
    assert {j["id"] for j in listed} == {ev.json()["id"], pr.json()["id"]}


def test_on_batch_calls_match_keras(api) -> None:
    model_id = create_model(api)
    local = local_model(api, model_id)
    x, y = data(16, seed=5)
    body = wire.encode_arrays({"x": x, "y": y})
    r = api.post(f"/models/{model_id}/train_on_batch", content=body)
    assert r.status_code == 200, r.text
    np.testing.assert_allclose(r.json()["result"], local.train_on_batch(x, y), rtol=1e-5)
    r = api.post(f"/models/{model_id}/test_on_batch", content=body)
    np.testing.assert_allclose(r.json()["result"], local.test_on_batch(x, y), rtol=1e-5)
    r = api.post(f"/models/{model_id}/predict_on_batch", content=wire.encode_arrays({"x": x}))
    np.testing.assert_allclose(wire.decode_arrays(r.content)["probs"],
                               local.predict_on_batch(x), rtol=1e-5, atol=1e-7)
    assert_error(api.post(f"/models/{model_id}/train_on_batch", content=wire.encode_arrays(
        {"x": x[:, :3], "y": y})), 422)
    assert_error(api.post(f"/models/{model_id}/train_on_batch", content=wire.encode_arrays(
        {"y": y})), 422, "x")
    # As in Keras: predict needs no compile, training and testing do.
    plain = create_model(api, compile_args=None)
    assert "compile" in assert_error(api.post(f"/models/{plain}/train_on_batch", content=body),
                                     422)["message"]
    ds = upload(api, x=x, y=y)
    assert_error(api.post("/jobs", json={"kind": "evaluate", "model_id": plain,
                                         "x": ref(ds, "x"), "y": ref(ds, "y")}), 422, "model_id")
    job = api.post("/jobs", json={"kind": "predict", "model_id": plain, "x": ref(ds, "x")})
    assert wait_job(api, job.json()["id"])["status"] == "succeeded"


def test_cancel_and_answers_while_every_worker_is_busy(api) -> None:
    model_id = create_model(api)
    before = get_weights(api, model_id)
    x, y = data(64)
    ds = upload(api, x=x, y=y)
    long = {"kind": "fit", "model_id": model_id, "x": ref(ds, "x"), "y": ref(ds, "y"),
            "epochs": 1_000_000, "batch_size": 4}
    ids = [api.post("/jobs", json=long).json()["id"] for _ in range(3)]
    running = [wait_job(api, i, ("running",)) for i in ids[:2]]
    assert api.get(f"/jobs/{ids[2]}").json()["status"] == "queued"  # FIFO: two workers
    # Both workers are busy: the web process and the call workers still answer.
    other = create_model(api)
    r = api.post(f"/models/{other}/predict_on_batch", content=wire.encode_arrays({"x": x}))
    assert r.status_code == 200 and wire.decode_arrays(r.content)["probs"].shape == (64, 3)
    queued = api.post(f"/jobs/{ids[2]}/cancel").json()
    assert queued["status"] == "cancelled"
    time.sleep(0.2)
    for job in running:
        assert api.post(f"/jobs/{job['id']}/cancel").json()["cancel_requested"] is True
    for job in running:
        done = wait_job(api, job["id"], timeout=10)
        assert done["status"] == "cancelled" and done["error"], done
        assert len(api.get(f"/jobs/{job['id']}/history").json()["epoch"]) >= 1
    for got, want in zip(get_weights(api, model_id), before, strict=True):
        np.testing.assert_array_equal(got, want)
    again = api.post(f"/jobs/{ids[0]}/cancel")
    assert again.status_code == 200 and again.json()["status"] == "cancelled"


def _read_events(api: httpx.Client, job_id: str, last_event_id: int | None = None) -> list:
    headers = {} if last_event_id is None else {"Last-Event-ID": str(last_event_id)}
    events, current = [], {}
    with api.stream("GET", f"/jobs/{job_id}/events", headers=headers) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        for line in r.iter_lines():
            if not line:
                if current:
                    events.append(current)
                current = {}
            elif not line.startswith(":"):
                field, _, value = line.partition(": ")
                current[field] = value
    return [(int(e["id"]), e["event"], json.loads(e["data"])) for e in events]


def test_event_stream_follows_and_resumes(api) -> None:
    model_id = create_model(api)
    x, y = data(32)
    ds = upload(api, x=x, y=y)
    r = api.post("/jobs", json={"kind": "fit", "model_id": model_id, "x": ref(ds, "x"),
                                "y": ref(ds, "y"), "epochs": 5, "batch_size": 8})
    job_id = r.json()["id"]
    events = _read_events(api, job_id)  # follows the job live until its final status
    kinds = [k for _, k, _ in events]
    assert kinds[0] == "status" and events[0][2]["status"] == "queued"
    assert events[-1][1] == "status" and events[-1][2]["status"] == "succeeded"
    epochs = [d for _, k, d in events if k == "epoch_end"]
    assert [e["epoch"] for e in epochs] == [0, 1, 2, 3, 4]
    history = api.get(f"/jobs/{job_id}/history").json()["history"]
    assert [e["logs"]["loss"] for e in epochs] == history["loss"]
    ids = [i for i, _, _ in events]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    resumed = _read_events(api, job_id, last_event_id=ids[3])
    assert resumed == events[4:]
    assert _read_events(api, job_id, last_event_id=ids[-1]) == []
    assert_error(api.get(f"/jobs/{job_id}/events", headers={"Last-Event-ID": "abc"}), 400)


def test_bad_input_gives_4xx_json_and_changes_nothing(api) -> None:
    model_id = create_model(api)
    x, y = data(8)
    ds = upload(api, x=x, y=y)
    before = state(api)
    unknown_layer = model_json()
    unknown_layer["config"]["layers"][1]["class_name"] = "NoSuchLayer"
    pickled = io.BytesIO()
    np.savez(pickled, x=np.array([{"a": 1}], dtype=object))
    job = {"kind": "fit", "model_id": model_id, "x": ref(ds, "x"), "y": ref(ds, "y")}
    checks = [
        (api.post("/models", content=b'{"config": {', headers={"content-type":
                                                                "application/json"}), 400),
        (api.post("/models", json={"config": unknown_layer}), 422),
        (api.post("/models", json={"config": "not json"}), 422),
        (api.post("/models", json={"nope": 1}), 422),
        (api.post("/datasets", content=pickled.getvalue()), 422),
        (api.post("/datasets", content=b"PK\x03\x04garbage"), 422),
        (api.post("/datasets", content=wire.encode_array(x)), 422),
        (api.post("/datasets", content=b""), 400),
        (api.post("/datasets", content=b"\0" * (MAX_REQUEST_MB * (1 << 20) + 1)), 413),
        (api.post("/models", content=(b"x" * 65536 for _ in range(MAX_REQUEST_MB * 16 + 1)),
                  headers={"content-type": "application/json"}), 413),
        (api.put(f"/models/{model_id}/weights", content=pickled.getvalue()), 422),
        (api.post(f"/models/{model_id}/predict_on_batch", content=pickled.getvalue()), 422),
        (api.post("/jobs", json={**job, "x": ref(ds, "y")}), 422),
        (api.post("/jobs", json={**job, "x": ref(ds, "nope")}), 422),
        (api.post("/jobs", json={**job, "x": ref(ds, ["x", "x"])}), 422),
        (api.post("/jobs", json={**job, "kind": "train"}), 422),
        (api.post("/jobs", json={**job, "epochs": -1}), 422),
        (api.post("/jobs", json={**job, "kind": "predict"}), 422),
        (api.post("/jobs", json={**job, "class_weight": {"a": 1.0}}), 422),
        (api.post("/jobs", json={**job, "model_id": "mdl_nope"}), 404),
        (api.post("/jobs", json={**job, "x": ref("ds_nope", "x")}), 404),
        (api.get("/models/mdl_nope"), 404),
        (api.delete("/models/mdl_nope"), 404),
        (api.put("/models/mdl_nope/compile", json=COMPILE), 404),
        (api.get("/datasets/ds_nope"), 404),
        (api.get("/jobs/job_nope"), 404),
        (api.get("/jobs/job_nope/events"), 404),
        (api.post("/jobs/job_nope/cancel"), 404),
        (api.get("/jobs", params={"status": "done"}), 422),
        (api.get("/no/such/route"), 404),
    ]
    for i, (r, status) in enumerate(checks):
        assert r.status_code == status, (i, r.status_code, r.text)
        assert r.headers["content-type"] == "application/json", (i, r.headers)
        assert r.json()["message"], i
    assert "NoSuchLayer" in checks[1][0].json()["message"]
    assert "object" in checks[4][0].json()["message"]
    assert state(api) == before


def test_killed_worker_fails_its_job_and_is_replaced(server, api) -> None:
    model_id = create_model(api)
    x, y = data(64)
    ds = upload(api, x=x, y=y)
    long = {"kind": "fit", "model_id": model_id, "x": ref(ds, "x"), "y": ref(ds, "y"),
            "epochs": 1_000_000, "batch_size": 4}
    job = wait_job(api, api.post("/jobs", json=long).json()["id"], ("running",))
    before = {w for w in [job["worker_pid"]]}
    os.kill(job["worker_pid"], signal.SIGKILL)
    failed = wait_job(api, job["id"], timeout=10)
    assert failed["status"] == "failed" and "SIGKILL" in failed["error"], failed
    deadline = time.monotonic() + 30
    while httpx.get(server.url + "/v1/health").json()["workers_alive"] < 2:
        assert time.monotonic() < deadline, "the dead worker was not replaced"
        time.sleep(0.1)
    # Both workers take the next jobs (one of them is the replacement).
    short = {**long, "epochs": 1}
    jobs = [api.post("/jobs", json=short).json()["id"] for _ in range(2)]
    done = [wait_job(api, j) for j in jobs]
    assert all(j["status"] == "succeeded" for j in done), done
    assert not before & {j["worker_pid"] for j in done}


@pytest.mark.parametrize("path", ["/docs", "/openapi.json"])
def test_openapi_contract_is_served(server, path) -> None:
    assert httpx.get(server.url + path).status_code == 200


def test_hdf5_export_and_import(api, tmp_path) -> None:
    model_id = create_model(api)
    x, y = data(32)
    r = api.post(f"/models/{model_id}/train_on_batch", content=wire.encode_arrays({"x": x, "y": y}))
    assert r.status_code == 200
    r = api.get(f"/models/{model_id}/hdf5")
    assert r.status_code == 200 and r.content[:8] == b"\x89HDF\r\n\x1a\n"
    path = tmp_path / "m.h5"
    path.write_bytes(r.content)
    local = keras.models.load_model(str(path))
    for got, want in zip(local.get_weights(), get_weights(api, model_id), strict=True):
        np.testing.assert_array_equal(got, want)
    assert local.optimizer.iterations == 1 and local.metrics_names == ["loss", "accuracy"]
    imported = api.post("/models/hdf5", content=path.read_bytes())
    assert imported.status_code == 201, imported.text
    new_id = imported.json()["id"]
    assert imported.json()["compiled"] and imported.json()["count_params"] == 67
    for got, want in zip(get_weights(api, new_id), get_weights(api, model_id), strict=True):
        np.testing.assert_array_equal(got, want)
    # The optimizer state came along: the next step is the same on both models.
    steps = [api.post(f"/models/{m}/train_on_batch", content=wire.encode_arrays(
        {"x": x, "y": y})).json()["result"] for m in (model_id, new_id)]
    assert steps[0] == steps[1] == pytest.approx(local.train_on_batch(x, y), rel=1e-6)
    before = state(api)
    assert_error(api.post("/models/hdf5", content=b"not an hdf5 file"), 422)
    assert_error(api.post("/models/hdf5", content=b""), 400)
    assert_error(api.get("/models/mdl_nope/hdf5"), 404)
    assert state(api) == before



def test_get_weights_while_fit_jobs_replace_them(api) -> None:
    """Reading weights while jobs keep replacing them never fails: each answer is one whole
    version (a finishing job unlinks the blob a reader may be about to open)."""
    model_id = create_model(api)
    x, y = data(64)
    ds = upload(api, x=x, y=y)
    job = {"kind": "fit", "model_id": model_id, "x": ref(ds, "x"), "y": ref(ds, "y"),
           "epochs": 1, "batch_size": 64}
    ids = [api.post("/jobs", json=job).json()["id"] for _ in range(4)]
    versions = set()
    n_weights = len(get_weights(api, model_id))
    while any(api.get(f"/jobs/{i}").json()["status"] in ("queued", "running") for i in ids):
        r = api.get(f"/models/{model_id}/weights")
        assert r.status_code == 200, r.text
        assert len(wire.decode_arrays(r.content)) == n_weights
        versions.add(r.headers["X-Model-Version"])
    assert all(wait_job(api, i)["status"] == "succeeded" for i in ids)



def test_concurrent_fit_jobs_on_one_model_all_succeed(api) -> None:
    """Two workers fitting one model: a job may start while another replaces the model's
    blobs; loading must follow the row to the new blobs instead of failing."""
    model_id = create_model(api)
    x, y = data(64)
    ds = upload(api, x=x, y=y)
    job = {"kind": "fit", "model_id": model_id, "x": ref(ds, "x"), "y": ref(ds, "y"),
           "epochs": 1, "batch_size": 64}
    ids = [api.post("/jobs", json=job).json()["id"] for _ in range(16)]
    finished = [wait_job(api, i, timeout=120) for i in ids]
    assert [j["status"] for j in finished] == ["succeeded"] * len(ids), [
        j.get("error") for j in finished if j["status"] != "succeeded"]
