"""GaussianNoise, GaussianDropout, AlphaDropout: identity at inference, noise statistics,
gradients with the noise fixed, configs."""

from __future__ import annotations

import numpy as np
import pytest

from numkeras import layers
from numkeras.activations import SELU_ALPHA, SELU_SCALE
from tests.engine.gradcheck import build_and_call, check_config_roundtrip, check_layer_gradients

RNG = np.random.default_rng(13)
X = RNG.standard_normal((3, 4)).astype(np.float32)
BIG = RNG.standard_normal((400, 500)).astype(np.float32)

LAYERS = {
    "GaussianNoise": lambda: layers.GaussianNoise(0.5, seed=1),
    "GaussianDropout": lambda: layers.GaussianDropout(0.3, seed=1),
    "AlphaDropout": lambda: layers.AlphaDropout(0.3, seed=1),
}


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_identity_when_not_training(name: str) -> None:
    layer = LAYERS[name]()
    np.testing.assert_array_equal(build_and_call(layer, X, training=False), X)
    check_layer_gradients(layer, X, training=False)


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_gradient_with_the_noise_fixed_and_seeded_repeatability(name: str) -> None:
    layer = LAYERS[name]()
    check_layer_gradients(layer, X, training=True)
    y = build_and_call(layer, X, training=True)
    assert not np.array_equal(y, X)
    np.testing.assert_array_equal(build_and_call(LAYERS[name](), X, training=True), y)


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_config(name: str) -> None:
    config = check_config_roundtrip(LAYERS[name]()).get_config()
    assert config["seed"] == 1


def test_gaussian_noise_statistics() -> None:
    noise = build_and_call(layers.GaussianNoise(0.5, seed=2), BIG, training=True) - BIG
    assert abs(noise.mean()) < 0.005  # 200000 draws: std of the mean 0.0011
    assert abs(noise.std() - 0.5) < 0.005
    with pytest.raises(ValueError, match="stddev"):
        layers.GaussianNoise(-0.1)


def test_gaussian_dropout_statistics() -> None:
    ones = np.ones_like(BIG)
    factor = build_and_call(layers.GaussianDropout(0.2, seed=2), ones, training=True)
    assert abs(factor.mean() - 1.0) < 0.005
    assert abs(factor.std() - np.sqrt(0.2 / 0.8)) < 0.005
    for rate in (-0.5, 2.0, "x"):
        with pytest.raises(ValueError, match="rate"):
            layers.GaussianDropout(rate)


def test_alpha_dropout_values_and_statistics() -> None:
    rate = 0.2
    layer = layers.AlphaDropout(rate, seed=4)
    y = build_and_call(layer, BIG, training=True).astype(np.float64)
    alpha_p = -SELU_ALPHA * SELU_SCALE
    a = ((1 - rate) * (1 + rate * alpha_p**2)) ** -0.5
    b = -a * alpha_p * rate
    kept = np.isclose(y, a * BIG + b, rtol=0, atol=1e-6)
    dropped = np.isclose(y, a * alpha_p + b, rtol=0, atol=1e-6)
    assert (kept | dropped).all()
    assert abs(dropped.mean() - rate) < 0.005
    # Keeps zero mean and unit variance of standard normal inputs.
    assert abs(y.mean()) < 0.01 and abs(y.std() - 1.0) < 0.01


def test_alpha_dropout_noise_shape_and_config() -> None:
    layer = layers.AlphaDropout(0.5, noise_shape=(None, 1), seed=3)
    y = build_and_call(layer, np.ones((50, 6), np.float32), training=True)
    assert (y == y[:, :1]).all()
    assert "noise_shape" not in layer.get_config()  # as in tf-keras
    with pytest.raises(ValueError, match="rate"):
        layers.AlphaDropout(1.5)
