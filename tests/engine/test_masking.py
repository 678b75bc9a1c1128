"""Masking and masks through recurrent layers: masked steps are skipped exactly as in Keras
(states carried over, the previous output repeated), gradients through masked sequences,
Embedding(mask_zero=True) and Masking feeding recurrent layers in a model."""

import numpy as np
import pytest

import numkeras.engine as keras
from numkeras import backend
from numkeras.engine.kernels import register
from numkeras.engine.kernels.masking import forward as masking_forward
from numkeras.engine.kernels.recurrent import forward as recurrent_forward
from numkeras.engine.kernels.wrappers import bidirectional as bidirectional_forward
from numkeras.layers import GRU, LSTM, Bidirectional, Masking, SimpleRNN
from tests.engine.gradcheck import (
    build_and_call,
    check_config_roundtrip,
    check_layer_gradients,
)
from tests.engine.test_recurrent import reference


@pytest.fixture(autouse=True)
def _fresh_names():
    backend.clear_session()


def with_mask(layer, mask, kernel=recurrent_forward):
    """Makes ``layer``'s kernel always see ``mask`` (what the graph runner passes), so the
    shared gradient check runs through masked sequences."""
    sub = type(f"Masked{type(layer).__name__}", (type(layer),), {})
    register(sub)(lambda lyr, inputs, training: kernel(lyr, inputs, training, mask=mask))
    layer.__class__ = sub
    return layer


MAKERS = {
    "simple_rnn": lambda **kw: SimpleRNN(3, **kw),
    "lstm": lambda **kw: LSTM(3, **kw),
    "gru": lambda **kw: GRU(3, **kw),
    "gru_reset_before": lambda **kw: GRU(3, reset_after=False, **kw),
}
# Post-padding, pre-padding, a hole in the middle, and an all-masked sample.
MASK = np.array([[1, 1, 1, 0, 0], [0, 0, 1, 1, 1], [1, 0, 1, 0, 1], [0, 0, 0, 0, 0]], bool)


def _x(shape=(4, 5, 2), seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


@pytest.mark.parametrize("kind", list(MAKERS))
@pytest.mark.parametrize("options", [
    {"return_sequences": True},
    {"return_state": True},
    {"return_sequences": True, "go_backwards": True, "return_state": True},
    {"return_sequences": True, "zero_output_for_mask": True},
], ids=lambda o: "-".join(o))
def test_masked_values_and_gradients(kind, options):
    x = _x()
    layer = MAKERS[kind](**options)
    build_and_call(layer, x)
    got = recurrent_forward(layer, x, False, mask=MASK)[0]
    want = reference(layer, x, mask=MASK)
    for g, w in zip(got if isinstance(got, list) else [got],
                    want if isinstance(want, list) else [want], strict=True):
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6)
    check_layer_gradients(with_mask(layer, MASK), x)


@pytest.mark.parametrize("kind", list(MAKERS))
def test_masked_steps_are_skipped(kind):
    x = _x()
    layer = MAKERS[kind](return_sequences=True, return_state=True)
    build_and_call(layer, x)
    outputs = recurrent_forward(layer, x, False, mask=MASK)[0]
    seq, state = outputs[0], outputs[1]
    # Sample 0 (post-padded): the output repeats at steps 3, 4 and the final state is step 2's.
    np.testing.assert_array_equal(seq[0, 3], seq[0, 2])
    np.testing.assert_array_equal(seq[0, 4], seq[0, 2])
    np.testing.assert_array_equal(state[0], seq[0, 2])
    # Sample 1 (pre-padded): outputs are zeros before the first real step.
    np.testing.assert_array_equal(seq[1, :2], 0.0)
    # Sample 3 (all masked): zero outputs and the initial (zero) state.
    np.testing.assert_array_equal(seq[3], 0.0)
    np.testing.assert_array_equal(state[3], 0.0)
    # Values at masked steps do not matter.
    x2 = x.copy()
    x2[~MASK] = 123.0
    for a, b in zip(outputs, recurrent_forward(layer, x2, False, mask=MASK)[0], strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("kind", list(MAKERS))
def test_padded_and_unpadded_sequences_give_the_same_final_state(kind):
    x = _x((3, 6, 2))
    lengths = [6, 4, 1]
    layer = MAKERS[kind](return_state=True)
    build_and_call(layer, x)
    for pre in (False, True):
        padded = np.zeros_like(x)
        mask = np.zeros((3, 6), bool)
        for i, n in enumerate(lengths):
            sl = slice(6 - n, 6) if pre else slice(0, n)
            padded[i, sl] = x[i, :n]
            mask[i, sl] = True
        out = recurrent_forward(layer, padded, False, mask=mask)[0]
        for i, n in enumerate(lengths):
            alone = recurrent_forward(layer, x[i:i + 1, :n], False)[0]
            for a, b in zip(out, alone, strict=True):
                np.testing.assert_allclose(a[i:i + 1], b, rtol=1e-6, atol=1e-7)


def test_masked_initial_state_is_kept_on_masked_steps():
    x = _x()
    h0 = _x((4, 3), 1)
    c0 = _x((4, 3), 2)
    layer = LSTM(3, return_sequences=True, return_state=True)
    build_and_call(layer, x, h0, c0)
    got = recurrent_forward(layer, [x, h0, c0], False, mask=MASK)[0]
    want = reference(layer, x, mask=MASK, initial=[h0, c0])
    for g, w in zip(got, want, strict=True):
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(got[1][3], h0[3])  # all masked: the initial state
    np.testing.assert_array_equal(got[0][1, :2], 0.0)  # outputs stay zero until a real step
    check_layer_gradients(with_mask(layer, MASK), [x, h0, c0])


def test_masking_layer():
    x = _x((3, 4, 2))
    x[0, 1] = 0.0
    x[2, 3] = 0.0
    x[1, 0, 0] = 0.0  # one zero feature does not mask the step
    layer = Masking()
    y = build_and_call(layer, x)
    expected_mask = np.ones((3, 4), bool)
    expected_mask[0, 1] = expected_mask[2, 3] = False
    np.testing.assert_array_equal(layer.compute_mask(x), expected_mask)
    np.testing.assert_array_equal(y, x * expected_mask[..., None])
    # Masked steps get no gradient (the mask is a constant, as in Keras); finite differences
    # cannot see that at exactly mask_value, so they check an input without masked steps.
    _, backward = masking_forward(layer, x, True)
    dy = np.ones_like(x)
    np.testing.assert_array_equal(backward(dy)[0], expected_mask[..., None] * dy)
    check_layer_gradients(layer, _x((3, 4, 2), 5))
    clone = check_config_roundtrip(Masking(mask_value=-1.0))
    assert clone.mask_value == -1.0
    np.testing.assert_array_equal(Masking(-1.0).compute_mask(np.full((1, 2, 2), -1.0)),
                                  [[False, False]])
    with pytest.raises(ValueError, match="mask_value"):
        Masking(mask_value="zero")


def test_compute_mask_of_recurrent_layers():
    mask = MASK
    assert LSTM(3).compute_mask(None, mask) is None
    assert LSTM(3, return_sequences=True).compute_mask(None, mask) is mask
    assert LSTM(3, return_sequences=True, return_state=True).compute_mask(None, mask) == \
        [mask, None, None]
    assert GRU(3, return_state=True).compute_mask(None, [mask, None]) == [None, None]
    bi = Bidirectional(LSTM(3, return_sequences=True), merge_mode=None)
    assert bi.compute_mask(None, mask) == [mask, mask]
    assert Bidirectional(LSTM(3)).compute_mask(None, mask) is None


@pytest.mark.parametrize("merge_mode", ["concat", "sum", "mul", "ave", None])
def test_bidirectional_masked_values_and_gradients(merge_mode):
    x = _x()
    layer = Bidirectional(GRU(3, return_sequences=True), merge_mode=merge_mode)
    build_and_call(layer, x)
    got = bidirectional_forward(layer, x, False, mask=MASK)[0]
    yf = reference(layer.forward_layer, x, mask=MASK)
    yb = reference(layer.backward_layer, x, mask=MASK)[:, ::-1]
    # Bidirectional makes its layers output zeros at masked steps (zero_output_for_mask).
    np.testing.assert_array_equal(yf[~MASK], 0.0)
    want = {"concat": lambda: np.concatenate([yf, yb], -1), "sum": lambda: yf + yb,
            "mul": lambda: yf * yb, "ave": lambda: (yf + yb) / 2,
            None: lambda: [yf, yb]}[merge_mode]()
    for g, w in zip(got if isinstance(got, list) else [got],
                    want if isinstance(want, list) else [want], strict=True):
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6)
    check_layer_gradients(with_mask(layer, MASK, bidirectional_forward), x)


def _mask_model(first):
    inp = keras.Input((5,), dtype="int32") if first == "embedding" else keras.Input((5, 2))
    if first == "embedding":
        h = keras.layers.Embedding(7, 2, mask_zero=True)(inp)
    else:
        h = Masking()(inp)
    seq = LSTM(3, return_sequences=True)(h)
    out = keras.layers.TimeDistributed(keras.layers.Dense(1))(seq)
    last = GRU(2)(seq)
    return keras.Model(inp, [out, last])


@pytest.mark.parametrize("first", ["embedding", "masking"])
def test_mask_flows_through_a_model(first):
    model = _mask_model(first)
    if first == "embedding":
        x = np.array([[3, 1, 4, 0, 0], [0, 0, 5, 2, 6], [1, 2, 3, 4, 5]], np.int32)
        mask = x != 0
        features = model.layers[1].get_weights()[0][x]
    else:
        x = _x((3, 5, 2))
        x[0, 3:] = 0.0
        x[1, :2] = 0.0
        mask = np.any(x != 0, axis=-1)
        features = x
    out, last = model.predict(x, verbose=0)
    lstm = next(la for la in model.layers if isinstance(la, LSTM))
    gru = next(la for la in model.layers if isinstance(la, GRU))
    seq = reference(lstm, features, mask=mask)
    np.testing.assert_allclose(last, reference(gru, seq, mask=mask), rtol=1e-5, atol=1e-6)
    td = next(la for la in model.layers if isinstance(la, keras.layers.TimeDistributed))
    kernel, bias = td.get_weights()
    np.testing.assert_allclose(out, seq @ kernel + bias, rtol=1e-5, atol=1e-6)

    # Training: the loss ignores the masked steps of the sequence output.
    model.compile("sgd", ["mse", "mse"])
    y_seq = np.random.default_rng(1).standard_normal((3, 5, 1)).astype(np.float32)
    y_last = np.zeros((3, 2), np.float32)
    loss = model.evaluate(x, [y_seq, y_last], verbose=0)
    y_changed = y_seq.copy()
    y_changed[~mask] = 100.0
    np.testing.assert_allclose(model.evaluate(x, [y_changed, y_last], verbose=0), loss,
                               rtol=1e-6)
    model.fit(x, [y_seq, y_last], epochs=2, verbose=0)


def test_return_sequences_false_drops_the_mask_in_a_model():
    inp = keras.Input((4,), dtype="int32")
    h = keras.layers.Embedding(5, 2, mask_zero=True)(inp)
    model = keras.Model(inp, keras.layers.Dense(1)(LSTM(3)(h)))
    model.compile("sgd", "mse")
    x = np.array([[1, 2, 0, 0], [0, 0, 0, 0]], np.int32)
    # The per-sample loss is not masked: the all-padding sample still counts.
    pred = model.predict(x, verbose=0)
    y = np.zeros((2, 1), np.float32)
    np.testing.assert_allclose(model.evaluate(x, y, verbose=0), np.mean(pred ** 2), rtol=1e-5)
    assert model.layers[2].compute_mask(None, x != 0) is None
