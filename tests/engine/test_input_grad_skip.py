"""The runner skips input gradients nothing uses, without changing any weight gradient."""

import numpy as np
import pytest

from numkeras import backend
from numkeras.engine.kernels import dense as dense_kernel
from numkeras.engine.kernels import forward_of
from numkeras.engine.models import Model
from numkeras.layers import (
    GRU,
    LSTM,
    Conv2D,
    Conv2DTranspose,
    Dense,
    DepthwiseConv2D,
    Flatten,
    Input,
    MaxPooling2D,
    SeparableConv2D,
)

RNG = np.random.default_rng(0)


@pytest.fixture(autouse=True)
def _fresh_session():
    backend.clear_session()


def _mlp():
    x = Input(shape=(6,))
    return Model(x, Dense(3)(Dense(5, activation="relu")(x)))


def _count_dense_matmuls(monkeypatch):
    """Records the shapes of every product the Dense kernel asks for, alone or together."""
    calls = []
    real, real_many = dense_kernel.matmul, dense_kernel.matmuls

    def counting(a, b):
        calls.append((a.shape, b.shape))
        return real(a, b)

    def counting_many(*products):
        calls.extend((a.shape, b.shape) for a, b in products)
        return real_many(*products)

    monkeypatch.setattr(dense_kernel, "matmul", counting)
    monkeypatch.setattr(dense_kernel, "matmuls", counting_many)
    return calls


def test_plan_marks_only_nodes_fed_by_weights():
    model = _mlp()
    runner = model._runner
    needs, _ = runner.grad_plans[False]
    assert needs == [False, True]
    needs, _ = runner.grad_plans[True]
    assert needs == [True, True]


def test_first_dense_input_gradient_is_not_computed(monkeypatch):
    model = _mlp()
    model.compile(optimizer="sgd", loss="mse")
    x = RNG.normal(size=(4, 6)).astype("float32")
    y = RNG.normal(size=(4, 3)).astype("float32")
    model.predict(x)
    calls = _count_dense_matmuls(monkeypatch)
    model.train_on_batch(x, y)
    # 2 forward products, 2 kernel gradients, 1 input gradient (of the second Dense only).
    assert len(calls) == 5
    assert ((4, 3), (3, 5)) in calls  # dz2 @ W2.T
    assert ((4, 5), (5, 6)) not in calls  # dz1 @ W1.T skipped


def test_flatten_and_pool_before_any_weight_get_no_gradient():
    x = Input(shape=(4, 4, 1))
    h = Flatten()(MaxPooling2D()(x))
    model = Model(x, Dense(2)(h))
    needs, tensors = model._runner.grad_plans[False]
    assert needs == [False, False, False]
    assert id(model.outputs[0]) in tensors and id(h) not in tensors


def test_kernels_called_directly_still_return_input_gradients():
    layer = Dense(3)
    layer(Input(shape=(4,)))
    x = RNG.normal(size=(2, 4)).astype("float32")
    dy = RNG.normal(size=(2, 3)).astype("float32")
    _, backward = forward_of(layer)(layer, x, True)
    dx, (dk, db) = backward(dy)
    np.testing.assert_allclose(dx, dy @ layer.kernel.value.T, rtol=1e-6)
    _, backward = forward_of(layer)(layer, x, True, need_input_grad=False)
    dx_skip, (dk_skip, db_skip) = backward(dy)
    assert dx_skip is None
    assert np.array_equal(dk, dk_skip) and np.array_equal(db, db_skip)


@pytest.mark.parametrize("make", [
    lambda: Conv2D(2, 3, activation="relu"),
    lambda: Conv2DTranspose(2, 3, strides=2),
    lambda: SeparableConv2D(3, 3, depth_multiplier=2),
    lambda: DepthwiseConv2D(3, activation="tanh"),
    lambda: LSTM(3, return_sequences=True),
    lambda: GRU(3, go_backwards=True),
])
def test_conv_and_recurrent_skip_keeps_weight_gradients(make):
    layer = make()
    shape = (4, 2) if isinstance(layer, (LSTM, GRU)) else (5, 5, 2)
    layer(Input(shape=shape))
    x = RNG.normal(size=(2, *shape)).astype("float32")
    out, backward = forward_of(layer)(layer, x, True)
    dy = RNG.normal(size=out.shape).astype("float32")
    dx, grads = backward(dy)
    assert dx is not None and dx.shape == x.shape
    _, backward = forward_of(layer)(layer, x, True, need_input_grad=False)
    dx_skip, grads_skip = backward(dy)
    assert dx_skip is None
    for g, g_skip in zip(grads, grads_skip, strict=True):
        assert np.array_equal(g, g_skip)


def _nested(inner_first: bool):
    inner_in = Input(shape=(4,))
    inner = Model(inner_in, Dense(3, name="inner_dense")(inner_in), name="inner")
    x = Input(shape=(4,))
    if inner_first:
        return Model(x, Dense(2, name="head")(inner(x))), inner
    return Model(x, inner(Dense(4, name="stem")(x))), inner


def test_nested_model_produces_input_gradients_when_needed():
    model, inner = _nested(inner_first=False)
    stem = model.get_layer("stem")
    k0, b0 = stem.get_weights()
    k1, b1 = inner.get_weights()
    x = RNG.normal(size=(8, 4)).astype("float32")
    y = RNG.normal(size=(8, 3)).astype("float32")
    model.compile(optimizer="sgd", loss="mse")
    model.train_on_batch(x, y)
    # The stem's gradient can only come through the inner model's input gradient.
    h = x @ k0 + b0
    dz = 2.0 * ((h @ k1 + b1) - y) / y.size
    dh = dz @ k1.T
    np.testing.assert_allclose(stem.get_weights()[0], k0 - 0.01 * (x.T @ dh), rtol=1e-5,
                               atol=1e-7)
    np.testing.assert_allclose(stem.get_weights()[1], b0 - 0.01 * dh.sum(axis=0), rtol=1e-5,
                               atol=1e-7)


def test_nested_model_fed_by_inputs_skips_its_input_gradient(monkeypatch):
    model, _ = _nested(inner_first=True)
    model.compile(optimizer="sgd", loss="mse")
    x = RNG.normal(size=(4, 4)).astype("float32")
    y = RNG.normal(size=(4, 2)).astype("float32")
    model.predict(x)
    calls = _count_dense_matmuls(monkeypatch)
    model.train_on_batch(x, y)
    assert len(calls) == 5
    assert ((4, 3), (3, 4)) not in calls  # inner Dense's dx skipped


def _cnn():
    x = Input(shape=(8, 8, 1))
    h = MaxPooling2D()(Conv2D(4, 3, activation="relu")(x))
    h = Dense(5, activation="relu")(Flatten()(h))
    return Model(x, Dense(3, activation="softmax")(h))


def _lstm():
    x = Input(shape=(5, 3))
    return Model(x, Dense(1)(LSTM(4)(x)))


@pytest.mark.parametrize("build, x_shape, y_dim, loss", [
    (_mlp, (6,), 3, "mse"),
    (_cnn, (8, 8, 1), 3, "categorical_crossentropy"),
    (_lstm, (5, 3), 1, "mse"),
])
def test_training_step_identical_with_and_without_skip(build, x_shape, y_dim, loss):
    x = RNG.normal(size=(16, *x_shape)).astype("float32")
    y = RNG.random(size=(16, y_dim)).astype("float32")
    results = []
    for skip in (True, False):
        backend.clear_session()
        model = build()
        init = [np.full_like(w, 0.1) + 0.05 * np.sin(np.arange(w.size)).reshape(
            w.shape).astype("float32") for w in model.get_weights()]
        model.set_weights(init)
        model.compile(optimizer="adam", loss=loss)
        runner = model._runner
        if not skip:
            runner.grad_plans[False] = runner.grad_plans[True]
        for _ in range(2):
            model.train_on_batch(x, y)
        results.append(model.get_weights())
    for skipped, full, start in zip(*results, init, strict=True):
        assert not np.array_equal(skipped, start)  # every weight trained
        assert np.array_equal(skipped, full)
