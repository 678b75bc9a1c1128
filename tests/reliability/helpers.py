"""Shared helpers of the reliability tests: a small model, data, and a snapshot of everything a
tenant has stored."""

from __future__ import annotations

import hashlib
import json

import httpx
import numpy as np

from numkeras import wire

COMPILE = {"optimizer": {"class_name": "Adam", "config": {"learning_rate": 0.01}},
           "loss": "sparse_categorical_crossentropy", "metrics": ["accuracy"]}


def model_json(hidden: int = 8, name: str = "clf") -> dict:
    """Keras JSON of features(4) -> Dense(hidden, relu) -> Dense(3, softmax), written by hand
    so that this module needs no engine."""
    def dense(layer: str, units: int, activation: str, inbound: str) -> dict:
        return {"class_name": "Dense", "name": layer, "inbound_nodes": [[[inbound, 0, 0, {}]]],
                "config": {"name": layer, "trainable": True, "dtype": "float32", "units": units,
                           "activation": activation, "use_bias": True,
                           "kernel_initializer": {"class_name": "GlorotUniform",
                                                  "config": {"seed": None}},
                           "bias_initializer": {"class_name": "Zeros", "config": {}},
                           "kernel_regularizer": None, "bias_regularizer": None,
                           "activity_regularizer": None, "kernel_constraint": None,
                           "bias_constraint": None}}
    return {"class_name": "Functional", "config": {
        "name": name,
        "layers": [{"class_name": "InputLayer", "name": "features", "inbound_nodes": [],
                    "config": {"batch_input_shape": [None, 4], "dtype": "float32",
                               "sparse": False, "ragged": False, "name": "features"}},
                   dense("hidden", hidden, "relu", "features"),
                   dense("probs", 3, "softmax", "hidden")],
        "input_layers": [["features", 0, 0]], "output_layers": [["probs", 0, 0]]},
        "keras_version": "2.15.0", "backend": "tensorflow"}


def data(n: int = 64, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 4)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int64) + (x[:, 1] > 0.5).astype(np.int64)
    return x, y


def create_model(api: httpx.Client, compiled: bool = True, hidden: int = 8) -> str:
    r = api.post("/models", json={"config": model_json(hidden)})
    assert r.status_code == 201, r.text
    if compiled:
        c = api.put(f"/models/{r.json()['id']}/compile", json=COMPILE)
        assert c.status_code == 200, c.text
    return r.json()["id"]


def upload(api: httpx.Client, **arrays: np.ndarray) -> str:
    r = api.post("/datasets", content=wire.encode_arrays(arrays))
    assert r.status_code == 201, r.text
    return r.json()["id"]


def fit_body(model_id: str, ds: str, epochs: int = 1, batch_size: int = 32) -> dict:
    return {"kind": "fit", "model_id": model_id, "epochs": epochs, "batch_size": batch_size,
            "x": {"dataset_id": ds, "arrays": "x"}, "y": {"dataset_id": ds, "arrays": "y"}}


def snapshot(api: httpx.Client) -> dict:
    """Everything the tenant has stored: models (with a digest of their weights), datasets (with
    a digest of their archive), jobs and unfinished uploads."""
    models = {}
    for m in api.get("/models").json():
        w = api.get(f"/models/{m['id']}/weights")
        assert w.status_code == 200, w.text
        models[m["id"]] = (json.dumps(m, sort_keys=True), hashlib.sha256(w.content).hexdigest())
    datasets = {}
    for d in api.get("/datasets").json():
        a = api.get(f"/datasets/{d['id']}/arrays")
        datasets[d["id"]] = (json.dumps(d, sort_keys=True), hashlib.sha256(a.content).hexdigest())
    jobs = {j["id"]: (j["status"], j["finished_at"]) for j in api.get("/jobs").json()}
    uploads = {u["id"]: u["received"] for u in api.get("/datasets/uploads").json()}
    return {"models": models, "datasets": datasets, "jobs": jobs, "uploads": uploads}


def assert_error(r: httpx.Response, low: int = 400, high: int = 499) -> dict:
    """A 4xx (within ``low..high``) JSON error with a message."""
    assert low <= r.status_code <= high, (r.status_code, r.text)
    assert r.headers["content-type"].startswith("application/json"), r.headers
    body = r.json()
    assert isinstance(body.get("error"), str) and body["error"], body
    assert isinstance(body.get("message"), str) and body["message"], body
    return body
