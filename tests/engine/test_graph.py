"""The functional graph: Input, Model, layer order, get_layer, names, config and JSON."""

import json

import numpy as np
import pytest

import numkeras.engine as keras
from numkeras import backend
from numkeras.engine.models import Model, model_from_json
from numkeras.layers import Dense, Input


@pytest.fixture(autouse=True)
def _fresh_names():
    backend.clear_session()


def test_documentation_example_builds():
    a = Input(shape=(32,))
    b = Dense(32)(a)
    model = Model(inputs=a, outputs=b)
    assert [layer.name for layer in model.layers] == ["input_1", "dense"]
    assert model.count_params() == 32 * 32 + 32
    assert model.output_shape == (None, 32)


def test_automatic_names_count_per_prefix():
    a = Input(shape=(4,))
    x = Dense(3)(a)
    y = Dense(2)(x)
    b = Input(shape=(4,))
    assert [x._keras_history[0].name, y._keras_history[0].name] == ["dense", "dense_1"]
    assert b._keras_history[0].name == "input_2"
    assert Model(a, y).name == "model"
    assert Model(a, x).name == "model_1"


def test_layers_in_keras_topological_order_for_multi_io():
    a1 = Input(shape=(5,), name="a1")
    a2 = Input(shape=(3,), name="a2")
    h = keras.layers.Concatenate(name="cat")([a1, a2])
    h = Dense(8, name="hidden")(h)
    o1 = Dense(1, name="o1")(h)
    o2 = Dense(2, name="o2")(h)
    model = Model(inputs=[a1, a2], outputs=[o1, o2])
    assert [la.name for la in model.layers] == ["a1", "a2", "cat", "hidden", "o1", "o2"]
    assert model.input_names == ["a1", "a2"]
    assert model.output_names == ["o1", "o2"]


def test_get_layer_by_name_index_and_priority():
    a = Input(shape=(4,), name="x")
    h = Dense(3, name="h")(a)
    o = Dense(1, name="o")(h)
    model = Model(a, o)
    assert model.get_layer("h").name == "h"
    assert model.get_layer(index=2).name == "o"
    assert model.get_layer(name="h", index=0).name == "x"  # index wins
    with pytest.raises(ValueError, match="No such layer: nope"):
        model.get_layer("nope")
    with pytest.raises(ValueError, match="index 7"):
        model.get_layer(index=7)
    with pytest.raises(ValueError, match="either a layer name or layer index"):
        model.get_layer()


def test_shared_layer_has_two_nodes_and_weights_once():
    a = Input(shape=(4,))
    b = Input(shape=(4,))
    shared = Dense(3, name="shared")
    out = keras.layers.Add()([shared(a), shared(b)])
    model = Model([a, b], out)
    assert len(shared._inbound_nodes) == 2
    assert len(model.get_weights()) == 2
    x1 = np.ones((2, 4), "float32")
    x2 = np.full((2, 4), 2.0, "float32")
    k, bias = shared.get_weights()
    np.testing.assert_allclose(model.predict([x1, x2]), x1 @ k + bias + x2 @ k + bias, rtol=1e-5)


def test_model_called_as_layer():
    inner_in = Input(shape=(4,))
    inner = Model(inner_in, Dense(2, name="inner_dense")(inner_in), name="inner")
    a = Input(shape=(4,))
    out = Dense(1, name="head")(inner(a))
    outer = Model(a, out)
    assert [la.name for la in outer.layers] == ["input_2", "inner", "head"]
    x = np.random.default_rng(0).normal(size=(3, 4)).astype("float32")
    k1, b1 = inner.get_weights()
    k2, b2 = outer.get_layer("head").get_weights()
    np.testing.assert_allclose(outer.predict(x), (x @ k1 + b1) @ k2 + b2, rtol=1e-5)


def test_disconnected_and_duplicate_names_raise():
    a = Input(shape=(4,))
    b = Input(shape=(4,))
    out = Dense(1)(b)
    with pytest.raises(ValueError, match="Graph disconnected"):
        Model(a, out)
    c = Input(shape=(4,))
    h = Dense(2, name="same")(c)
    with pytest.raises(ValueError, match='"same" is used 2 times'):
        Model(c, Dense(2, name="same")(h))


def test_json_round_trip_keeps_architecture_and_predictions():
    a = Input(shape=(5,), name="in")
    h = Dense(4, activation="relu", name="h")(a)
    o = Dense(2, activation="softmax", name="o")(h)
    model = Model(a, o, name="net")
    text = model.to_json()
    data = json.loads(text)
    assert data["class_name"] == "Model"
    assert data["config"]["input_layers"] == [["in", 0, 0]]
    assert data["config"]["layers"][1]["inbound_nodes"] == [[["in", 0, 0, {}]]]
    clone = model_from_json(text)
    assert [la.name for la in clone.layers] == ["in", "h", "o"]
    clone.set_weights(model.get_weights())
    x = np.random.default_rng(1).normal(size=(3, 5)).astype("float32")
    np.testing.assert_allclose(clone.predict(x), model.predict(x), rtol=1e-6)
    assert clone.get_config() == model.get_config()


def test_model_from_json_reads_tf_keras_functional():
    ref = json.load(open("tests/fixtures/reference/multi_io.json"))
    model = model_from_json(ref["model_json"])
    assert model.input_names == ref["inputs"]
    assert model.output_names == ref["outputs"]
    weights = np.load("tests/fixtures/reference/multi_io.npz")
    init = [weights[f"init_{i}"] for i in range(len(model.get_weights()))]
    model.set_weights(init)


def test_model_from_json_rejects_bad_input():
    with pytest.raises(ValueError, match="not valid JSON"):
        model_from_json("{nope")
    with pytest.raises(ValueError, match="Unknown model class"):
        model_from_json(json.dumps({"class_name": "Sequential", "config": {}}))
    bad = {"class_name": "Model", "config": {"name": "m", "layers": [
        {"class_name": "Nope", "config": {"name": "n"}, "name": "n", "inbound_nodes": []}],
        "input_layers": [], "output_layers": []}}
    with pytest.raises(ValueError, match="Unknown layer: 'Nope'"):
        model_from_json(json.dumps(bad))


def test_set_weights_checks_count_and_shapes():
    a = Input(shape=(3,))
    model = Model(a, Dense(2)(a))
    with pytest.raises(ValueError, match="length 1"):
        model.set_weights([np.zeros((3, 2))])
    with pytest.raises(ValueError, match=r"shape \(3, 2\).*\(2, 3\)"):
        model.set_weights([np.zeros((2, 3)), np.zeros(2)])


def test_summary_lists_layers_and_counts(capsys):
    a = Input(shape=(32,))
    Model(a, Dense(32)(a)).summary()
    out = capsys.readouterr().out
    assert "dense (Dense)" in out and "(None, 32)" in out
    assert "Total params: 1,056" in out and "Trainable params: 1,056" in out


def test_input_validation():
    with pytest.raises(ValueError, match="shape"):
        Input()
    with pytest.raises(ValueError, match="integers"):
        Input(shape=("a",))
    with pytest.raises(ValueError, match="units"):
        Dense(0)
    with pytest.raises(TypeError, match="not understood"):
        Dense(2, bogus=1)


def test_nested_model_activity_regularizer_counts_in_the_loss():
    inner_in = Input(shape=(3,))
    inner = Model(inner_in, Dense(2, activity_regularizer="l1", name="act")(inner_in))
    a = Input(shape=(3,))
    outer = Model(a, inner(a))
    outer.compile("sgd", "mse")
    x = np.ones((4, 3), "float32")
    y = np.zeros((4, 2), "float32")
    pred = outer.predict(x)
    expected = np.mean(pred ** 2) + 0.01 * np.abs(pred).sum() / 4
    np.testing.assert_allclose(outer.evaluate(x, y, verbose=0), expected, rtol=1e-5)
