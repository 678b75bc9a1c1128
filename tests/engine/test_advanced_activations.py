"""ReLU, LeakyReLU, PReLU, ELU, ThresholdedReLU, Softmax: formulas, gradients, configs."""

from __future__ import annotations

import numpy as np
import pytest

from numkeras import layers
from tests.engine.gradcheck import build_and_call, check_config_roundtrip, check_layer_gradients

RNG = np.random.default_rng(9)
X = (RNG.standard_normal((4, 6)) * 3).astype(np.float32)
X3 = RNG.standard_normal((2, 3, 4)).astype(np.float32)


@pytest.mark.parametrize("kwargs", [
    {}, {"max_value": 2.0}, {"negative_slope": 0.1}, {"threshold": 0.5},
    {"max_value": 6.0, "negative_slope": 0.1, "threshold": 0.5},
])
def test_relu(kwargs: dict) -> None:
    layer = layers.ReLU(**kwargs)
    top = kwargs.get("max_value", np.inf)
    slope = np.float32(kwargs.get("negative_slope", 0.0))
    threshold = kwargs.get("threshold", 0.0)
    expected = np.where(X > threshold, np.minimum(X, top), slope * (X - threshold))
    np.testing.assert_allclose(build_and_call(layer, X), expected, rtol=1e-6)
    check_layer_gradients(layer, X)
    check_config_roundtrip(layer)


def test_relu_arguments() -> None:
    for name in ("max_value", "negative_slope", "threshold"):
        with pytest.raises(ValueError, match=name):
            layers.ReLU(**{name: -1.0})
    with pytest.raises(ValueError, match="negative_slope"):
        layers.ReLU(negative_slope=None)


def test_leaky_relu() -> None:
    layer = layers.LeakyReLU()
    np.testing.assert_allclose(build_and_call(layer, X), np.where(X > 0, X, 0.3 * X), rtol=1e-6)
    check_layer_gradients(layer, X)
    # tf-keras stores alpha as float32, and its config says so.
    assert check_config_roundtrip(layers.LeakyReLU(0.2)).alpha == 0.20000000298023224
    with pytest.raises(ValueError, match="alpha"):
        layers.LeakyReLU(alpha=None)


def test_prelu() -> None:
    layer = layers.PReLU(alpha_initializer="random_uniform")
    out = build_and_call(layer, X3)
    alpha = layer.alpha.value
    assert alpha.shape == (3, 4)
    np.testing.assert_allclose(out, np.where(X3 > 0, X3, alpha * X3), rtol=1e-6)
    check_layer_gradients(layer, X3)
    check_config_roundtrip(layer)


def test_prelu_shared_axes() -> None:
    layer = layers.PReLU(alpha_initializer="ones", shared_axes=[1])
    build_and_call(layer, X3)
    assert layer.alpha.shape == (1, 4)
    layer.set_weights([np.array([[0.1, 0.2, 0.3, 0.4]], np.float32)])
    check_layer_gradients(layer, X3)
    assert check_config_roundtrip(layer).shared_axes == [1]
    assert layers.PReLU(shared_axes=2).shared_axes == [2]
    with pytest.raises(ValueError, match="shared_axes"):
        layers.PReLU(shared_axes=[0])


def test_elu() -> None:
    layer = layers.ELU(alpha=0.7)
    expected = np.where(X > 0, X, np.float32(0.7) * np.expm1(np.minimum(X, 0)))
    np.testing.assert_allclose(build_and_call(layer, X), expected, rtol=1e-5, atol=1e-7)
    check_layer_gradients(layer, X)
    assert check_config_roundtrip(layer).alpha == float(np.float32(0.7))
    with pytest.raises(ValueError, match="alpha"):
        layers.ELU(alpha="one")


def test_thresholded_relu() -> None:
    layer = layers.ThresholdedReLU(theta=0.5)
    np.testing.assert_array_equal(build_and_call(layer, X), np.where(X > 0.5, X, 0))
    check_layer_gradients(layer, X)
    check_config_roundtrip(layer)
    with pytest.raises(ValueError, match="theta"):
        layers.ThresholdedReLU(theta=-1)


@pytest.mark.parametrize("axis", [-1, 1, [1, 2]])
def test_softmax(axis: object) -> None:
    layer = layers.Softmax(axis=axis)
    axes = tuple(axis) if isinstance(axis, list) else axis
    e = np.exp(X3.astype(np.float64) - X3.max(axis=axes, keepdims=True))
    expected = e / e.sum(axis=axes, keepdims=True)
    np.testing.assert_allclose(build_and_call(layer, X3), expected, rtol=1e-5, atol=1e-7)
    check_layer_gradients(layer, X3)
    assert check_config_roundtrip(layer).axis == axis


def test_softmax_arguments() -> None:
    with pytest.raises(ValueError, match="axis"):
        layers.Softmax(axis="last")
    with pytest.raises(ValueError, match="axis"):
        build_and_call(layers.Softmax(axis=3), X3)
