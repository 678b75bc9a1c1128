"""Bidirectional and TimeDistributed: values, gradients, weights, configs, bad arguments."""

import numpy as np
import pytest

import numkeras.engine as keras
from numkeras import backend
from numkeras.engine.kernels.wrappers import bidirectional
from numkeras.layers import (
    GRU,
    LSTM,
    Bidirectional,
    Dense,
    Input,
    SimpleRNN,
    TimeDistributed,
)
from tests.engine.gradcheck import (
    build_and_call,
    check_config_roundtrip,
    check_layer_gradients,
)
from tests.engine.test_recurrent import reference


@pytest.fixture(autouse=True)
def _fresh_names():
    backend.clear_session()


def _x(shape=(3, 4, 5), seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def _merge(mode, yf, yb):
    return {"concat": lambda: np.concatenate([yf, yb], -1), "sum": lambda: yf + yb,
            "mul": lambda: yf * yb, "ave": lambda: (yf + yb) / 2,
            None: lambda: [yf, yb]}[mode]()


def _as_list(v):
    return v if isinstance(v, list) else [v]


@pytest.mark.parametrize("merge_mode", ["concat", "sum", "mul", "ave", None])
@pytest.mark.parametrize("return_sequences", [True, False])
@pytest.mark.parametrize("make", [LSTM, GRU, SimpleRNN], ids=["lstm", "gru", "simple_rnn"])
def test_bidirectional_values_gradients_config(merge_mode, return_sequences, make):
    layer = Bidirectional(make(3, return_sequences=return_sequences), merge_mode=merge_mode)
    x = _x()
    got = build_and_call(layer, x)
    yf = reference(layer.forward_layer, x)
    yb = reference(layer.backward_layer, x)
    if return_sequences:
        yb = yb[:, ::-1]
    for g, w in zip(_as_list(got), _as_list(_merge(merge_mode, yf, yb)), strict=True):
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6)
    check_layer_gradients(layer, x)
    clone = check_config_roundtrip(layer)
    assert clone.forward_layer.get_config()["units"] == 3
    config = layer.get_config()
    assert config["layer"]["class_name"] == make.__name__
    assert config["merge_mode"] == merge_mode


def test_bidirectional_weights_forward_then_backward():
    layer = Bidirectional(LSTM(2, name="lstm"), name="bidirectional")
    build_and_call(layer, _x())
    assert [w.name for w in layer.weights] == [
        "bidirectional/forward_lstm/lstm_cell/kernel:0",
        "bidirectional/forward_lstm/lstm_cell/recurrent_kernel:0",
        "bidirectional/forward_lstm/lstm_cell/bias:0",
        "bidirectional/backward_lstm/lstm_cell/kernel:0",
        "bidirectional/backward_lstm/lstm_cell/recurrent_kernel:0",
        "bidirectional/backward_lstm/lstm_cell/bias:0",
    ]
    assert layer.forward_layer.go_backwards is False
    assert layer.backward_layer.go_backwards is True
    values = [np.full(w.shape, i, np.float32) for i, w in enumerate(layer.weights)]
    layer.set_weights(values)
    np.testing.assert_array_equal(layer.backward_layer.get_weights()[0], values[3])
    assert layer.count_params() == 2 * (5 * 8 + 2 * 8 + 8)


def test_bidirectional_return_state_values_and_gradients():
    layer = Bidirectional(LSTM(3, return_sequences=True, return_state=True), merge_mode="sum")
    x = _x()
    out = build_and_call(layer, x)
    assert len(out) == 5  # merged, forward h, c, backward h, c
    yf, hf, cf = reference(layer.forward_layer, x)
    yb, hb, cb = reference(layer.backward_layer, x)
    for g, w in zip(out, [yf + yb[:, ::-1], hf, cf, hb, cb], strict=True):
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6)
    check_layer_gradients(layer, x)
    none_mode = Bidirectional(GRU(3, return_state=True), merge_mode=None)
    assert len(build_and_call(none_mode, x)) == 4
    check_layer_gradients(none_mode, x)


def test_bidirectional_initial_state():
    x = _x()
    states = [_x((3, 3), i) for i in range(1, 5)]
    layer = Bidirectional(LSTM(3))
    out = build_and_call(layer, x, *states)
    yf = reference(layer.forward_layer, x, initial=states[:2])
    yb = reference(layer.backward_layer, x, initial=states[2:])
    np.testing.assert_allclose(out, np.concatenate([yf, yb], -1), rtol=1e-5, atol=1e-6)
    check_layer_gradients(layer, [x, *states])
    inp, h, c = Input((4, 5)), Input((3,)), Input((3,))
    y = Bidirectional(LSTM(3))(inp, initial_state=[h, c, h, c])
    model = keras.Model([inp, h, c], y)
    clone = keras.models.model_from_json(model.to_json())
    assert [len(n.input_tensors) for n in clone.layers[-1]._inbound_nodes] == [5]


def test_bidirectional_custom_backward_layer():
    backward = GRU(2, go_backwards=True, return_sequences=True)
    layer = Bidirectional(LSTM(3, return_sequences=True), backward_layer=backward)
    x = _x()
    out = build_and_call(layer, x)
    assert out.shape == (3, 4, 5)
    yb = reference(layer.backward_layer, x)[:, ::-1]
    np.testing.assert_allclose(out[..., 3:], yb, rtol=1e-5, atol=1e-6)
    check_layer_gradients(layer, x)
    clone = check_config_roundtrip(layer)
    assert isinstance(clone.backward_layer, GRU)


def test_bidirectional_stateful_reset():
    inp = Input(batch_shape=(2, 3, 2))
    layer = Bidirectional(SimpleRNN(2, stateful=True))
    layer(inp)
    x = _x((2, 3, 2))
    first = bidirectional(layer, x, False)[0]
    assert not np.allclose(bidirectional(layer, x, False)[0], first)
    layer.reset_states()
    np.testing.assert_allclose(bidirectional(layer, x, False)[0], first, rtol=1e-6)


@pytest.mark.parametrize("make, match", [
    (lambda: Bidirectional(LSTM(2), merge_mode="max"), "merge_mode"),
    (lambda: Bidirectional(Dense(2)), "layer"),
    (lambda: Bidirectional(LSTM(2), backward_layer=LSTM(2)), "go_backwards"),
    (lambda: Bidirectional(LSTM(2), backward_layer=LSTM(2, go_backwards=True,
                                                         return_sequences=True)),
     "return_sequences"),
    (lambda: TimeDistributed("dense"), "layer"),
    (lambda: TimeDistributed(Dense(2))(Input((3,))), "rank"),
])
def test_bad_arguments_raise_value_error(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_time_distributed_dense_values_gradients_config():
    layer = TimeDistributed(Dense(4, activation="tanh"))
    x = _x()
    y = build_and_call(layer, x)
    kernel, bias = layer.get_weights()
    np.testing.assert_allclose(y, np.tanh(x @ kernel + bias), rtol=1e-5, atol=1e-6)
    assert [w.shape for w in layer.weights] == [(5, 4), (4,)]
    assert [w.name for w in layer.weights] == [f"{layer.name}/kernel:0", f"{layer.name}/bias:0"]
    check_layer_gradients(layer, x)
    clone = check_config_roundtrip(layer)
    assert isinstance(clone.layer, Dense) and clone.layer.units == 4
    assert layer.get_config()["layer"]["class_name"] == "Dense"
    assert layer.compute_output_shape((None, 7, 5)) == (None, 7, 4)
    mask = np.ones((3, 4), bool)
    assert layer.compute_mask(x, mask) is mask


def test_time_distributed_over_rank_4_and_in_a_model():
    x = _x((2, 3, 4, 5))
    layer = TimeDistributed(Dense(2))
    y = build_and_call(layer, x)
    kernel, bias = layer.get_weights()
    np.testing.assert_allclose(y, x @ kernel + bias, rtol=1e-5, atol=1e-6)
    check_layer_gradients(layer, x)
    inp = keras.Input((3, 5))
    seq = LSTM(4, return_sequences=True)(inp)
    model = keras.Model(inp, TimeDistributed(Dense(1))(seq))
    model.compile("adam", "mse")
    data = _x((8, 3, 5))
    history = model.fit(data, np.zeros((8, 3, 1), np.float32), epochs=3, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
