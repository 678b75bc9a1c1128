"""Dense: gradients for every activation, shapes, config, arguments."""

from __future__ import annotations

import numpy as np
import pytest

from numkeras import layers
from numkeras.engine.ops.activations import ACTIVATIONS
from tests.engine.gradcheck import build_and_call, check_config_roundtrip, check_layer_gradients

RNG = np.random.default_rng(7)
X = RNG.standard_normal((4, 3)).astype(np.float32)


@pytest.mark.parametrize("activation", sorted(ACTIVATIONS))
def test_gradients_for_every_activation(activation: str) -> None:
    layer = layers.Dense(5, activation=activation, bias_initializer="random_normal")
    check_layer_gradients(layer, X)


def test_forward_is_activation_of_affine_map() -> None:
    layer = layers.Dense(2, activation="tanh")
    build_and_call(layer, X)
    kernel = np.array([[0.5, -1.0], [0.25, 2.0], [-0.5, 0.0]], np.float32)
    bias = np.array([0.1, -0.2], np.float32)
    layer.set_weights([kernel, bias])
    expected = np.tanh(X.astype(np.float64) @ kernel + bias)
    np.testing.assert_allclose(build_and_call(layer, X), expected, rtol=1e-6, atol=1e-6)


def test_no_bias_has_only_a_kernel() -> None:
    layer = layers.Dense(3, use_bias=False)
    check_layer_gradients(layer, X)
    assert [w.name for w in layer.weights] == [f"{layer.name}/kernel:0"]
    np.testing.assert_allclose(build_and_call(layer, X), X @ layer.kernel.value, rtol=1e-6)


def test_3d_inputs_apply_to_the_last_axis() -> None:
    x = RNG.standard_normal((2, 3, 4)).astype(np.float32)
    layer = layers.Dense(5, activation="sigmoid")
    out = build_and_call(layer, x)
    assert out.shape == (2, 3, 5)
    np.testing.assert_allclose(out[1], build_and_call(layer, x[1]), rtol=1e-6)
    check_layer_gradients(layer, x)


def test_config_round_trip() -> None:
    layer = layers.Dense(4, activation="relu", kernel_regularizer="l2", use_bias=False,
                         input_shape=(3,))
    clone = check_config_roundtrip(layer)
    assert clone.units == 4 and clone.use_bias is False
    assert clone.get_config()["batch_input_shape"] == [None, 3]


@pytest.mark.parametrize("units", [0, -2, "many", None])
def test_bad_units(units: object) -> None:
    with pytest.raises(ValueError, match="units"):
        layers.Dense(units)
