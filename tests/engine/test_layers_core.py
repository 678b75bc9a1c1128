"""Core layers: Activation, Dropout, Flatten, Reshape, Permute, RepeatVector,
ActivityRegularization; and the gradient check itself."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from numkeras import layers, regularizers
from numkeras.engine.kernels import forward_of, register
from tests.engine.gradcheck import build_and_call, check_config_roundtrip, check_layer_gradients

RNG = np.random.default_rng(11)
X = RNG.standard_normal((3, 4)).astype(np.float32)
X3 = RNG.standard_normal((2, 3, 4)).astype(np.float32)
X4 = RNG.standard_normal((2, 3, 4, 5)).astype(np.float32)


# ----------------------------------------------------------------------------- gradcheck


class _Square(layers.Layer):
    """y = x * x, with a deliberately wrong or right backward (test-only)."""

    def __init__(self, wrong: bool, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.wrong = wrong


@register(_Square)
def _square(layer: _Square, x: np.ndarray, training: bool) -> tuple[np.ndarray, Any]:
    factor = 3.0 if layer.wrong else 2.0
    return x * x, lambda dy: (dy * x * x.dtype.type(factor), [])


def test_gradcheck_accepts_a_right_gradient_and_rejects_a_wrong_one() -> None:
    check_layer_gradients(_Square(wrong=False), X)
    with pytest.raises(AssertionError, match="d_input"):
        check_layer_gradients(_Square(wrong=True), X)


def test_gradcheck_leaves_weights_unchanged() -> None:
    layer = layers.BatchNormalization()
    build_and_call(layer, X)
    before = [w.copy() for w in layer.get_weights()]
    arrays = [w.value for w in layer._weights]
    check_layer_gradients(layer, X, training=True)
    for w, b, a in zip(layer._weights, before, arrays, strict=True):
        assert w.value is a and w.value.dtype == np.float32
        np.testing.assert_array_equal(w.value, b)


# ----------------------------------------------------------------------------- Activation


@pytest.mark.parametrize("name", ["relu", "tanh", "sigmoid", "softmax", "elu", "swish", "linear"])
def test_activation_gradients(name: str) -> None:
    check_layer_gradients(layers.Activation(name), X3)


def test_activation_values_and_config() -> None:
    layer = layers.Activation("relu")
    np.testing.assert_array_equal(build_and_call(layer, X), np.maximum(X, 0))
    assert check_config_roundtrip(layer).get_config()["activation"] == "relu"
    with pytest.raises(ValueError, match="no_such_activation"):
        layers.Activation("no_such_activation")


# ----------------------------------------------------------------------------- Dropout


def test_dropout_is_the_identity_when_not_training() -> None:
    layer = layers.Dropout(0.5)
    np.testing.assert_array_equal(build_and_call(layer, X, training=False), X)
    check_layer_gradients(layer, X, training=False)


def test_dropout_mask_statistics_and_scaling() -> None:
    x = np.ones((200, 500), np.float32)
    layer = layers.Dropout(0.3, seed=5)
    y = build_and_call(layer, x, training=True)
    kept = y != 0
    assert abs(kept.mean() - 0.7) < 0.005  # 100000 Bernoulli draws: std 0.0015
    np.testing.assert_allclose(y[kept], 1 / 0.7, rtol=1e-6)
    again = layers.Dropout(0.3, seed=5)
    np.testing.assert_array_equal(build_and_call(again, x, training=True), y)
    kernel = forward_of(layer)
    first, _ = kernel(layer, x, True)
    second, _ = kernel(layer, x, True)
    assert not np.array_equal(first, second)  # the generator moves on between calls


def test_dropout_gradient_with_a_fixed_mask() -> None:
    check_layer_gradients(layers.Dropout(0.4, seed=3), X3, training=True)


def test_dropout_noise_shape_shares_the_mask() -> None:
    x = np.ones((4, 6, 8), np.float32)
    y = build_and_call(layers.Dropout(0.5, noise_shape=(None, 1, 8), seed=1), x, training=True)
    assert (y == y[:, :1, :]).all()
    assert 0 < (y == 0).mean() < 1


def test_dropout_rate_edges() -> None:
    np.testing.assert_array_equal(build_and_call(layers.Dropout(0.0), X, training=True), X)
    np.testing.assert_array_equal(build_and_call(layers.Dropout(1.0), X, training=True), 0 * X)


def test_dropout_config_and_arguments() -> None:
    check_config_roundtrip(layers.Dropout(0.2, noise_shape=(None, 1), seed=4))
    for rate in (-0.1, 1.5, "half", None):
        with pytest.raises(ValueError, match="rate"):
            layers.Dropout(rate)
    with pytest.raises(ValueError, match="seed"):
        layers.Dropout(0.5, seed=-1)
    with pytest.raises(ValueError, match="noise_shape"):
        layers.Dropout(0.5, noise_shape=(None, 0))


# ----------------------------------------------------------------------------- reshaping


def test_flatten() -> None:
    layer = layers.Flatten()
    np.testing.assert_array_equal(build_and_call(layer, X4), X4.reshape(2, -1))
    check_layer_gradients(layer, X3)
    check_config_roundtrip(layer)
    assert layer.get_config()["data_format"] == "channels_last"
    assert layer.compute_output_shape((None, 3, None)) == (None, None)


def test_flatten_channels_first_moves_channels_last() -> None:
    layer = layers.Flatten(data_format="channels_first")
    expected = np.transpose(X4, (0, 2, 3, 1)).reshape(2, -1)
    np.testing.assert_array_equal(build_and_call(layer, X4), expected)
    check_layer_gradients(layer, X4)
    with pytest.raises(ValueError, match="data_format"):
        layers.Flatten(data_format="channels_middle")


def test_flatten_of_a_vector_adds_an_axis() -> None:
    x = np.arange(3, dtype=np.float32)
    assert build_and_call(layers.Flatten(), x).shape == (3, 1)


def test_reshape() -> None:
    layer = layers.Reshape((4, 3))
    np.testing.assert_array_equal(build_and_call(layer, X3), X3.reshape(2, 4, 3))
    check_layer_gradients(layer, X3)
    check_config_roundtrip(layer)
    inferred = layers.Reshape((-1, 2))
    assert build_and_call(inferred, X3).shape == (2, 6, 2)
    assert inferred.compute_output_shape((None, None, 4)) == (None, None, 2)


def test_reshape_errors() -> None:
    for target in [(-1, -1), (0, 12), "shape", (2, None)]:
        with pytest.raises(ValueError, match="target_shape"):
            layers.Reshape(target)
    layer = layers.Reshape((5, 2), name="bad_reshape")
    with pytest.raises(ValueError, match="bad_reshape.*total size"):
        build_and_call(layer, X3)


def test_permute() -> None:
    layer = layers.Permute((2, 1))
    np.testing.assert_array_equal(build_and_call(layer, X3), np.transpose(X3, (0, 2, 1)))
    check_layer_gradients(layer, X3)
    check_layer_gradients(layers.Permute((3, 1, 2)), X4)
    assert layers.Permute((3, 1, 2)).compute_output_shape((None, 3, 4, 5)) == (None, 5, 3, 4)
    check_config_roundtrip(layer)
    for dims in [(1, 3), (0, 1), "ab"]:
        with pytest.raises(ValueError, match="dims"):
            layers.Permute(dims)
    with pytest.raises(ValueError, match="rank"):
        build_and_call(layers.Permute((2, 1)), X4)


def test_repeat_vector() -> None:
    layer = layers.RepeatVector(3)
    out = build_and_call(layer, X)
    assert out.shape == (3, 3, 4)
    for i in range(3):
        np.testing.assert_array_equal(out[:, i], X)
    check_layer_gradients(layer, X)
    check_config_roundtrip(layer)
    for n in (0, 2.5, "3", True):
        with pytest.raises(ValueError, match="`n`"):
            layers.RepeatVector(n)
    with pytest.raises(ValueError, match="ndim=2"):
        build_and_call(layers.RepeatVector(2), X3)


# ------------------------------------------------------------------- ActivityRegularization


def test_activity_regularization() -> None:
    layer = layers.ActivityRegularization(l1=0.1, l2=0.01)
    np.testing.assert_array_equal(build_and_call(layer, X), X)
    check_layer_gradients(layer, X)
    reg = layer.activity_regularizer
    assert isinstance(reg, regularizers.L1L2)
    expected = 0.1 * np.abs(X).sum() + 0.01 * np.square(X).sum()
    assert reg(X) == pytest.approx(expected, rel=1e-6)
    config = check_config_roundtrip(layer).get_config()
    assert (config["l1"], config["l2"]) == (0.1, 0.01)
    with pytest.raises(ValueError, match="l1"):
        layers.ActivityRegularization(l1=-1.0)
