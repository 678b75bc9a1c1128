"""numkeras.client beyond the numbers: namespace, connection, errors, uploads, jobs, progress."""

from __future__ import annotations

import io
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import h5py
import httpx
import numpy as np
import pytest

from tests.client.test_parity import X, Y, classifier, two_by_two
from tests.server.conftest import Server


def test_import_pulls_in_neither_numba_nor_fastapi() -> None:
    code = ("import sys, numkeras.client as keras\n"
            "from numkeras.client.layers import Dense\n"
            "from numkeras.client.callbacks import EarlyStopping\n"
            "from numkeras.client.models import Model, load_model, model_from_json\n"
            "heavy = [m for m in sys.modules if m.split('.')[0] in ('numba', 'fastapi', "
            "'starlette', 'uvicorn', 'pydantic') or m.startswith(('numkeras.engine', "
            "'numkeras.server'))]\n"
            "print(sorted(heavy))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=60)
    assert out.stdout.strip() == "[]"


def test_namespace_mirrors_keras_with_the_one_vocabulary(remote: ModuleType) -> None:
    from numkeras.client.layers import Dense
    from numkeras.client.utils import Sequence

    import numkeras

    assert Dense is numkeras.layers.Dense
    assert Sequence is numkeras.utils.Sequence
    for name in ("layers", "optimizers", "losses", "metrics", "callbacks", "utils",
                 "activations", "initializers", "regularizers", "constraints", "backend"):
        assert getattr(remote, name) is getattr(numkeras, name)
    assert remote.models.Model is remote.Model
    assert remote.Input is numkeras.layers.Input
    for name in ("model_from_json", "load_model", "save_model"):
        assert callable(getattr(remote.models, name))


def test_connection_from_the_environment(server: Server, api_key: str,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    from numkeras.client import connection

    monkeypatch.setenv("NUMKERAS_URL", server.url)
    monkeypatch.setenv("NUMKERAS_API_KEY", api_key)
    monkeypatch.setattr(connection, "_default", None)
    conn = connection.get_connection()
    assert conn.url == server.url and conn.api_key == api_key
    assert isinstance(conn.json("GET", "/models"), list)
    monkeypatch.delenv("NUMKERAS_URL")
    monkeypatch.setattr(connection, "_default", None)
    with pytest.raises(ValueError, match="NUMKERAS_URL"):
        connection.get_connection()


def test_connection_failure_names_the_url(remote: ModuleType) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    remote.connect(url, api_key="nk_whatever")
    with pytest.raises(ConnectionError, match=url):
        remote.get_model("anything")
    with pytest.raises(ConnectionError, match=url):
        classifier(remote)  # compile creates the model on the server


def test_wrong_api_key_is_a_value_error(server: Server, remote: ModuleType) -> None:
    remote.connect(server.url, api_key="nk_not_a_key")
    with pytest.raises(ValueError, match="(?i)key"):
        remote.get_model("anything")


def test_not_compiled_is_a_runtime_error(remote: ModuleType, api: httpx.Client) -> None:
    model = classifier(remote)
    fresh = remote.models.model_from_json(model.to_json())
    with pytest.raises(RuntimeError, match="compile"):
        fresh.fit(X, Y, verbose=0)
    with pytest.raises(RuntimeError, match="compile"):
        fresh.train_on_batch(X, Y)
    # The server's own "not compiled" answer maps to RuntimeError too.
    from numkeras.client.connection import check

    ref = remote.get_connection().data_ref(X)
    response = api.post("/jobs", json={"kind": "evaluate", "model_id": fresh.id, "x": ref,
                                       "y": remote.get_connection().data_ref(Y)})
    assert response.status_code == 422
    with pytest.raises(RuntimeError, match="must compile your model"):
        check(response)


def test_bad_data_is_a_value_error_with_the_server_message(remote: ModuleType) -> None:
    model = classifier(remote)
    with pytest.raises(ValueError, match=r"input 'features' expects arrays of shape \(None, 6\)"):
        model.fit(np.zeros((10, 4), "float32"), Y[:10], verbose=0)
    with pytest.raises(ValueError, match="shape"):
        model.predict_on_batch(np.zeros((3, 5), "float32"))
    # Caught by the engine inside the job: the failed job's ValueError comes back as one.
    with pytest.raises(ValueError, match="(?i)shape|target|incompatible"):
        model.fit(X, np.zeros((64, 5), "float32"), verbose=0)
    with pytest.raises(ValueError, match="loss"):
        model.compile("adam", loss="no_such_loss")
    with pytest.raises(ValueError, match="reset_metrics"):
        model.train_on_batch(X, Y, reset_metrics=False)


def test_custom_python_code_is_refused_with_the_builtin_choices(remote: ModuleType) -> None:
    def my_loss(y_true: Any, y_pred: Any) -> Any:
        return ((y_true - y_pred) ** 2).mean(axis=-1)

    class MyLoss(remote.losses.MeanSquaredError):
        pass

    model = classifier(remote)
    for loss in (my_loss, MyLoss()):
        with pytest.raises(ValueError, match="ships no code to the server") as info:
            model.compile("adam", loss=loss)
        assert "categorical_crossentropy" in str(info.value)
    with pytest.raises(ValueError, match="ships no code") as info:
        model.compile("adam", loss="mse", metrics=[my_loss])
    assert "accuracy" in str(info.value)

    np.random.seed(0)
    a = remote.Input(shape=(3,))
    b = remote.layers.Dense(2, activation=lambda t: t * 2.0)(a)
    with pytest.raises(ValueError, match="ships no code") as info:
        remote.Model(a, b).compile("sgd", "mse")
    assert "relu" in str(info.value)


def test_get_model_unknown_is_a_value_error(remote: ModuleType) -> None:
    with pytest.raises(ValueError, match="no_such_model"):
        remote.get_model("no_such_model")


def test_arrays_are_uploaded_once(remote: ModuleType, api: httpx.Client) -> None:
    x = np.random.default_rng(11).normal(size=(40, 6)).astype("float32")
    y = np.eye(3, dtype="float32")[np.arange(40) % 3]
    model = classifier(remote)
    before = len(api.get("/datasets").json())
    model.fit(x, y, epochs=2, verbose=0)
    model.evaluate(x, y, verbose=0)
    model.predict(x)
    model.fit(x.astype("float64"), y, epochs=1, verbose=0)  # same float32 content
    assert len(api.get("/datasets").json()) == before + 2
    x2 = x.copy()
    x2[0, 0] += 1.0
    model.predict(x2)
    assert len(api.get("/datasets").json()) == before + 3


def test_large_upload_draws_a_progress_bar(remote: ModuleType,
                                           capsys: pytest.CaptureFixture) -> None:
    big = np.arange(1_200_000, dtype="float32")
    conn = remote.get_connection()
    ref = conn.data_ref(big, verbose=1)
    out = capsys.readouterr().out
    assert f"{big.nbytes + 128}" in out or str(len(big)) in out or "byte" in out
    assert "=" in out
    arrays = conn.json("GET", f"/datasets/{ref['dataset_id']}")["arrays"]
    assert arrays[ref["arrays"]] == {"shape": [1_200_000], "dtype": "<f4"}


def test_large_upload_goes_in_chunks(remote: ModuleType, api: httpx.Client,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    from numkeras import wire
    from numkeras.client.connection import Connection

    conn: Connection = remote.get_connection()
    sizes: list[int] = []
    put = conn.http.put

    def counting_put(*args: Any, **kwargs: Any) -> httpx.Response:
        response = put(*args, **kwargs)
        sizes.append((len(kwargs["content"]), response.status_code))
        return response

    monkeypatch.setattr(conn.http, "put", counting_put)
    # 13 MiB in 12 MiB chunks: the test server takes 8 MiB requests, so the first chunk gets
    # 413 and the chunks are halved.
    conn.chunk_bytes = 12 << 20
    data = np.random.default_rng(5).random((13 << 20) // 4, dtype=np.float32)
    ref = conn.data_ref(data)
    assert sizes[0] == (12 << 20, 413)
    total = len(wire.encode_arrays({"a0": data}))
    assert [s for s, code in sizes[1:]] == [6 << 20, 6 << 20, total - (12 << 20)]
    assert conn.chunk_bytes == 6 << 20
    stored = wire.decode_arrays(api.get(f"/datasets/{ref['dataset_id']}/arrays").content)
    np.testing.assert_array_equal(stored[ref["arrays"]], data)


def test_model_id_and_get_model_from_another_process(server: Server, api_key: str,
                                                     remote: ModuleType) -> None:
    model = classifier(remote)
    model.fit(X, Y, epochs=1, verbose=0, shuffle=False)
    expected = model.predict(X[:4])
    code = ("import json, sys, numpy as np, numkeras.client as keras\n"
            "x = np.array(json.loads(sys.argv[1]), dtype='float32')\n"
            "a = keras.get_model(sys.argv[2]); b = keras.get_model('classifier')\n"
            "print(json.dumps([a.id, a.metrics_names, a.predict(x).tolist(), "
            "b.predict(x).tolist()]))")
    env = {**os.environ, "NUMKERAS_URL": server.url, "NUMKERAS_API_KEY": api_key}
    out = subprocess.run([sys.executable, "-c", code, json.dumps(X[:4].tolist()), model.id],
                         capture_output=True, text=True, check=True, timeout=60, env=env)
    model_id, names, by_id, by_name = json.loads(out.stdout)
    assert model_id == model.id
    assert names == ["loss", "accuracy"]
    np.testing.assert_allclose(by_id, expected, rtol=1e-6)
    np.testing.assert_allclose(by_name, expected, rtol=1e-6)  # the newest 'classifier'


def test_history_is_what_the_server_stored(remote: ModuleType, api: httpx.Client) -> None:
    model = classifier(remote)
    history = model.fit(X, Y, batch_size=16, epochs=3, verbose=0, validation_split=0.25)
    jobs = api.get("/jobs", params={"model_id": model.id}).json()
    stored = api.get(f"/jobs/{jobs[0]['id']}/history").json()
    assert history.history == stored["history"]
    assert history.epoch == stored["epoch"] == [0, 1, 2]
    assert history.params["epochs"] == 3 and history.params["steps"] == 3


def test_stop_training_ends_the_remote_fit_after_that_epoch(remote: ModuleType,
                                                            api: httpx.Client) -> None:
    class StopAfterSecond(remote.callbacks.Callback):
        def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
            if epoch == 1:
                self.model.stop_training = True

    model = classifier(remote)
    history = model.fit(X, Y, epochs=10, verbose=0, callbacks=[StopAfterSecond()])
    assert history.epoch == [0, 1]
    jobs = api.get("/jobs", params={"model_id": model.id}).json()
    assert [j["status"] for j in jobs] == ["succeeded", "succeeded"]


def test_builtin_callbacks_run_in_one_server_job(remote: ModuleType, api: httpx.Client,
                                                capsys: pytest.CaptureFixture) -> None:
    model = classifier(remote, remote.optimizers.SGD(learning_rate=0.1))
    early = remote.callbacks.EarlyStopping(monitor="loss", patience=0, min_delta=10.0,
                                           verbose=1)
    history = model.fit(X, Y, epochs=10, verbose=0, callbacks=[
        early, remote.callbacks.ReduceLROnPlateau(monitor="loss", factor=0.5, patience=0,
                                                  min_delta=10.0),
        remote.callbacks.TerminateOnNaN()])
    # Only the first epoch improves (on inf): stopped after the second, which halved the
    # learning rate after logging it.
    assert history.epoch == [0, 1]
    assert history.history["lr"] == pytest.approx([0.1, 0.1], rel=1e-7)  # float32 in the engine
    assert early.stopped_epoch == 1 and model.stop_training
    assert "Epoch 2: early stopping" in capsys.readouterr().out
    assert model.optimizer.learning_rate == pytest.approx(0.05, rel=1e-7)
    jobs = api.get("/jobs", params={"model_id": model.id}).json()
    assert [j["status"] for j in jobs] == ["succeeded"]
    stored = api.get(f"/models/{model.id}").json()["training_config"]
    assert stored["optimizer_config"]["config"]["learning_rate"] == pytest.approx(0.05, rel=1e-7)


@pytest.mark.parametrize(("callbacks", "message"), [
    ([{"class_name": "ModelCheckpoint", "config": {"filepath": "/tmp/x"}}],
     "callbacks[0]: unknown callback class 'ModelCheckpoint'"),
    ([{"class_name": "TerminateOnNaN"}, {"class_name": "EarlyStopping",
                                         "config": {"patients": 2}}],
     "callbacks[1]: EarlyStopping has no argument 'patients'"),
    ([{"class_name": "EarlyStopping", "config": {"patience": "2"}}],
     "callbacks[0]: EarlyStopping argument 'patience' has a value of the wrong type"),
    ([{"class_name": "ReduceLROnPlateau", "config": {"factor": 1.5}}],
     "callbacks[0]: invalid ReduceLROnPlateau config: ReduceLROnPlateau does not support a "
     "factor >= 1.0"),
    ([{"class_name": "EarlyStopping", "config": {"mode": "sideways"}}],
     "callbacks[0]: invalid EarlyStopping config"),
])
def test_job_callbacks_are_checked(remote: ModuleType, api: httpx.Client, callbacks: list,
                                   message: str) -> None:
    model = classifier(remote)
    ref = remote.get_connection().data_ref(X[:8])
    response = api.post("/jobs", json={"kind": "fit", "model_id": model.id, "x": ref,
                                       "callbacks": callbacks})
    assert response.status_code == 422
    assert response.json()["message"].startswith(message)
    assert response.json()["argument"] == "callbacks"
    response = api.post("/jobs", json={"kind": "evaluate", "model_id": model.id, "x": ref,
                                       "callbacks": [{"class_name": "TerminateOnNaN"}]})
    assert response.status_code == 422 and "'callbacks' does not apply" in response.text


def test_setting_the_learning_rate_keeps_the_optimizer_state(remote: ModuleType,
                                                             api: httpx.Client) -> None:
    model = classifier(remote, remote.optimizers.Adam(learning_rate=0.01))
    model.fit(X, Y, epochs=1, verbose=0)
    before = api.get(f"/models/{model.id}/hdf5").content
    response = api.patch(f"/models/{model.id}/optimizer", json={"learning_rate": 0.125})
    assert response.status_code == 200
    assert response.json()["optimizer_config"]["config"]["learning_rate"] == 0.125
    after = api.get(f"/models/{model.id}/hdf5").content
    with h5py.File(io.BytesIO(before)) as f0, h5py.File(io.BytesIO(after)) as f1:
        group0, group1 = f0["optimizer_weights"], f1["optimizer_weights"]
        names: list[str] = []
        group0.visit(lambda n: names.append(n) if isinstance(group0[n], h5py.Dataset) else None)
        assert any("iter" in n for n in names) and len(names) == 1 + 2 * 4
        for n in names:
            np.testing.assert_array_equal(group1[n][()], group0[n][()])
    assert api.patch(f"/models/{model.id}/optimizer",
                     json={"learning_rate": -1}).status_code == 422
    assert api.patch("/models/mdl_nope/optimizer",
                     json={"learning_rate": 0.1}).status_code == 404
    response = api.patch(f"/models/{two_by_two(remote).id}/optimizer",
                         json={"learning_rate": 0.1})
    assert response.status_code == 422 and "compile" in response.json()["message"]


def test_ctrl_c_cancels_the_remote_job(remote: ModuleType, api: httpx.Client) -> None:
    class Interrupt(remote.callbacks.Callback):
        def on_train_batch_end(self, batch: int, logs: Any = None) -> None:
            raise KeyboardInterrupt

    model = classifier(remote)
    before = model.get_weights()
    many = np.repeat(X, 20, axis=0)
    with pytest.raises(KeyboardInterrupt):
        model.fit(many, np.repeat(Y, 20, axis=0), batch_size=1, epochs=50, verbose=0,
                  callbacks=[Interrupt()])
    deadline = time.monotonic() + 20
    while True:
        jobs = api.get("/jobs", params={"model_id": model.id}).json()
        if jobs[0]["status"] in ("cancelled", "succeeded", "failed"):
            break
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert jobs[0]["status"] == "cancelled"
    for a, b in zip(before, model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_generators_stream_their_batches_to_the_job(remote: ModuleType,
                                                   api: httpx.Client) -> None:
    def batches():
        for i in range(0, 64, 16):
            yield X[i:i + 16], Y[i:i + 16]

    model = classifier(remote)
    assert remote.get_connection().streams_batches
    model.fit_generator(batches(), steps_per_epoch=4, epochs=1, verbose=0)
    model.predict_generator(batches(), steps=4)
    jobs = api.get("/jobs", params={"model_id": model.id}).json()
    assert [(j["kind"], j["stream"]) for j in jobs] == [("predict", True), ("fit", True)]
    queue = api.get(f"/jobs/{jobs[1]['id']}/batches").json()
    assert queue["pushed"] == queue["consumed"] == 4


def test_a_failing_generator_cancels_the_job_and_raises(remote: ModuleType,
                                                        api: httpx.Client) -> None:
    def broken():
        yield X[:16], Y[:16]
        raise ValueError("the user's generator broke")

    model = classifier(remote)
    with pytest.raises(ValueError, match="generator broke"):
        model.fit_generator(broken(), steps_per_epoch=4, epochs=2, verbose=0)
    jobs = api.get("/jobs", params={"model_id": model.id}).json()
    assert [j["status"] for j in jobs] == ["cancelled"]


def test_progress_bar_and_one_line_per_epoch(remote: ModuleType,
                                             capsys: pytest.CaptureFixture) -> None:
    model = classifier(remote)
    model.fit(X, Y, batch_size=16, epochs=2, verbose=1)
    out = capsys.readouterr().out
    assert "Epoch 1/2" in out and "Epoch 2/2" in out
    assert "4/4 [==============================]" in out and "loss:" in out
    model.fit(X, Y, batch_size=16, epochs=3, verbose=2, validation_data=(X, Y))
    lines = [line for line in capsys.readouterr().out.splitlines() if "loss:" in line]
    assert len(lines) == 3 and all("val_loss:" in line and "[" not in line for line in lines)
    model.fit(X, Y, epochs=1, verbose=0)
    model.evaluate(X, Y, verbose=0)
    assert capsys.readouterr().out == ""
    model.evaluate(X, Y, batch_size=16)
    assert "4/4 [==============================]" in capsys.readouterr().out


def test_layers_are_the_vocabulary_layers_with_the_server_weights(remote: ModuleType) -> None:
    model = classifier(remote)
    initial = model.get_layer("probs").get_weights()
    model.fit(X, Y, epochs=2, verbose=0)
    layer = model.get_layer("probs")
    assert isinstance(layer, remote.layers.Dense) and layer.name == "probs"
    assert layer.get_config()["units"] == 3
    trained = model.get_weights()
    for got, want in zip(layer.get_weights(), trained[2:], strict=True):
        np.testing.assert_array_equal(got, want)
    assert not np.allclose(layer.get_weights()[0], initial[0])
    with pytest.raises(ValueError, match="shape"):
        layer.set_weights([np.zeros((3, 3), "float32"), np.zeros(3, "float32")])
    model.layers[2].set_weights([np.ones((8, 3), "float32"), np.full(3, 0.5, "float32")])
    np.testing.assert_array_equal(model.get_weights()[3], np.full(3, 0.5, "float32"))
    np.testing.assert_array_equal(model.get_weights()[0], trained[0])


def test_summary_and_count_params(remote: ModuleType, capsys: pytest.CaptureFixture) -> None:
    model = classifier(remote)
    assert model.count_params() == 6 * 8 + 8 + 8 * 3 + 3
    model.summary()
    out = capsys.readouterr().out
    assert "hidden (Dense)" in out and "Total params: 83" in out


def test_client_file_loads_in_the_engine(remote: ModuleType, local: ModuleType,
                                         tmp_path: Any) -> None:
    model = classifier(remote)
    model.fit(X, Y, epochs=2, verbose=0, shuffle=False)
    model.save(str(tmp_path / "remote.h5"))
    engine_model = local.models.load_model(str(tmp_path / "remote.h5"))
    np.testing.assert_allclose(engine_model.predict(X), model.predict(X), rtol=1e-5, atol=1e-6)
    assert engine_model.metrics_names == model.metrics_names


@pytest.mark.parametrize("example, expected", [
    ("client_documentation_example.py", "keras namespace: True"),
    ("client_multi_io.py", "predict shapes: (512, 1) (512, 1)"),
    ("client_generator_fit.py", "predict_generator: (1000, 3)"),
])
def test_examples_run_against_the_server(example: str, expected: str, server: Server,
                                         api_key: str) -> None:
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "NUMKERAS_URL": server.url, "NUMKERAS_API_KEY": api_key}
    out = subprocess.run([sys.executable, str(root / "examples" / example)], env=env,
                         capture_output=True, text=True, timeout=120, cwd=root)
    assert out.returncode == 0, out.stderr
    assert expected in out.stdout
