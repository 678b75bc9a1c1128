"""SimpleRNN, LSTM, GRU: values against a plain NumPy step loop, gradients against finite
differences, configs, weight layouts, stateful carry-over, bad arguments and one learning task."""

import numpy as np
import pytest

import numkeras.engine as keras
from numkeras import backend
from numkeras.engine.kernels.recurrent import forward as recurrent_forward
from numkeras.layers import GRU, LSTM, Bidirectional, Input, SimpleRNN
from tests.engine.gradcheck import (
    build_and_call,
    check_config_roundtrip,
    check_layer_gradients,
)


@pytest.fixture(autouse=True)
def _fresh_names():
    backend.clear_session()


def _sigmoid(v):
    return 1.0 / (1.0 + np.exp(-v))


_ACTS = {"tanh": np.tanh, "sigmoid": _sigmoid, "relu": lambda v: np.maximum(v, 0.0),
         "hard_sigmoid": lambda v: np.clip(0.2 * v + 0.5, 0.0, 1.0), "linear": lambda v: v}


def reference(layer, x, mask=None, initial=None):
    """Keras's recurrence written out step by step over plain NumPy arrays (float64)."""
    w = [np.asarray(a, dtype=np.float64) for a in layer.get_weights()]
    kernel, rec = w[0], w[1]
    bias = w[2] if layer.use_bias else np.zeros((2, kernel.shape[1])
                                                if getattr(layer, "reset_after", False)
                                                else kernel.shape[1])
    act = _ACTS[layer.get_config()["activation"]]
    ract = _ACTS[layer.get_config().get("recurrent_activation", "linear")]
    x = np.asarray(x, dtype=np.float64)
    batch, steps, _ = x.shape
    n = layer.units
    mask = np.ones((batch, steps), bool) if mask is None else np.asarray(mask, bool)
    order = list(range(steps))[::-1] if layer.go_backwards else list(range(steps))
    states = [np.zeros((batch, n)) for _ in range(layer.state_count)] if initial is None \
        else [np.asarray(s, np.float64) for s in initial]
    prev_out = np.zeros((batch, n))
    outs = []
    for t in order:
        xt = x[:, t]
        h = states[0]
        if isinstance(layer, SimpleRNN):
            new = [act(xt @ kernel + h @ rec + bias)]
            out = new[0]
        elif isinstance(layer, LSTM):
            z = xt @ kernel + h @ rec + bias
            i, f, g, o = np.split(z, 4, axis=1)
            c = ract(f) * states[1] + ract(i) * act(g)
            out = ract(o) * act(c)
            new = [out, c]
        elif layer.reset_after:
            xz, xr, xh = np.split(xt @ kernel + bias[0], 3, axis=1)
            hz, hr, hh = np.split(h @ rec + bias[1], 3, axis=1)
            z, r = ract(xz + hz), ract(xr + hr)
            out = z * h + (1 - z) * act(xh + r * hh)
            new = [out]
        else:
            xz, xr, xh = np.split(xt @ kernel + bias, 3, axis=1)
            z = ract(xz + h @ rec[:, :n])
            r = ract(xr + h @ rec[:, n:2 * n])
            out = z * h + (1 - z) * act(xh + (r * h) @ rec[:, 2 * n:])
            new = [out]
        m = mask[:, t:t + 1]
        states = [np.where(m, s_new, s) for s_new, s in zip(new, states, strict=True)]
        masked_out = 0.0 if layer.zero_output_for_mask else prev_out
        prev_out = np.where(m, out, masked_out)
        outs.append(prev_out)
    y = np.stack(outs, axis=1) if layer.return_sequences else prev_out
    return [y, *states] if layer.return_state else y


def run(layer, x, mask=None, training=False):
    outputs, backward = recurrent_forward(layer, x, training, mask=mask)
    return outputs


def _x(shape=(3, 4, 5), seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


LAYERS = {
    "simple_rnn": lambda **kw: SimpleRNN(3, **kw),
    "lstm": lambda **kw: LSTM(3, **kw),
    "gru": lambda **kw: GRU(3, **kw),
    "gru_reset_before": lambda **kw: GRU(3, reset_after=False, **kw),
}
OPTIONS = [
    {},
    {"return_sequences": True},
    {"return_state": True},
    {"return_sequences": True, "return_state": True, "go_backwards": True},
    {"use_bias": False, "activation": "relu"},
    {"activation": "linear", "bias_initializer": "random_normal"},
]


def _with_recurrent_activation(kind, options):
    if kind != "simple_rnn" and options.get("activation") == "relu":
        return {**options, "recurrent_activation": "hard_sigmoid"}
    return options


@pytest.mark.parametrize("kind", list(LAYERS))
@pytest.mark.parametrize("options", OPTIONS, ids=lambda o: "-".join(o) or "default")
def test_forward_matches_numpy_step_loop_and_gradients(kind, options):
    options = _with_recurrent_activation(kind, options)
    layer = LAYERS[kind](**options)
    x = _x()
    out = build_and_call(layer, x)
    expected = reference(layer, x)
    for got, want in zip(out if isinstance(out, list) else [out],
                         expected if isinstance(expected, list) else [expected], strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    check_layer_gradients(layer, x)
    check_config_roundtrip(layer)


@pytest.mark.parametrize("kind", list(LAYERS))
def test_initial_state_values_and_gradients(kind):
    layer = LAYERS[kind](return_sequences=True, return_state=True)
    x = _x()
    rng = np.random.default_rng(1)
    states = [rng.standard_normal((3, 3)).astype(np.float32) for _ in range(layer.state_count)]
    out = build_and_call(layer, x, *states)
    expected = reference(layer, x, initial=states)
    for got, want in zip(out, expected, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    check_layer_gradients(layer, [x, *states])


@pytest.mark.parametrize("kind", list(LAYERS))
@pytest.mark.parametrize("implementation", [1, 2])
def test_dropout_gradients_and_statistics(kind, implementation):
    kwargs = {} if kind == "simple_rnn" else {"implementation": implementation}
    layer = LAYERS[kind](dropout=0.3, recurrent_dropout=0.4 if implementation == 1 else 0.0,
                         return_sequences=True, **kwargs)
    layer.seed = 7
    x = _x()
    check_layer_gradients(layer, x, training=True)
    # Inference ignores dropout: same as the step loop.
    build_and_call(layer, x)
    np.testing.assert_allclose(run(layer, x), reference(layer, x), rtol=1e-5, atol=1e-5)
    # Training uses masks: outputs differ from inference.
    assert not np.allclose(run(layer, x, training=True), run(layer, x))


def test_dropout_masks_are_scaled_keep_masks():
    # With a linear activation and no recurrence, SimpleRNN's output at step 0 is the
    # dropped-out input times the kernel: every kept input is scaled by 1 / (1 - rate).
    layer = SimpleRNN(1, activation="linear", use_bias=False, dropout=0.5,
                      recurrent_initializer="zeros", return_sequences=True)
    layer.seed = 0
    x = np.ones((2000, 1, 1), np.float32)
    build_and_call(layer, x)
    layer.set_weights([np.ones((1, 1)), np.zeros((1, 1))])
    y = run(layer, x, training=True)[:, 0, 0]
    assert set(np.unique(y)) == {0.0, 2.0}
    assert 0.45 < np.mean(y == 0.0) < 0.55



@pytest.mark.parametrize("batch", [1, 3])
def test_interleaved_passes_keep_their_own_values(batch):
    # A shared layer runs several forwards before their backwards; buffers of a finished
    # pass are reused by the next forward without touching outputs handed out earlier.
    layer = GRU(3, return_sequences=True)
    x1, x2 = _x((batch, 4, 5)), _x((batch, 4, 5), 1)
    build_and_call(layer, x1)
    y1, back1 = recurrent_forward(layer, x1, True)
    y2, back2 = recurrent_forward(layer, x2, True)
    dy = np.random.default_rng(2).standard_normal(y1.shape).astype(np.float32)
    d1 = back1(dy)
    y3, back3 = recurrent_forward(layer, x2, True)
    d2 = back2(dy)
    np.testing.assert_allclose(y1, reference(layer, x1), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(y2, reference(layer, x2), rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(y3, y2)
    d3 = back3(dy)
    for a, b in zip([d2[0], *d2[1]], [d3[0], *d3[1]], strict=True):
        np.testing.assert_array_equal(a, b)
    assert not np.allclose(d1[0], d2[0])

def test_large_buffers_are_reused_by_forwards_without_a_backward():
    """predict's forwards, which no backward follows, reuse the layer's multi-megabyte
    time-major buffers instead of allocating them again: fresh ones page-fault on first touch
    (~2,400 faults per forward of this layer when they were reused only after a backward; the
    rest, the transposed input and the output copy, ~600 at most)."""
    import resource

    layer = LSTM(64, return_sequences=True)
    x = _x((64, 50, 32))
    build_and_call(layer, x)
    faults = []
    for _ in range(4):
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        y, back = recurrent_forward(layer, x, False)
        del y, back  # the pass is over
        faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
    assert max(faults[2:]) < 1200, faults


def test_weight_layout_and_initialisation():
    x = _x()
    lstm = LSTM(4, unit_forget_bias=True, bias_initializer="zeros")
    build_and_call(lstm, x)
    assert [w.name for w in lstm.weights] == ["lstm/lstm_cell/kernel:0",
                                              "lstm/lstm_cell/recurrent_kernel:0",
                                              "lstm/lstm_cell/bias:0"]
    kernel, rec, bias = lstm.get_weights()
    assert kernel.shape == (5, 16) and rec.shape == (4, 16) and bias.shape == (16,)
    np.testing.assert_array_equal(bias, [0] * 4 + [1] * 4 + [0] * 8)  # gates i, f, c, o
    np.testing.assert_allclose(rec @ rec.T, np.eye(4), atol=1e-5)  # orthogonal rows
    gru = GRU(4)
    build_and_call(gru, x)
    assert [w.shape for w in gru.weights] == [(5, 12), (4, 12), (2, 12)]
    gru_before = GRU(4, reset_after=False)
    build_and_call(gru_before, x)
    assert gru_before.weights[2].shape == (12,)
    rnn = SimpleRNN(4, use_bias=False)
    build_and_call(rnn, x)
    assert [w.shape for w in rnn.weights] == [(5, 4), (4, 4)]
    assert lstm.count_params() == 5 * 16 + 4 * 16 + 16


def test_lstm_gate_order_is_i_f_c_o():
    # Only the input gate's bias is large: the cell then stores the candidate c = tanh(x w_c).
    layer = LSTM(1, return_state=True)
    x = np.full((1, 1, 1), 0.5, np.float32)
    build_and_call(layer, x)
    kernel = np.array([[0.0, 0.0, 2.0, 0.0]])
    bias = np.array([50.0, -50.0, 0.0, 50.0])
    layer.set_weights([kernel, np.zeros((1, 4)), bias])
    _, h, c = run(layer, x)
    np.testing.assert_allclose(c, [[np.tanh(1.0)]], rtol=1e-6)
    np.testing.assert_allclose(h, [[np.tanh(np.tanh(1.0))]], rtol=1e-6)


def test_gru_gate_order_is_z_r_h():
    # z = 1 (large bias on the first block) keeps the previous state: h stays at the initial.
    layer = GRU(1, reset_after=False)
    x = np.ones((1, 3, 1), np.float32)
    h0 = np.full((1, 1), 0.7, np.float32)
    build_and_call(layer, x, h0)
    layer.set_weights([np.ones((1, 3)), np.ones((1, 3)), np.array([50.0, 0.0, 0.0])])
    np.testing.assert_allclose(run(layer, [x, h0]), h0, rtol=1e-6)


def test_stateful_carries_states_over_batches_and_resets():
    x = _x((2, 6, 3))
    for layer in (LSTM(4, stateful=True), GRU(4, stateful=True), SimpleRNN(4, stateful=True)):
        inp = Input(batch_shape=(2, 3, 3))
        layer(inp)
        whole = reference(layer, x)
        first = run(layer, x[:, :3])
        np.testing.assert_allclose(first, reference(layer, x[:, :3]), rtol=1e-5, atol=1e-6)
        second = run(layer, x[:, 3:])
        np.testing.assert_allclose(second, whole, rtol=1e-5, atol=1e-6)
        layer.reset_states()
        assert all(np.all(s == 0) for s in layer.states)
        np.testing.assert_allclose(run(layer, x[:, :3]), first, rtol=1e-6)
        states = [np.full((2, 4), 0.5, np.float32) for _ in range(layer.state_count)]
        layer.reset_states(states)
        np.testing.assert_allclose(run(layer, x[:, :3]),
                                   reference(layer, x[:, :3], initial=states), rtol=1e-5,
                                   atol=1e-6)
        with pytest.raises(ValueError, match="batch"):
            run(layer, x[:1])


def test_stateful_model_predict_and_reset_states():
    inp = keras.Input(batch_shape=(2, 3, 3))
    model = keras.Model(inp, LSTM(4, stateful=True)(inp))
    x = _x((2, 3, 3))
    a = model.predict(x, batch_size=2, verbose=0)
    b = model.predict(x, batch_size=2, verbose=0)
    assert not np.allclose(a, b)
    model.reset_states()
    np.testing.assert_allclose(model.predict(x, batch_size=2, verbose=0), a, rtol=1e-6)


def test_symbolic_initial_state_round_trips_through_json():
    x = keras.Input((5, 3))
    h = keras.Input((4,))
    c = keras.Input((4,))
    y, sh, sc = LSTM(4, return_state=True, return_sequences=True)(x, initial_state=[h, c])
    model = keras.Model([x, h, c], [y, sh, sc])
    data = [_x((2, 5, 3)), _x((2, 4), 1), _x((2, 4), 2)]
    got = model.predict(data, verbose=0)
    want = reference(model.layers[-1], data[0], initial=data[1:])
    for g, w in zip(got, want, strict=True):
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6)
    clone = keras.models.model_from_json(model.to_json())
    clone.set_weights(model.get_weights())
    for g, w in zip(clone.predict(data, verbose=0), got, strict=True):
        np.testing.assert_allclose(g, w, rtol=1e-6)


@pytest.mark.parametrize("make, match", [
    (lambda: LSTM(0), "units"),
    (lambda: GRU(-2), "units"),
    (lambda: SimpleRNN("a"), "units"),
    (lambda: LSTM(3, dropout=1.5), "dropout"),
    (lambda: GRU(3, recurrent_dropout=-0.1), "recurrent_dropout"),
    (lambda: LSTM(3, time_major=True), "time_major"),
    (lambda: GRU(3, implementation=3), "implementation"),
    (lambda: LSTM(3, activation="no_such_activation"), "no_such_activation"),
])
def test_bad_arguments_raise_value_error(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_bad_inputs_raise_value_error():
    with pytest.raises(ValueError, match="stateful"):
        LSTM(3, stateful=True)(Input((4, 2)))
    with pytest.raises(ValueError, match="timesteps"):
        LSTM(3)(Input((4,)))
    with pytest.raises(ValueError, match="initial state"):
        LSTM(3)(Input((4, 2)), initial_state=[Input((3,))])
    layer = SimpleRNN(3, activation="softmax")
    with pytest.raises(ValueError, match="softmax"):
        build_and_call(layer, _x())
    with pytest.raises(ValueError, match="not stateful"):
        LSTM(3).reset_states([np.zeros((1, 3)), np.zeros((1, 3))])
    with pytest.raises(ValueError, match="states"):
        stateful = LSTM(3, stateful=True)
        stateful(Input(batch_shape=(2, 4, 2)))
        stateful.reset_states([np.zeros((2, 3))])


def test_model_reset_states_skips_layers_that_are_not_stateful():
    inp = keras.Input(batch_shape=(2, 3, 3))
    h = LSTM(4, return_sequences=True)(inp)
    h = Bidirectional(SimpleRNN(2, return_sequences=True))(h)
    model = keras.Model(inp, GRU(2, stateful=True)(h))
    x = _x((2, 3, 3))
    a = model.predict(x, batch_size=2, verbose=0)
    model.reset_states()
    np.testing.assert_allclose(model.predict(x, batch_size=2, verbose=0), a, rtol=1e-6)


def _parity_case(name):
    """A model mixing recurrent layers, wrappers and masks, with seeded weights and data."""
    layers = keras.layers
    if name == "masking_lstm_gru":
        inp = keras.Input((5, 3))
        h = layers.Masking()(inp)
        h = layers.LSTM(4, return_sequences=True)(h)
        out = layers.Dense(1)(layers.GRU(3)(h))
    elif name == "bidirectional_gru_before_mul":
        inp = keras.Input((5, 3))
        h = layers.Bidirectional(layers.GRU(3, reset_after=False, return_sequences=True),
                                 merge_mode="mul")(inp)
        out = layers.Dense(1)(layers.SimpleRNN(2, go_backwards=True)(h))
    elif name == "embedding_bidirectional_lstm":
        inp = keras.Input((5,), dtype="int32")
        h = layers.Embedding(6, 3, mask_zero=True)(inp)
        h = layers.Bidirectional(layers.LSTM(3, return_sequences=True))(h)
        out = layers.TimeDistributed(layers.Dense(1))(h)
    else:
        inp = keras.Input((5, 3))
        h = layers.Masking()(inp)
        h = layers.Bidirectional(layers.LSTM(3, return_sequences=True))(h)
        out = layers.GRU(2, return_sequences=True, go_backwards=True)(h)
    model = keras.Model(inp, out)
    rng = np.random.default_rng(7)
    model.set_weights([rng.normal(0.0, 0.4, w.shape).astype(np.float32)
                       for w in model.get_weights()])
    if name == "embedding_bidirectional_lstm":
        x = np.array([[1, 2, 3, 0, 0], [0, 0, 4, 5, 1], [2, 2, 2, 2, 2], [3, 0, 0, 0, 0]],
                     np.int32)
    else:
        x = rng.normal(size=(4, 5, 3)).astype(np.float32)
        x[0, 3:] = 0.0
        x[1, :2] = 0.0
        x[2, 2] = 0.0
    y = rng.normal(size=(4, *model.outputs[0].shape[1:])).astype(np.float32)
    return model, x, y


# Computed once with tf-keras 2.21.0 (TensorFlow 2.21.0, CPU) with the same model
# code, weights and data as _parity_case (keras = tf_keras): predictions, the mse loss of one
# SGD(0.1) train_on_batch, and the predictions after that step.
TF_KERAS = {
    "masking_lstm_gru": (
        [-0.50173861, -0.50906408, -0.50033337, -0.48246419],
        1.5529419,
        [-0.13603383, -0.14759159, -0.12019634, -0.091366619],
    ),
    "bidirectional_gru_before_mul": (
        [0.4948799, 0.50646079, 0.4969573, 0.53985983],
        0.51748097,
        [0.65602374, 0.66179585, 0.66098893, 0.70162714],
    ),
    "embedding_bidirectional_lstm": (
        [0.3274858, 0.37543249, 0.38916624, 0.38657886, 0.38657886, 0.38657886, 0.38657886,
         0.39296454, 0.32546708, 0.25248885, 0.40921932, 0.39217305, 0.38240957, 0.3742024,
         0.35994029, 0.42308074, 0.38657886, 0.38657886, 0.38657886, 0.38657886],
        1.1446705,
        [0.31144914, 0.35919881, 0.37302035, 0.37170824, 0.37170824, 0.37170824, 0.37170824,
         0.37554505, 0.30868655, 0.23573916, 0.39327651, 0.37575644, 0.36572632, 0.35737342,
         0.34306642, 0.40757012, 0.37170824, 0.37170824, 0.37170824, 0.37170824],
    ),
    "masked_bidirectional_concat_gru_backwards": (
        [0, 0, 0, 0, -0.19557548, -0.19548425, -0.29689905, -0.32440343, -0.3917259,
         -0.37398827, -0.15777792, -0.21009547, -0.33297741, -0.34521863, -0.42853296,
         -0.35706171, -0.42853296, -0.35706171, -0.42853296, -0.35706171, -0.1681865,
         -0.20249437, -0.31575808, -0.29137164, -0.31575808, -0.29137164, -0.34293163,
         -0.37121582, -0.39900509, -0.41153222, -0.17100407, -0.22636916, -0.29862708,
         -0.35361141, -0.40975749, -0.4053883, -0.45764861, -0.36014941, -0.43993154,
         -0.37710872],
        0.84472978,
        [0, 0, 0, 0, -0.18012635, -0.17660068, -0.27692378, -0.29948604, -0.36861604,
         -0.34555066, -0.14763223, -0.1971757, -0.31400049, -0.32097882, -0.40440518,
         -0.32675588, -0.40440518, -0.32675588, -0.40440518, -0.32675588, -0.15163594,
         -0.18338217, -0.29107344, -0.26174888, -0.29107344, -0.26174888, -0.3169558,
         -0.34058452, -0.37302855, -0.381558, -0.15725057, -0.20973663, -0.27635515,
         -0.32696956, -0.38393858, -0.37526736, -0.42811203, -0.32547903, -0.4101162,
         -0.3427819],
    ),
}


@pytest.mark.parametrize("name", list(TF_KERAS))
def test_parity_with_tf_keras(name):
    model, x, y = _parity_case(name)
    before, loss, after = TF_KERAS[name]
    np.testing.assert_allclose(model.predict(x, verbose=0).ravel(), before, rtol=1e-5,
                               atol=1e-6)
    model.compile(keras.optimizers.SGD(0.1), "mse")
    np.testing.assert_allclose(model.train_on_batch(x, y), loss, rtol=1e-5)
    np.testing.assert_allclose(model.predict(x, verbose=0).ravel(), after, rtol=1e-5,
                               atol=1e-6)
    # The Keras JSON of the model rebuilds the same model.
    clone = keras.models.model_from_json(model.to_json())
    clone.set_weights(model.get_weights())
    np.testing.assert_allclose(clone.predict(x, verbose=0).ravel(), after, rtol=1e-5,
                               atol=1e-6)


def test_lstm_learns_to_count():
    """An LSTM reads 8 digits in {0, 1, 2} (one-hot) and classifies their sum (0..16)."""
    rng = np.random.default_rng(0)
    np.random.seed(0)

    def make(n):
        digits = rng.integers(0, 3, size=(n, 8))
        return np.eye(3, dtype=np.float32)[digits], digits.sum(axis=1)

    x_train, y_train = make(4000)
    x_test, y_test = make(500)
    inp = keras.Input((8, 3))
    out = keras.layers.Dense(17, activation="softmax")(keras.layers.LSTM(32)(inp))
    model = keras.Model(inp, out)
    model.compile(keras.optimizers.Adam(0.01), "sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    model.fit(x_train, y_train, batch_size=32, epochs=15, verbose=0)
    _, accuracy = model.evaluate(x_test, y_test, verbose=0)
    assert accuracy >= 0.95, accuracy
