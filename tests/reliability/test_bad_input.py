"""Bad input on every route: each answer is a 4xx JSON error with a message, and nothing stored
changes (models with their weights, datasets with their bytes, jobs, uploads: of both tenants)."""

from __future__ import annotations

import copy
import io
import zipfile
from typing import Any

import httpx
import numpy as np
import pytest

from numkeras import wire
from tests.reliability.helpers import (
    assert_error,
    create_model,
    data,
    fit_body,
    model_json,
    snapshot,
    upload,
)
from tests.server.conftest import MAX_REQUEST_MB, Server, wait_job

NPZ = {"headers": {"Content-Type": wire.NPZ_MEDIA_TYPE}}
OVERSIZED = b"\0" * (MAX_REQUEST_MB * (1 << 20) + 1)


def npz(**arrays: Any) -> dict[str, Any]:
    return {"content": wire.encode_arrays(arrays), **NPZ}


def pickled_npz() -> dict[str, Any]:
    """An npz whose member is an object array (its data is a pickle)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf, zf.open("x.npy", "w") as member:
        np.lib.format.write_array(member, np.array([{"a": 1}] * 4, dtype=object),
                                  allow_pickle=True)
    return {"content": buf.getvalue(), **NPZ}


def truncated_npz() -> dict[str, Any]:
    return {"content": wire.encode_arrays({"x": np.ones((64, 4), np.float32)})[:-50], **NPZ}


X, Y = data(8)
NAN_X = X.copy()
NAN_X[3, 1] = np.nan
INF_Y = np.array([0, 1, 2, 0, 1, 2, 0, np.inf], np.float32)


def graph(mutate: str) -> dict:
    """The model JSON broken one way: a layer unknown to Keras, an input that names a layer
    that does not exist, a layer fed by itself, two layers feeding each other."""
    config = copy.deepcopy(model_json())
    layers = config["config"]["layers"]
    if mutate == "unknown_class":
        layers[1]["class_name"] = "NoSuchLayer"
    elif mutate == "dangling":
        layers[1]["inbound_nodes"] = [[["ghost", 0, 0, {}]]]
    elif mutate == "self_cycle":
        layers[1]["inbound_nodes"] = [[["hidden", 0, 0, {}]]]
    elif mutate == "cycle":
        layers[1]["inbound_nodes"] = [[["probs", 0, 0, {}]]]
    elif mutate == "dangling_output":
        config["config"]["output_layers"] = [["ghost", 0, 0]]
    elif mutate == "bad_dtype":
        layers[1]["config"]["dtype"] = "float99"
    elif mutate == "bad_shape":
        layers[0]["config"]["batch_input_shape"] = [None, -3]
    return {"json": {"config": config}}


def ref(ds: str, name: str) -> dict:
    return {"dataset_id": ds, "arrays": name}


# (label, method, path, request arguments (a callable of the ids, or a dict), status or None
# for any 4xx). Paths name own ids {m} {mu} (uncompiled) {d} {j} {u}, the other tenant's
# {om} {od} {oj} {ou}, and {missing}.
CASES: list[tuple[str, str, str, Any, int | None]] = [
    # ----------------------------------------------------------------- models
    ("malformed json", "POST", "/models", {"content": b'{"config": {', "headers": {
        "Content-Type": "application/json"}}, 400),
    ("body not an object", "POST", "/models", {"json": [1, 2]}, 422),
    ("config a number", "POST", "/models", {"json": {"config": 5}}, 422),
    ("config not json text", "POST", "/models", {"json": {"config": "{nope"}}, 422),
    ("unknown layer class", "POST", "/models", graph("unknown_class"), 422),
    ("dangling inbound layer", "POST", "/models", graph("dangling"), 422),
    ("layer fed by itself", "POST", "/models", graph("self_cycle"), 422),
    ("cyclic graph", "POST", "/models", graph("cycle"), 422),
    ("dangling output", "POST", "/models", graph("dangling_output"), 422),
    ("unknown dtype", "POST", "/models", graph("bad_dtype"), 422),
    ("negative shape", "POST", "/models", graph("bad_shape"), 422),
    ("extra field", "POST", "/models", {"json": {"config": model_json(), "x": 1}}, 422),
    ("oversized", "POST", "/models", {"content": OVERSIZED, "headers": {
        "Content-Type": "application/json"}}, 413),
    ("not hdf5", "POST", "/models/hdf5", {"content": b"\x89HDF\r\n\x1a\n" + b"\0" * 300}, 422),
    ("empty hdf5", "POST", "/models/hdf5", {"content": b""}, 400),
    ("oversized hdf5", "POST", "/models/hdf5", {"content": OVERSIZED}, 413),
    ("unknown id", "GET", "/models/{missing}", {}, 404),
    ("other tenant", "GET", "/models/{om}", {}, 404),
    ("unknown id", "DELETE", "/models/{missing}", {}, 404),
    ("other tenant", "DELETE", "/models/{om}", {}, 404),
    ("malformed json", "PUT", "/models/{m}/compile", {"content": b"{", "headers": {
        "Content-Type": "application/json"}}, 400),
    ("unknown optimizer", "PUT", "/models/{m}/compile", {"json": {
        "optimizer": "NoSuchOptimizer", "loss": "mse"}}, 422),
    ("unknown loss", "PUT", "/models/{m}/compile", {"json": {"loss": "no_such_loss"}}, 422),
    ("loss_weights of strings", "PUT", "/models/{m}/compile", {"json": {
        "loss": "mse", "loss_weights": ["a"]}}, 422),
    ("other tenant", "PUT", "/models/{om}/compile", {"json": {"loss": "mse"}}, 404),
    ("learning rate a string", "PATCH", "/models/{m}/optimizer", {"json": {
        "learning_rate": "fast"}}, 422),
    ("not compiled", "PATCH", "/models/{mu}/optimizer", {"json": {"learning_rate": 0.1}}, 422),
    ("other tenant", "PATCH", "/models/{om}/optimizer", {"json": {"learning_rate": 0.1}}, 404),
    ("unknown id", "GET", "/models/{missing}/weights", {}, 404),
    ("other tenant", "GET", "/models/{om}/weights", {}, 404),
    ("wrong shapes", "PUT", "/models/{m}/weights", npz(
        arr_0=np.ones((5, 8), np.float32), arr_1=np.ones(8, np.float32),
        arr_2=np.ones((8, 3), np.float32), arr_3=np.ones(3, np.float32)), 422),
    ("too few arrays", "PUT", "/models/{m}/weights", npz(arr_0=np.ones((4, 8))), 422),
    ("string dtype", "PUT", "/models/{m}/weights", npz(
        arr_0=np.full((4, 8), "a"), arr_1=np.ones(8, np.float32),
        arr_2=np.ones((8, 3), np.float32), arr_3=np.ones(3, np.float32)), 422),
    ("nan weights", "PUT", "/models/{m}/weights", npz(
        arr_0=np.full((4, 8), np.nan, np.float32), arr_1=np.ones(8, np.float32),
        arr_2=np.ones((8, 3), np.float32), arr_3=np.ones(3, np.float32)), 422),
    ("pickled member", "PUT", "/models/{m}/weights", pickled_npz(), 422),
    ("truncated", "PUT", "/models/{m}/weights", truncated_npz(), 422),
    ("oversized", "PUT", "/models/{m}/weights", {"content": OVERSIZED, **NPZ}, 413),
    ("other tenant", "PUT", "/models/{om}/weights", npz(arr_0=np.ones(2)), 404),
    ("unknown id", "GET", "/models/{missing}/hdf5", {}, 404),
    ("other tenant", "GET", "/models/{om}/hdf5", {}, 404),
    ("unknown layer", "GET", "/models/{m}/layers/nope", {}, 404),
    ("index out of range", "GET", "/models/{m}/layers/99", {}, 404),
    ("other tenant", "GET", "/models/{om}/layers/0", {}, 404),
]
for method in ("train_on_batch", "test_on_batch", "predict_on_batch"):
    path = f"/models/{{m}}/{method}"
    CASES += [
        ("wrong shape", "POST", path, npz(x=np.ones((8, 5), np.float32), y=Y), 422),
        ("string dtype", "POST", path, npz(x=np.full((8, 4), "a"), y=Y), 422),
        ("nan in x", "POST", path, npz(x=NAN_X, y=Y), 422),
        ("inf in y", "POST", path, npz(x=X, y=INF_Y), 422),
        ("no x", "POST", path, npz(y=Y), 422),
        ("pickled member", "POST", path, pickled_npz(), 422),
        ("truncated", "POST", path, truncated_npz(), 422),
        ("not an npz", "POST", path, {"content": b'{"x": [1, 2]}', **NPZ}, 422),
        ("oversized", "POST", path, {"content": OVERSIZED, **NPZ}, 413),
        ("unknown id", "POST", f"/models/{{missing}}/{method}", npz(x=X, y=Y), 404),
        ("other tenant", "POST", f"/models/{{om}}/{method}", npz(x=X, y=Y), 404),
    ]
BAD_KEY = {"headers": {"Authorization": "Bearer nk_not-a-key"}}
CASES += [
    ("unknown key", "GET", "/models", BAD_KEY, 401),
    ("unknown key", "GET", "/datasets", BAD_KEY, 401),
    ("unknown key", "GET", "/datasets/uploads", BAD_KEY, 401),
    ("unknown key", "GET", "/jobs", BAD_KEY, 401),
    ("unknown key", "POST", "/models", {"json": {"config": model_json()}, **BAD_KEY}, 401),
    ("not compiled", "POST", "/models/{mu}/train_on_batch", npz(x=X, y=Y), 422),
    ("class_weight not json", "POST", "/models/{m}/train_on_batch",
     {"params": {"class_weight": "{0: 1"}, **npz(x=X, y=Y)}, 422),
    # --------------------------------------------------------------- datasets
    ("not an npz", "POST", "/datasets", {"content": b"hello", **NPZ}, 422),
    ("empty", "POST", "/datasets", {"content": b"", **NPZ}, 400),
    ("pickled member", "POST", "/datasets", pickled_npz(), 422),
    ("truncated", "POST", "/datasets", truncated_npz(), 422),
    ("nan", "POST", "/datasets", npz(x=NAN_X, y=Y), 422),
    ("inf", "POST", "/datasets", npz(x=X, y=INF_Y), 422),
    ("oversized", "POST", "/datasets", {"content": OVERSIZED, **NPZ}, 413),
    ("name too long", "POST", "/datasets", {"params": {"name": "n" * 300}, **npz(x=X)}, 422),
    ("unknown id", "GET", "/datasets/{missing}", {}, 404),
    ("other tenant", "GET", "/datasets/{od}", {}, 404),
    ("unknown id", "GET", "/datasets/{missing}/arrays", {}, 404),
    ("other tenant", "GET", "/datasets/{od}/arrays", {}, 404),
    ("unknown id", "DELETE", "/datasets/{missing}", {}, 404),
    ("other tenant", "DELETE", "/datasets/{od}", {}, 404),
    ("malformed json", "POST", "/datasets/uploads", {"content": b"{", "headers": {
        "Content-Type": "application/json"}}, 400),
    ("negative size", "POST", "/datasets/uploads", {"json": {"size": -1}}, 422),
    ("size over the limit", "POST", "/datasets/uploads", {"json": {"size": 1 << 62}}, 413),
    ("unknown id", "GET", "/datasets/uploads/{missing}", {}, 404),
    ("other tenant", "GET", "/datasets/uploads/{ou}", {}, 404),
    ("wrong offset", "PUT", "/datasets/uploads/{u}", {"params": {"offset": 7},
                                                      "content": b"abc"}, 409),
    ("negative offset", "PUT", "/datasets/uploads/{u}", {"params": {"offset": -1},
                                                         "content": b"abc"}, 422),
    ("empty chunk", "PUT", "/datasets/uploads/{u}", {"params": {"offset": 0},
                                                     "content": b""}, 400),
    ("oversized chunk", "PUT", "/datasets/uploads/{u}", {"params": {"offset": 0},
                                                         "content": OVERSIZED}, 413),
    ("other tenant", "PUT", "/datasets/uploads/{ou}", {"params": {"offset": 0},
                                                       "content": b"abc"}, 404),
    ("empty upload", "POST", "/datasets/uploads/{u}/finalize", {}, 409),
    ("other tenant", "POST", "/datasets/uploads/{ou}/finalize", {}, 404),
    ("unknown id", "DELETE", "/datasets/uploads/{missing}", {}, 404),
    ("other tenant", "DELETE", "/datasets/uploads/{ou}", {}, 404),
    # ------------------------------------------------------------------- jobs
    ("malformed json", "POST", "/jobs", {"content": b'{"kind": "fit",', "headers": {
        "Content-Type": "application/json"}}, 400),
    ("unknown kind", "POST", "/jobs", lambda i: {"json": {**fit_body(i["m"], i["d"]),
                                                          "kind": "train"}}, 422),
    ("unknown model", "POST", "/jobs", lambda i: {"json": fit_body(i["missing"], i["d"])}, 404),
    ("other tenant's model", "POST", "/jobs",
     lambda i: {"json": fit_body(i["om"], i["d"])}, 404),
    ("other tenant's dataset", "POST", "/jobs",
     lambda i: {"json": fit_body(i["m"], i["od"])}, 404),
    ("unknown array", "POST", "/jobs", lambda i: {"json": {
        **fit_body(i["m"], i["d"]), "x": ref(i["d"], "nope")}}, 422),
    ("wrong shape", "POST", "/jobs", lambda i: {"json": {
        **fit_body(i["m"], i["d"]), "x": ref(i["d"], "y")}}, 422),
    ("not compiled", "POST", "/jobs", lambda i: {"json": fit_body(i["mu"], i["d"])}, 422),
    ("epochs a string", "POST", "/jobs", lambda i: {"json": {
        **fit_body(i["m"], i["d"]), "epochs": "two"}}, 422),
    ("negative batch_size", "POST", "/jobs", lambda i: {"json": {
        **fit_body(i["m"], i["d"]), "batch_size": -4}}, 422),
    ("unknown status", "GET", "/jobs", {"params": {"status": "sleeping"}}, 422),
    ("limit 0", "GET", "/jobs", {"params": {"limit": 0}}, 422),
    ("unknown id", "GET", "/jobs/{missing}", {}, 404),
    ("other tenant", "GET", "/jobs/{oj}", {}, 404),
    ("unknown id", "POST", "/jobs/{missing}/cancel", {}, 404),
    ("other tenant", "POST", "/jobs/{oj}/cancel", {}, 404),
    ("not streamed", "POST", "/jobs/{j}/batches", npz(x=X, y=Y), 409),
    ("other tenant", "POST", "/jobs/{oj}/batches", npz(x=X, y=Y), 404),
    ("pickled member", "POST", "/jobs/{j}/batches", pickled_npz(), None),
    ("not streamed", "GET", "/jobs/{j}/batches", {}, 409),
    ("other tenant", "GET", "/jobs/{oj}/batches", {}, 404),
    ("not streamed", "POST", "/jobs/{j}/batches/end", {}, 409),
    ("other tenant", "POST", "/jobs/{oj}/batches/end", {}, 404),
    ("unknown id", "GET", "/jobs/{missing}/history", {}, 404),
    ("other tenant", "GET", "/jobs/{oj}/history", {}, 404),
    ("unknown id", "GET", "/jobs/{missing}/result", {}, 404),
    ("other tenant", "GET", "/jobs/{oj}/result", {}, 404),
    ("unknown id", "GET", "/jobs/{missing}/events", {}, 404),
    ("other tenant", "GET", "/jobs/{oj}/events", {}, 404),
]


def _ids(api: httpx.Client, prefix: str = "") -> dict[str, str]:
    m, mu = create_model(api), create_model(api, compiled=False)
    x, y = data(32)
    d = upload(api, x=x, y=y)
    j = api.post("/jobs", json=fit_body(m, d)).json()["id"]
    wait_job(api, j)
    u = api.post("/datasets/uploads", json={"name": "partial"}).json()["id"]
    return {prefix + "m": m, prefix + "mu": mu, prefix + "d": d, prefix + "j": j,
            prefix + "u": u}


@pytest.fixture(scope="module")
def ids(api: httpx.Client, other_api: httpx.Client) -> dict[str, str]:
    return {**_ids(api), **_ids(other_api, "o"), "missing": "mdl_00000000000000000000"}


def _template(path: str) -> str:
    names = {"m": "model_id", "mu": "model_id", "om": "model_id", "d": "dataset_id",
             "od": "dataset_id", "j": "job_id", "oj": "job_id", "u": "upload_id",
             "ou": "upload_id", "missing": None}
    parts = []
    for i, part in enumerate(path.split("/")):
        if part.startswith("{"):
            name = names[part[1:-1]] or {"models": "model_id", "datasets": "dataset_id",
                                         "uploads": "upload_id", "jobs": "job_id"}[
                path.split("/")[i - 1]]
            part = "{" + name + "}"
        elif path.split("/")[i - 1] == "layers":
            part = "{name_or_index}"
        parts.append(part)
    return "/".join(parts)


def test_every_route_has_bad_input_cases(server: Server) -> None:
    doc = httpx.get(server.url + "/openapi.json").json()
    routes = {(m.upper(), p.removeprefix("/v1")) for p, ops in doc["paths"].items()
              for m in ops} - {("GET", "/health")}
    covered = {(method, _template(path)) for _, method, path, _, _ in CASES}
    assert routes - covered == set()
    assert len(CASES) > 100


def test_bad_input_gets_a_4xx_json_and_changes_nothing(api: httpx.Client,
                                                       other_api: httpx.Client,
                                                       ids: dict[str, str]) -> None:
    before = snapshot(api), snapshot(other_api)
    failures = []
    for label, method, path, arguments, status in CASES:
        kwargs = arguments(ids) if callable(arguments) else arguments
        r = api.request(method, path.format(**ids), **kwargs)
        try:
            body = assert_error(r)
            assert status is None or r.status_code == status, (r.status_code, body)
        except AssertionError as e:
            failures.append(f"{method} {path} ({label}): {e}")
    assert not failures, "\n".join(failures)
    assert (snapshot(api), snapshot(other_api)) == before
