"""Keras 2 HDF5 saving: layout, round trips, loading rules, atomic writes, tf-keras files."""

from __future__ import annotations

import json
import os
import sys
import warnings

import h5py
import numpy as np
import pytest

from numkeras import optimizers
from numkeras.engine import saving, updates
from numkeras.engine.saving import hdf5_format
from numkeras.engine.training import Model
from numkeras.layers import Dense, Input

REFERENCE = os.path.join(os.path.dirname(__file__), "..", "fixtures", "reference")


def reference(name: str) -> str:
    path = os.path.join(REFERENCE, name)
    assert os.path.exists(path), f"tf-keras reference file {name} is missing"
    return path


def mlp(hidden: int = 8, out: int = 3, names: tuple[str, str] = ("hidden", "predictions"),
        seed: int = 0, n_in: int = 4) -> Model:
    x = Input((n_in,), name="features")
    h = Dense(hidden, activation="relu", name=names[0])(x)
    y = Dense(out, activation="softmax", name=names[1])(h)
    model = Model(x, y, name="mlp")
    rng = np.random.default_rng(seed)
    model.set_weights([rng.standard_normal(w.shape).astype(np.float32) for w in model.weights])
    return model


def step(model: Model, seed: int) -> None:
    """One optimizer step with made-up gradients: gives the optimizer a state to save."""
    rng = np.random.default_rng(seed)
    params = [w.value for w in model.trainable_weights]
    updates.apply_gradients(model.optimizer, params,
                            [rng.standard_normal(p.shape).astype(np.float32) for p in params])


def layout(group: h5py.Group) -> dict:
    """Every object's path, kind, shape, dtype and attribute names with their HDF5 types."""

    def attrs(obj: h5py.HLObject) -> dict:
        out = {}
        for key in obj.attrs:
            aid = obj.attrs.get_id(key)
            out[key] = (str(h5py.check_string_dtype(aid.dtype) or aid.dtype), aid.shape)
        return out

    result = {"/": ("group", attrs(group))}

    def visit(name: str, obj: h5py.HLObject) -> None:
        if isinstance(obj, h5py.Dataset):
            result[name] = ("dataset", obj.shape, str(obj.dtype), attrs(obj))
        else:
            result[name] = ("group", attrs(obj))

    group.visititems(visit)
    return result


# ----------------------------------------------------------------------------- layout
def test_weights_file_layout_is_keras2(tmp_path):
    model = mlp()
    path = tmp_path / "w.h5"
    model.save_weights(path)
    with h5py.File(path, "r") as f:
        assert set(f.attrs) == {"layer_names", "backend", "keras_version"}
        assert list(f.attrs["layer_names"]) == ["features", "hidden", "predictions"]
        assert f.attrs["backend"] == "tensorflow"
        assert sorted(f) == ["features", "hidden", "predictions", "top_level_model_weights"]
        assert f["features"].attrs["weight_names"].dtype == np.float64
        assert f["features"].attrs["weight_names"].shape == (0,)
        assert list(f["hidden"].attrs["weight_names"]) == ["hidden/kernel:0", "hidden/bias:0"]
        kernel = f["hidden/hidden/kernel:0"]
        assert kernel.dtype == np.float32 and kernel.shape == (4, 8)
        np.testing.assert_array_equal(kernel[()], model.get_layer("hidden").get_weights()[0])
        np.testing.assert_array_equal(f["predictions/predictions/bias:0"][()],
                                      model.get_layer("predictions").get_weights()[1])


def test_weights_layout_equals_tf_keras_file(tmp_path):
    ref = reference("mlp_weights.h5")
    path = tmp_path / "w.h5"
    mlp().save_weights(path)
    with h5py.File(path, "r") as ours, h5py.File(ref, "r") as theirs:
        assert layout(ours) == layout(theirs)


def test_full_model_layout_equals_tf_keras_file(tmp_path):
    ref = reference("mlp_full.h5")
    model = mlp()
    model.compile(optimizers.SGD(0.05, momentum=0.9, nesterov=True),
                  "categorical_crossentropy", metrics=["accuracy"])
    step(model, 1)
    path = tmp_path / "m.h5"
    model.save(path)
    with h5py.File(path, "r") as ours, h5py.File(ref, "r") as theirs:
        assert layout(ours) == layout(theirs)
        assert list(ours["optimizer_weights"].attrs["weight_names"]) == \
            list(theirs["optimizer_weights"].attrs["weight_names"])


def test_full_model_file_contents(tmp_path):
    model = mlp()
    model.compile(optimizers.Adam(0.01), "categorical_crossentropy", metrics=["accuracy"])
    step(model, 1)
    step(model, 2)
    path = tmp_path / "m.h5"
    model.save(path)
    with h5py.File(path, "r") as f:
        assert set(f.attrs) == {"keras_version", "backend", "model_config", "training_config"}
        config = json.loads(f.attrs["model_config"])
        assert set(config) == {"class_name", "config"}
        assert config["class_name"] in ("Model", "Functional")
        assert [la["name"] for la in config["config"]["layers"]] == \
            ["features", "hidden", "predictions"]
        training = json.loads(f.attrs["training_config"])
        assert training["loss"] == "categorical_crossentropy"
        assert training["optimizer_config"]["config"]["learning_rate"] == pytest.approx(0.01)
        names = list(f["optimizer_weights"].attrs["weight_names"])
        assert names == [
            "iteration:0",
            "Adam/m/hidden/kernel:0", "Adam/v/hidden/kernel:0",
            "Adam/m/hidden/bias:0", "Adam/v/hidden/bias:0",
            "Adam/m/predictions/kernel:0", "Adam/v/predictions/kernel:0",
            "Adam/m/predictions/bias:0", "Adam/v/predictions/bias:0",
        ]
        assert f["optimizer_weights/iteration:0"][()] == 2
        assert f["optimizer_weights/iteration:0"].dtype == np.int64
        np.testing.assert_array_equal(f["optimizer_weights/Adam/v/hidden/bias:0"][()],
                                      model.optimizer.slots[1]["v"])
        np.testing.assert_array_equal(f["model_weights/predictions/predictions/kernel:0"][()],
                                      model.get_layer("predictions").get_weights()[0])


def test_long_attribute_lists_are_chunked(tmp_path):
    names = [f"layer_with_a_rather_long_name_{i:05d}".encode() for i in range(3000)]
    with h5py.File(tmp_path / "a.h5", "w") as f:
        saving.save_attributes_to_hdf5_group(f, "layer_names", names)
        assert "layer_names" not in f.attrs
        assert "layer_names0" in f.attrs and "layer_names1" in f.attrs
        assert all(f.attrs.get_id(k).get_storage_size() <= hdf5_format.HDF5_OBJECT_HEADER_LIMIT
                   for k in f.attrs)
        assert saving.load_attributes_from_hdf5_group(f, "layer_names") == \
            [n.decode() for n in names]


# ------------------------------------------------------------------------- weights
@pytest.mark.parametrize("filename", ["w.h5", "w.hdf5", "w.keras", "weights_no_suffix"])
def test_save_load_weights_round_trip(tmp_path, filename):
    source, target = mlp(seed=1), mlp(seed=2)
    path = tmp_path / filename
    source.save_weights(str(path))
    assert h5py.is_hdf5(path)
    assert not np.array_equal(source.get_weights()[0], target.get_weights()[0])
    target.load_weights(str(path))
    for a, b in zip(source.get_weights(), target.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_load_weights_from_full_model_file(tmp_path):
    source = mlp(seed=1)
    source.compile("sgd", "mse")
    source.save(tmp_path / "m.h5")
    target = mlp(seed=2)
    target.load_weights(tmp_path / "m.h5")
    for a, b in zip(source.get_weights(), target.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_topological_loading_ignores_layer_names(tmp_path):
    source = mlp(seed=1)
    source.save_weights(tmp_path / "w.h5")
    target = mlp(seed=2, names=("first", "second"))
    target.load_weights(tmp_path / "w.h5")
    for a, b in zip(source.get_weights(), target.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_topological_loading_layer_count_mismatch(tmp_path):
    mlp().save_weights(tmp_path / "w.h5")
    x = Input((4,))
    y = Dense(3)(Dense(8)(Dense(8)(x)))
    with pytest.raises(ValueError, match="Model expected 3 layers, found 2 saved layers"):
        Model(x, y).load_weights(tmp_path / "w.h5")


def test_topological_loading_shape_mismatch_names_layer_and_shapes(tmp_path):
    mlp(hidden=8).save_weights(tmp_path / "w.h5")
    target = mlp(hidden=5, seed=3)
    before = target.get_weights()
    with pytest.raises(ValueError, match=r"hidden.*\(4, 5\).*\(4, 8\)"):
        target.load_weights(tmp_path / "w.h5")
    for a, b in zip(before, target.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_load_by_name_matches_renamed_and_missing_layers(tmp_path):
    source = mlp(seed=1)
    source.save_weights(tmp_path / "w.h5")
    x = Input((4,), name="features")
    h = Dense(8, activation="relu", name="hidden")(x)
    extra = Dense(8, name="extra")(h)
    y = Dense(3, name="renamed_output")(extra)
    target = Model(x, y)
    before = target.get_weights()
    target.load_weights(tmp_path / "w.h5", by_name=True)
    after = dict(zip([w.name for w in target.weights], target.get_weights(), strict=True))
    np.testing.assert_array_equal(after["hidden/kernel:0"], source.get_weights()[0])
    np.testing.assert_array_equal(after["hidden/bias:0"], source.get_weights()[1])
    for name, value in zip([w.name for w in target.weights], before, strict=True):
        if not name.startswith("hidden/"):
            np.testing.assert_array_equal(after[name], value)


def test_load_by_name_skip_mismatch(tmp_path):
    source = mlp(seed=1)
    source.save_weights(tmp_path / "w.h5")
    target = mlp(out=2, seed=2)
    before = target.get_layer("predictions").get_weights()
    with pytest.raises(ValueError, match=r"predictions.*\(8, 2\).*\(8, 3\)"):
        target.load_weights(tmp_path / "w.h5", by_name=True)
    with pytest.warns(UserWarning) as record:
        target.load_weights(tmp_path / "w.h5", by_name=True, skip_mismatch=True)
    assert [str(w.message).split(" for weight ")[1] for w in record] == [
        "predictions/kernel:0. Weight expects shape (8, 2). Received saved weight with shape "
        "(8, 3)",
        "predictions/bias:0. Weight expects shape (2,). Received saved weight with shape (3,)",
    ]
    np.testing.assert_array_equal(target.get_layer("hidden").get_weights()[0],
                                  source.get_weights()[0])
    np.testing.assert_array_equal(target.get_layer("predictions").get_weights()[0], before[0])
    with pytest.raises(ValueError, match="skip_mismatch can only be set to True when by_name"):
        target.load_weights(tmp_path / "w.h5", skip_mismatch=True)


def nested_model(seed: int) -> Model:
    inner_in = Input((4,), name="inner_input")
    inner = Model(inner_in, Dense(6, name="inner_dense")(inner_in), name="inner")
    x = Input((4,), name="outer_input")
    model = Model(x, Dense(2, name="head")(inner(x)), name="outer")
    rng = np.random.default_rng(seed)
    model.set_weights([rng.standard_normal(w.shape).astype(np.float32) for w in model.weights])
    return model


def test_nested_model_is_one_layer_group(tmp_path):
    source = nested_model(1)
    source.save_weights(tmp_path / "w.h5")
    with h5py.File(tmp_path / "w.h5", "r") as f:
        assert list(f.attrs["layer_names"]) == ["outer_input", "inner", "head"]
        assert list(f["inner"].attrs["weight_names"]) == \
            ["inner_dense/kernel:0", "inner_dense/bias:0"]
        np.testing.assert_array_equal(f["inner/inner_dense/kernel:0"][()],
                                      source.get_weights()[0])
    target = nested_model(2)
    target.load_weights(tmp_path / "w.h5")
    for a, b in zip(source.get_weights(), target.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_nested_model_full_round_trip(tmp_path):
    source = nested_model(1)
    source.compile("adam", "mse")
    source.save(tmp_path / "m.h5")
    loaded = saving.load_model(tmp_path / "m.h5")
    assert isinstance(loaded.get_layer("inner"), Model)
    assert loaded.get_config() == source.get_config()
    for a, b in zip(source.get_weights(), loaded.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_nested_model_config_uses_keras_node_indices(tmp_path):
    nested_model(1).save(tmp_path / "m.h5")
    with h5py.File(tmp_path / "m.h5", "r") as f:
        layers = json.loads(f.attrs["model_config"])["config"]["layers"]
    head = next(layer for layer in layers if layer["name"] == "head")
    assert head["inbound_nodes"] == [[["inner", 1, 0, {}]]]


def test_loads_keras_nested_model_config(tmp_path):
    source = nested_model(1)
    source.save(tmp_path / "m.h5")
    with h5py.File(tmp_path / "m.h5", "a") as f:
        config = json.loads(f.attrs["model_config"])
        for layer in config["config"]["layers"]:
            if layer["name"] == "head":  # as tf-keras writes it
                layer["inbound_nodes"] = [[["inner", 1, 0, {}]]]
        f.attrs["model_config"] = json.dumps(config).encode()
    loaded = saving.load_model(tmp_path / "m.h5", compile=False)
    for a, b in zip(source.get_weights(), loaded.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


# --------------------------------------------------------------------------- models
@pytest.mark.parametrize("optimizer", [
    optimizers.SGD(0.05, momentum=0.9, nesterov=True),
    optimizers.Adam(0.01, amsgrad=True),
    optimizers.RMSprop(0.01, momentum=0.5, centered=True),
])
def test_full_model_round_trip(tmp_path, optimizer):
    model = mlp(seed=4)
    model.compile(optimizer, "categorical_crossentropy", metrics=["accuracy"])
    step(model, 1)
    step(model, 2)
    model.save(tmp_path / "m.h5")
    loaded = saving.load_model(tmp_path / "m.h5")
    assert type(loaded) is Model
    assert loaded.get_config() == model.get_config()
    for a, b in zip(model.get_weights(), loaded.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    assert type(loaded.optimizer) is type(optimizer)
    assert loaded.optimizer.get_config() == optimizer.get_config()
    assert loaded.optimizer.iterations == 2
    assert len(loaded.optimizer.slots) == 4
    for ours, theirs in zip(optimizer.slots, loaded.optimizer.slots, strict=True):
        assert ours.keys() == theirs.keys()
        for key in ours:
            np.testing.assert_array_equal(ours[key], theirs[key])
    # The restored state keeps training exactly as the original does.
    step(model, 3)
    step(loaded, 3)
    for a, b in zip(model.get_weights(), loaded.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_loaded_model_trains_like_the_original(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((24, 4)).astype(np.float32)
    y = np.eye(3, dtype=np.float32)[rng.integers(0, 3, 24)]
    model = mlp(seed=5)
    model.compile(optimizers.Adam(0.01), "categorical_crossentropy", metrics=["accuracy"])
    model.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    model.save(tmp_path / "m.h5")
    loaded = saving.load_model(tmp_path / "m.h5")
    assert loaded.metrics_names == model.metrics_names == ["loss", "accuracy"]
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    h1 = model.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0).history
    h2 = loaded.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0).history
    assert h1 == h2
    for a, b in zip(model.get_weights(), loaded.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_include_optimizer_false_and_compile_false(tmp_path):
    model = mlp()
    model.compile("adam", "mse")
    step(model, 1)
    model.save(tmp_path / "m.h5", include_optimizer=False)
    with h5py.File(tmp_path / "m.h5", "r") as f:
        assert "training_config" not in f.attrs and "optimizer_weights" not in f
    with pytest.warns(UserWarning, match="No training configuration found"):
        loaded = saving.load_model(tmp_path / "m.h5")
    assert loaded.optimizer is None
    model.save(tmp_path / "m2.h5")
    assert saving.load_model(tmp_path / "m2.h5", compile=False).optimizer is None


def test_uncompiled_model_saves_without_training_config(tmp_path):
    model = mlp(seed=6)
    model.save(tmp_path / "m.h5")
    with h5py.File(tmp_path / "m.h5", "r") as f:
        assert set(f.attrs) == {"keras_version", "backend", "model_config"}
        assert "optimizer_weights" not in f
    loaded = saving.load_model(tmp_path / "m.h5", compile=False)
    np.testing.assert_array_equal(loaded.get_weights()[2], model.get_weights()[2])


def test_h5py_file_objects(tmp_path):
    model = mlp(seed=7)
    model.compile(optimizers.SGD(0.1, momentum=0.5), "mse")
    step(model, 1)
    with h5py.File(tmp_path / "m.h5", "w") as f:
        saving.save_model(model, f)
    with h5py.File(tmp_path / "m.h5", "r") as f:
        loaded = saving.load_model(f)
    np.testing.assert_array_equal(loaded.get_weights()[0], model.get_weights()[0])
    np.testing.assert_array_equal(loaded.optimizer.slots[0]["m"], model.optimizer.slots[0]["m"])


def test_legacy_optimizer_names_are_translated(tmp_path):
    model = mlp(seed=8)
    model.compile(optimizers.Adam(0.01), "mse")
    step(model, 1)
    step(model, 2)
    model.save(tmp_path / "m.h5")
    with h5py.File(tmp_path / "m.h5", "a") as f:
        del f["optimizer_weights"]
        group = f.create_group("optimizer_weights")
        names, arrays = ["Adam/iter:0"], [np.int64(2)]
        # tf.keras < 2.11: all m slots, then all v slots, named <opt>/<variable>/<slot>:0.
        for slot in ("m", "v"):
            for i, w in enumerate(model.trainable_weights):
                names.append(f"Adam/{w.name[:-2]}/{slot}:0")
                arrays.append(model.optimizer.slots[i][slot])
        group.attrs["weight_names"] = [n.encode() for n in names]
        for name, value in zip(names, arrays, strict=True):
            group.create_dataset(name, data=value)
    loaded = saving.load_model(tmp_path / "m.h5")
    assert loaded.optimizer.iterations == 2
    for ours, theirs in zip(model.optimizer.slots, loaded.optimizer.slots, strict=True):
        np.testing.assert_array_equal(ours["m"], theirs["m"])
        np.testing.assert_array_equal(ours["v"], theirs["v"])


def test_incomplete_legacy_optimizer_state_restores_iterations_only(tmp_path):
    model = mlp(seed=8)
    model.compile(optimizers.Adam(0.01), "mse")
    model.save(tmp_path / "m.h5")
    with h5py.File(tmp_path / "m.h5", "a") as f:
        del f["optimizer_weights"]
        group = f.create_group("optimizer_weights")
        group.attrs["weight_names"] = [b"Adam/iter:0", b"Adam/hidden/kernel/m:0"]
        group.create_dataset("Adam/iter:0", data=np.int64(7))
        group.create_dataset("Adam/hidden/kernel/m:0", data=np.ones((4, 8), np.float32))
    with pytest.warns(UserWarning, match="only the iteration count was restored"):
        loaded = saving.load_model(tmp_path / "m.h5")
    assert loaded.optimizer.iterations == 7
    assert all(not s["m"].any() and not s["v"].any() for s in loaded.optimizer.slots)


def test_optimizer_state_that_does_not_fit_warns_and_starts_fresh(tmp_path):
    model = mlp(seed=9)
    model.compile(optimizers.Adam(0.01), "mse")
    step(model, 1)
    model.save(tmp_path / "m.h5")
    with h5py.File(tmp_path / "m.h5", "a") as f:
        data = f["optimizer_weights/Adam/m/hidden/bias:0"]
        del f["optimizer_weights/Adam/m/hidden/bias:0"]
        f["optimizer_weights"].create_dataset("Adam/m/hidden/bias:0",
                                              data=np.zeros(7, np.float32))
        del data
    with pytest.warns(UserWarning, match="Error in loading the saved optimizer state"):
        loaded = saving.load_model(tmp_path / "m.h5")
    assert loaded.optimizer.iterations == 0
    assert all(not s["m"].any() for s in loaded.optimizer.slots)


# ------------------------------------------------------------------ atomic writes
@pytest.mark.parametrize("method", ["save", "save_weights"])
def test_failed_save_leaves_old_file_intact(tmp_path, monkeypatch, method):
    path = tmp_path / "m.h5"
    model = mlp(seed=1)
    model.compile("sgd", "mse")
    getattr(model, method)(path)
    original = path.read_bytes()
    real = hdf5_format._save_subset

    def failing(group, weights):
        if group.name.endswith("predictions"):
            raise RuntimeError("disk on fire")
        real(group, weights)

    monkeypatch.setattr(hdf5_format, "_save_subset", failing)
    model.set_weights([w * 0 for w in model.get_weights()])
    with pytest.raises(RuntimeError, match="disk on fire"):
        getattr(model, method)(path)
    assert path.read_bytes() == original
    assert os.listdir(tmp_path) == ["m.h5"]


def test_overwrite_false_outside_a_terminal_raises(tmp_path, monkeypatch):
    path = tmp_path / "m.h5"
    model = mlp()
    model.save_weights(path)
    monkeypatch.setattr(sys, "stdin", None)
    with pytest.raises(ValueError, match="m.h5"):
        model.save_weights(path, overwrite=False)
    with pytest.raises(ValueError, match="m.h5"):
        model.save(path, overwrite=False)
    model.save(tmp_path / "new.h5", overwrite=False)
    assert h5py.is_hdf5(tmp_path / "new.h5")


class _Terminal:
    def isatty(self) -> bool:
        return True


def test_overwrite_false_asks_on_a_terminal(tmp_path, monkeypatch):
    path = tmp_path / "w.h5"
    first = mlp(seed=1)
    first.save_weights(path)
    original = path.read_bytes()
    monkeypatch.setattr(sys, "stdin", _Terminal())
    answers = iter(["maybe", "n"])
    monkeypatch.setattr("builtins.input", lambda prompt="": next(answers))
    mlp(seed=2).save_weights(path, overwrite=False)
    assert path.read_bytes() == original
    monkeypatch.setattr("builtins.input", lambda prompt="": "y")
    second = mlp(seed=2)
    second.save_weights(path, overwrite=False)
    with h5py.File(path, "r") as f:
        np.testing.assert_array_equal(f["hidden/hidden/kernel:0"][()], second.get_weights()[0])


# ----------------------------------------------------------------------- bad inputs
def test_bad_inputs(tmp_path):
    model = mlp()
    missing = tmp_path / "missing.h5"
    with pytest.raises(OSError, match="missing.h5"):
        saving.load_model(missing)
    with pytest.raises(OSError, match="missing.h5"):
        model.load_weights(missing)
    text = tmp_path / "notes.h5"
    text.write_text("not hdf5")
    with pytest.raises(ValueError, match="not an HDF5 file"):
        saving.load_model(text)
    with pytest.raises(ValueError, match="not an HDF5 file"):
        model.load_weights(text)
    model.save_weights(tmp_path / "w.h5")
    with pytest.raises(ValueError, match="No model config found"):
        saving.load_model(tmp_path / "w.h5")
    with h5py.File(tmp_path / "empty.h5", "w") as f:
        f.attrs["something"] = 1
    with pytest.raises(ValueError, match="holds no Keras weights"):
        model.load_weights(tmp_path / "empty.h5")
    with pytest.raises(ValueError, match="not supported"):
        model.save(tmp_path / "m", save_format="tf")
    with pytest.raises(ValueError, match="not supported"):
        model.save_weights(tmp_path / "w", save_format="tensorflow")
    with pytest.raises(ValueError, match="save_format"):
        model.save_weights(tmp_path / "w", save_format="pickle")
    assert not os.path.exists(tmp_path / "m") and not os.path.exists(tmp_path / "w")


# ------------------------------------------------------------- tf-keras reference files
def reference_arrays(name: str) -> np.lib.npyio.NpzFile:
    return np.load(reference(f"{name}.npz"))


def test_loads_tf_keras_weights_file():
    path = reference("mlp_weights.h5")
    expected = reference_arrays("mlp_sgd")
    model = mlp(seed=11)
    model.load_weights(path)
    for i, value in enumerate(model.get_weights()):
        np.testing.assert_array_equal(value, expected[f"final_{i}"])
    by_name = mlp(seed=12)
    by_name.load_weights(path, by_name=True)
    for i, value in enumerate(by_name.get_weights()):
        np.testing.assert_array_equal(value, expected[f"final_{i}"])


def test_loads_tf_keras_model_file():
    path = reference("mlp_full.h5")
    expected = reference_arrays("mlp_sgd")
    model = saving.load_model(path)
    assert type(model) is Model
    for i, value in enumerate(model.get_weights()):
        np.testing.assert_array_equal(value, expected[f"final_{i}"])
    optimizer = model.optimizer
    assert type(optimizer) is optimizers.SGD
    assert (optimizer.learning_rate, optimizer.momentum, optimizer.nesterov) == \
        (pytest.approx(0.05), 0.9, True)
    with h5py.File(path, "r") as f:
        assert optimizer.iterations == int(f["optimizer_weights/iteration:0"][()]) == 21
        for i, w in enumerate(model.trainable_weights):
            np.testing.assert_array_equal(optimizer.slots[i]["m"],
                                          f[f"optimizer_weights/SGD/m/{w.name}"][()])
    assert model.metrics_names == ["loss", "accuracy"]
    np.testing.assert_allclose(model.predict(expected["eval_x_features"], verbose=0),
                               expected["predict"], atol=1e-6)


def test_loads_tf_keras_legacy_optimizer_file():
    path = reference("legacy_sgd_full.h5")
    expected = reference_arrays("opt_sgd_decay")
    model = saving.load_model(path)
    for i, value in enumerate(model.get_weights()):
        np.testing.assert_array_equal(value, expected[f"final_{i}"])
    assert model.optimizer.decay == pytest.approx(0.05)
    assert model.optimizer.learning_rate == pytest.approx(0.1)
    with h5py.File(path, "r") as f:
        assert model.optimizer.iterations == int(f["optimizer_weights/SGD/iter:0"][()]) > 0


def test_loads_tf_keras_multi_output_model_file():
    path = reference("multi_io_full.h5")
    expected = reference_arrays("multi_io")
    model = saving.load_model(path)
    assert model.output_names == ["out_reg", "out_cls"]
    assert model.metrics_names == json.load(open(reference("multi_io.json")))["metrics_names"]
    for i, value in enumerate(model.get_weights()):
        np.testing.assert_array_equal(value, expected[f"final_{i}"])
    with h5py.File(path, "r") as f:
        names = list(f["optimizer_weights"].attrs["weight_names"])
        assert model.optimizer.iterations == int(f["optimizer_weights/iteration:0"][()])
        for i, w in enumerate(model.trainable_weights):
            for slot in ("m", "v"):
                assert f"Adam/{slot}/{w.name}" in names
                np.testing.assert_array_equal(model.optimizer.slots[i][slot],
                                              f[f"optimizer_weights/Adam/{slot}/{w.name}"][()])


def test_warnings_are_quiet_for_a_clean_round_trip(tmp_path):
    model = mlp()
    model.compile("adam", "mse")
    step(model, 1)
    model.save(tmp_path / "m.h5")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        saving.load_model(tmp_path / "m.h5")


@pytest.mark.parametrize("filename,scenario", [
    ("mlp_full.h5", "mlp_sgd"),
    ("multi_io_full.h5", "multi_io"),
    ("legacy_sgd_full.h5", "opt_sgd_decay"),
])
def test_loaded_tf_keras_model_evaluates_like_tf_keras(filename, scenario):
    """Weights, losses, loss weights and metrics all come back: evaluate gives Keras's numbers."""
    path = reference(filename)
    with open(reference(f"{scenario}.json")) as fh:
        expected = json.load(fh)
    arrays = reference_arrays(scenario)
    model = saving.load_model(path)
    xs = [arrays[f"eval_x_{name}"] for name in expected["inputs"]]
    ys = [arrays[f"eval_y_{name}"] for name in expected["outputs"]]
    results = model.evaluate(xs if len(xs) > 1 else xs[0], ys if len(ys) > 1 else ys[0],
                             verbose=0)
    assert model.metrics_names == expected["metrics_names"]
    np.testing.assert_allclose(results, expected["evaluate"], rtol=1e-6)


def test_multi_output_metric_names_survive_save_and_load(tmp_path):
    from numkeras.engine.models import Model, load_model
    from numkeras.layers import Dense, Input

    a = Input(shape=(4,))
    model = Model(a, [Dense(1, name="r")(a), Dense(1, activation="sigmoid", name="c")(a)])
    model.compile("adam", {"r": "mse", "c": "binary_crossentropy"},
                  metrics={"r": ["mae"], "c": ["accuracy"]}, weighted_metrics={"r": ["mae"]})
    rng = np.random.default_rng(0)
    x = rng.random((16, 4), dtype=np.float32)
    y = [rng.random((16, 1), dtype=np.float32), (rng.random((16, 1)) > 0.5).astype("float32")]
    model.fit(x, y, verbose=0)
    model.save(tmp_path / "m.h5")
    with h5py.File(tmp_path / "m.h5", "r") as f:
        saved = json.loads(f.attrs["training_config"])["metrics"]
    assert [[m["config"]["name"] for m in per_output] for per_output in saved] == [
        ["r_mae"], ["c_accuracy"]]  # tf-keras's form: final names per output
    loaded = load_model(tmp_path / "m.h5")
    np.testing.assert_allclose(loaded.evaluate(x, y, verbose=0), model.evaluate(x, y, verbose=0),
                               rtol=1e-6)
    assert loaded.metrics_names == model.metrics_names == [
        "loss", "r_loss", "c_loss", "r_mae", "r_weighted_mae", "c_accuracy"]
