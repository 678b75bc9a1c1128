"""One Keras 2 script, two backends: every scenario runs the same code on ``numkeras.engine``
(in-process) and on ``numkeras.client`` (a real server) and must give the same numbers.

Both backends start from the same weights (``np.random.seed`` before the model is built; the
client uploads its initial weights with the model), and ``shuffle=False`` fixes the batches.
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest

RNG = np.random.default_rng(7)
X = RNG.normal(size=(64, 6)).astype("float32")
X2 = RNG.normal(size=(64, 3)).astype("float32")
LABELS = RNG.integers(0, 3, size=64)
Y = np.eye(3, dtype="float32")[LABELS]
YR = RNG.normal(size=(64, 2)).astype("float32")
YB = RNG.integers(0, 2, size=(64, 1)).astype("float32")
SW = RNG.uniform(0.5, 2.0, size=64).astype("float32")


def classifier(keras: ModuleType, optimizer: Any = "adam") -> Any:
    np.random.seed(3)
    a = keras.Input(shape=(6,), name="features")
    h = keras.layers.Dense(8, activation="relu", name="hidden")(a)
    out = keras.layers.Dense(3, activation="softmax", name="probs")(h)
    model = keras.Model(inputs=a, outputs=out, name="classifier")
    model.compile(optimizer=optimizer, loss="categorical_crossentropy", metrics=["accuracy"])
    return model


def two_by_two(keras: ModuleType) -> Any:
    np.random.seed(4)
    a = keras.Input(shape=(6,), name="in_a")
    b = keras.Input(shape=(3,), name="in_b")
    h = keras.layers.Concatenate(name="join")([keras.layers.Dense(5, name="da")(a),
                                               keras.layers.Dense(5, name="db")(b)])
    h = keras.layers.Activation("tanh", name="act")(h)
    reg = keras.layers.Dense(2, name="reg")(h)
    cls = keras.layers.Dense(1, activation="sigmoid", name="cls")(h)
    return keras.Model(inputs=[a, b], outputs=[reg, cls], name="two_by_two")


def scenario_arrays(keras: ModuleType, tmp: Path) -> dict[str, Any]:
    model = classifier(keras)
    out: dict[str, Any] = {"names_before_fit": model.metrics_names,
                           "count_params": model.count_params()}
    history = model.fit(X, Y, batch_size=16, epochs=3, verbose=0, shuffle=False,
                        validation_split=0.25)
    out["history"] = history.history
    out["epoch"] = history.epoch
    out["weighted"] = model.fit(X, Y, batch_size=10, epochs=2, verbose=0, shuffle=False,
                                sample_weight=SW, class_weight={0: 1.0, 1: 2.0, 2: 0.5}).history
    out["freq"] = model.fit(X, Y, batch_size=16, epochs=4, initial_epoch=1, verbose=0,
                            shuffle=False, validation_data=(X[:10], Y[:10]),
                            validation_freq=2).history
    out["steps_per_epoch"] = model.fit(X, Y, batch_size=24, steps_per_epoch=2, epochs=2,
                                       verbose=0, shuffle=False).history
    out["evaluate"] = model.evaluate(X, Y, batch_size=20, verbose=0)
    out["evaluate_steps"] = model.evaluate(X, Y, batch_size=20, steps=2, verbose=0)
    out["evaluate_dict"] = model.evaluate(X, Y, verbose=0, return_dict=True)
    out["evaluate_sw"] = model.evaluate(X, Y, sample_weight=SW, verbose=0)
    out["predict"] = model.predict(X, batch_size=7)
    out["train_on_batch"] = model.train_on_batch(X[:16], Y[:16])
    out["train_on_batch_cw"] = model.train_on_batch(
        X[:16], Y[:16], class_weight={0: 1.0, 1: 3.0, 2: 1.0}, return_dict=True)
    out["test_on_batch"] = model.test_on_batch(X[16:32], Y[16:32], sample_weight=SW[16:32])
    out["predict_on_batch"] = model.predict_on_batch(X[:5])
    out["weights"] = model.get_weights()
    layer = model.get_layer("hidden")
    out["layer"] = (layer.name, layer.get_config()["units"], layer.get_weights())
    out["layer_by_index"] = model.get_layer(index=-1).name
    out["layers"] = [(type(la).__name__, la.get_weights()) for la in model.layers]
    layer.set_weights([np.full((6, 8), 0.1, "float32"), np.zeros(8, "float32")])
    out["after_layer_set"] = model.predict(X[:4])
    out["names"] = model.metrics_names
    return out


def scenario_lists(keras: ModuleType, tmp: Path) -> dict[str, Any]:
    model = two_by_two(keras)
    model.compile("rmsprop", loss=["mse", "binary_crossentropy"], loss_weights=[1.0, 0.5],
                  metrics=["mae"])
    out: dict[str, Any] = {"names": model.metrics_names}
    out["history"] = model.fit([X, X2], [YR, YB], batch_size=16, epochs=2, verbose=0,
                               shuffle=False, sample_weight=[SW, None],
                               validation_data=([X[:20], X2[:20]], [YR[:20], YB[:20]])).history
    out["evaluate"] = model.evaluate([X, X2], [YR, YB], verbose=0)
    out["predict"] = model.predict([X, X2], batch_size=32)
    out["train_on_batch"] = model.train_on_batch([X[:8], X2[:8]], [YR[:8], YB[:8]])
    out["test_on_batch"] = model.test_on_batch([X[:8], X2[:8]], [YR[:8], YB[:8]],
                                               return_dict=True)
    out["predict_on_batch"] = model.predict_on_batch([X[:3], X2[:3]])
    return out


def scenario_dicts(keras: ModuleType, tmp: Path) -> dict[str, Any]:
    model = two_by_two(keras)
    model.compile(keras.optimizers.Adam(learning_rate=0.01),
                  loss={"reg": "mse", "cls": keras.losses.BinaryCrossentropy()},
                  loss_weights={"reg": 0.3, "cls": 2.0},
                  metrics={"reg": ["mae"], "cls": [keras.metrics.BinaryAccuracy()]})
    xs, ys = {"in_a": X, "in_b": X2}, {"reg": YR, "cls": YB}
    out: dict[str, Any] = {"names": model.metrics_names}
    out["history"] = model.fit(xs, ys, batch_size=12, epochs=2, verbose=0, shuffle=False,
                               sample_weight={"reg": SW, "cls": SW},
                               validation_data=({"in_a": X[:9], "in_b": X2[:9]},
                                                {"reg": YR[:9], "cls": YB[:9]})).history
    out["evaluate"] = model.evaluate(xs, ys, verbose=0, return_dict=True)
    out["predict"] = model.predict(xs)
    out["train_on_batch"] = model.train_on_batch({"in_a": X[:8], "in_b": X2[:8]},
                                                 {"reg": YR[:8], "cls": YB[:8]})
    out["predict_on_batch"] = model.predict_on_batch({"in_a": X[:3], "in_b": X2[:3]})
    return out


def _sequence(keras: ModuleType, with_weights: bool = False) -> Any:
    class Batches(keras.utils.Sequence):
        def __len__(self) -> int:
            return 5

        def __getitem__(self, i: int) -> tuple:
            s = slice(i * 13, (i + 1) * 13)
            return (X[s], Y[s], SW[s]) if with_weights else (X[s], Y[s])

    return Batches()


def _generator() -> Any:
    i = 0
    while True:
        s = slice((i % 4) * 16, (i % 4 + 1) * 16)
        yield X[s], Y[s]
        i += 1


def scenario_generators(keras: ModuleType, tmp: Path) -> dict[str, Any]:
    model = classifier(keras)
    out: dict[str, Any] = {}
    out["fit_generator"] = model.fit_generator(
        _sequence(keras, with_weights=True), epochs=2, verbose=0, shuffle=False,
        validation_data=_sequence(keras)).history
    out["fit_gen"] = model.fit(_generator(), steps_per_epoch=3, epochs=3, verbose=0,
                               workers=2, validation_data=_generator(),
                               validation_steps=2).history
    out["evaluate_generator"] = model.evaluate_generator(_generator(), steps=4)
    out["evaluate_sequence"] = model.evaluate(_sequence(keras), verbose=0, return_dict=True)
    out["predict_generator"] = model.predict_generator(_sequence(keras), workers=2)
    out["predict_gen"] = model.predict((x for x, _ in _generator()), steps=2)
    return out


def scenario_generators_uploaded(keras: ModuleType, tmp: Path) -> dict[str, Any]:
    """The fallback for servers without streamed jobs: each epoch's batches drained into a
    dataset, sliced back into the same batches on the server."""
    if hasattr(keras, "get_connection"):
        keras.get_connection()._streams = False
    return scenario_generators(keras, tmp)


def _callbacks(keras: ModuleType, tmp: Path, seen: list) -> list:
    class StopAt(keras.callbacks.Callback):
        def on_train_begin(self, logs: Any = None) -> None:
            seen.append(("begin", self.params["epochs"], self.params["steps"]))

        def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
            seen.append(("weights", epoch, self.model.get_weights()[1]))
            if epoch == 4:
                self.model.stop_training = True

    return [
        keras.callbacks.LambdaCallback(
            on_epoch_end=lambda epoch, logs: seen.append(("logs", epoch, dict(logs)))),
        keras.callbacks.LearningRateScheduler(lambda epoch, lr: lr * 0.7 if epoch else lr),
        keras.callbacks.CSVLogger(str(tmp / "log.csv")),
        keras.callbacks.ModelCheckpoint(str(tmp / "w{epoch}.h5"), save_weights_only=True),
        StopAt(),
    ]


def scenario_callbacks(keras: ModuleType, tmp: Path) -> dict[str, Any]:
    model = classifier(keras, keras.optimizers.SGD(learning_rate=0.2))
    seen: list = []
    history = model.fit(X, Y, batch_size=16, epochs=8, verbose=0, shuffle=False,
                        validation_split=0.25, callbacks=_callbacks(keras, tmp, seen))
    with open(tmp / "log.csv") as f:
        rows = [{k: float(v) for k, v in row.items()} for row in csv.DictReader(f)]
    checkpoint = classifier(keras)
    checkpoint.load_weights(str(tmp / "w3.h5"))
    out = {"history": history.history, "epoch": history.epoch, "seen": seen, "csv": rows,
           "files": sorted(p.name for p in tmp.glob("w*.h5")),
           "checkpoint_3": checkpoint.get_weights()}
    model2 = classifier(keras, keras.optimizers.SGD(learning_rate=0.5))
    early = keras.callbacks.EarlyStopping(monitor="val_loss", patience=1, min_delta=0.02,
                                          restore_best_weights=True)
    plateau = keras.callbacks.ReduceLROnPlateau(monitor="loss", factor=0.5, patience=0,
                                                min_delta=0.05)
    out["early"] = model2.fit(X, Y, batch_size=8, epochs=12, verbose=0, shuffle=False,
                              validation_data=(X[:16], Y[:16]),
                              callbacks=[early, plateau]).history
    out["early_stopped_epoch"] = early.stopped_epoch
    out["early_weights"] = model2.get_weights()
    return out


def scenario_stateful_optimizer(keras: ModuleType, tmp: Path) -> dict[str, Any]:
    """Adam's moments and step count survive across the one-job-per-epoch fit."""
    model = classifier(keras, keras.optimizers.Adam(learning_rate=0.05))
    logs: list = []
    hist = model.fit(X, Y, batch_size=16, epochs=4, verbose=0, shuffle=False,
                     callbacks=[keras.callbacks.LambdaCallback(
                         on_epoch_end=lambda e, lg: logs.append(lg["loss"]))]).history
    more = model.fit(X, Y, batch_size=16, epochs=6, initial_epoch=4, verbose=0,
                     shuffle=False)
    return {"history": hist, "logs": logs, "more": more.history, "more_epochs": more.epoch,
            "weights": model.get_weights()}


def scenario_server_callbacks(keras: ModuleType, tmp: Path) -> dict[str, Any]:
    """Built-in callbacks alone: the client runs them in the server's job (one job)."""
    model = classifier(keras, keras.optimizers.Adam(learning_rate=0.02))
    early = keras.callbacks.EarlyStopping(monitor="val_accuracy", patience=2, min_delta=0.001,
                                          restore_best_weights=True)
    plateau = keras.callbacks.ReduceLROnPlateau(monitor="val_loss", factor=0.3, patience=0,
                                                min_delta=0.01, cooldown=1, min_lr=1e-3)
    history = model.fit(X, Y, batch_size=8, epochs=15, verbose=0, shuffle=False,
                        validation_data=(X[:16], Y[:16]), callbacks=[early, plateau])
    out: dict[str, Any] = {"history": history.history, "epoch": history.epoch,
                           "stopped_epoch": early.stopped_epoch, "best_epoch": early.best_epoch,
                           "best": early.best, "plateau_wait": plateau.wait,
                           "lr": float(model.optimizer.learning_rate),
                           "stop_training": bool(model.stop_training),
                           "weights": model.get_weights()}
    # The reduced learning rate and Adam's state are the model's now.
    out["after"] = model.fit(X, Y, batch_size=16, epochs=2, verbose=0, shuffle=False,
                             callbacks=[keras.callbacks.ReduceLROnPlateau(
                                 monitor="loss", patience=5)]).history
    out["step"] = model.train_on_batch(X[:16], Y[:16])
    return out


def scenario_lr_schedule_adam(keras: ModuleType, tmp: Path) -> dict[str, Any]:
    """A Python schedule runs in the client; a changed learning rate keeps Adam's moments."""
    model = classifier(keras, keras.optimizers.Adam(learning_rate=0.02))
    schedule = keras.callbacks.LearningRateScheduler(lambda epoch, lr: 0.02 / (1 + epoch))
    history = model.fit(X, Y, batch_size=16, epochs=4, verbose=0, shuffle=False,
                        callbacks=[schedule])
    lr = float(model.optimizer.learning_rate)
    model.optimizer.learning_rate = 0.004  # then a fit in one job
    after = model.fit(X, Y, batch_size=16, epochs=2, verbose=0, shuffle=False).history
    model.optimizer.learning_rate = 0.3
    return {"history": history.history, "lr": lr, "after": after,
            "weights": model.get_weights(), "step": model.train_on_batch(X[:16], Y[:16])}


def scenario_terminate_on_nan(keras: ModuleType, tmp: Path) -> dict[str, Any]:
    model = classifier(keras, keras.optimizers.SGD(learning_rate=1e12))
    hist = model.fit(X * 1e3, Y, batch_size=16, epochs=5, verbose=0, shuffle=False,
                     callbacks=[keras.callbacks.TerminateOnNaN()])
    return {"epochs": len(hist.history["loss"]), "nan": bool(np.isnan(hist.history["loss"][-1]))}


def scenario_saving(keras: ModuleType, tmp: Path) -> dict[str, Any]:
    model = classifier(keras)
    model.fit(X, Y, batch_size=16, epochs=2, verbose=0, shuffle=False)
    model.save(str(tmp / "model.h5"))
    loaded = keras.models.load_model(str(tmp / "model.h5"))
    out: dict[str, Any] = {"loaded_predict": loaded.predict(X),
                           "loaded_names": loaded.metrics_names,
                           "loaded_name": loaded.name}
    # The optimizer state came along: the next step matches the original model's.
    out["loaded_step"] = loaded.train_on_batch(X[:16], Y[:16])
    out["original_step"] = model.train_on_batch(X[:16], Y[:16])
    model.save_weights(str(tmp / "weights.h5"))
    fresh = classifier(keras)
    fresh.load_weights(str(tmp / "weights.h5"))
    out["weights_roundtrip"] = fresh.get_weights()
    fresh.load_weights(str(tmp / "model.h5"), by_name=True)
    out["by_name"] = fresh.get_weights()
    clone = keras.models.model_from_json(model.to_json())
    clone.set_weights(model.get_weights())
    out["clone_predict"] = clone.predict(X[:10])
    keras.models.save_model(model, str(tmp / "again.h5"), include_optimizer=False)
    out["again_predict"] = keras.models.load_model(str(tmp / "again.h5")).predict(X[:3])
    return out


SCENARIOS: dict[str, Callable[[ModuleType, Path], dict[str, Any]]] = {
    "arrays": scenario_arrays,
    "lists": scenario_lists,
    "dicts": scenario_dicts,
    "generators": scenario_generators,
    "generators_uploaded": scenario_generators_uploaded,
    "callbacks": scenario_callbacks,
    "stateful_optimizer": scenario_stateful_optimizer,
    "server_callbacks": scenario_server_callbacks,
    "lr_schedule_adam": scenario_lr_schedule_adam,
    "terminate_on_nan": scenario_terminate_on_nan,
    "saving": scenario_saving,
}


def assert_same(local: Any, remote: Any, where: str = "") -> None:
    """Equal structure, equal strings and ints, numbers equal within float32 tolerance."""
    if isinstance(local, dict):
        assert isinstance(remote, dict), where
        assert list(local) == list(remote), f"{where}: keys {list(local)} != {list(remote)}"
        for k in local:
            assert_same(local[k], remote[k], f"{where}.{k}")
    elif isinstance(local, (list, tuple)) and not (local and isinstance(local[0], float)):
        assert isinstance(remote, (list, tuple)), f"{where}: {type(remote)}"
        assert len(local) == len(remote), f"{where}: {len(local)} != {len(remote)}"
        for i, (a, b) in enumerate(zip(local, remote, strict=True)):
            assert_same(a, b, f"{where}[{i}]")
    elif isinstance(local, (str, bool, type(None))):
        assert local == remote, f"{where}: {local!r} != {remote!r}"
    else:
        a, b = np.asarray(local), np.asarray(remote)
        assert a.shape == b.shape, f"{where}: shape {a.shape} != {b.shape}"
        np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-6, err_msg=where)


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_same_numbers(name: str, local: ModuleType, remote: ModuleType,
                      tmp_path: Path) -> None:
    results = {}
    for keras in (local, remote):
        where = tmp_path / keras.__name__.rsplit(".", 1)[-1]
        where.mkdir()
        results[keras.__name__] = SCENARIOS[name](keras, where)
    assert_same(results[local.__name__], results[remote.__name__], name)
