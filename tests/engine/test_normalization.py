"""BatchNormalization and LayerNormalization: Keras numbers by hand, gradients, configs."""

from __future__ import annotations

import numpy as np
import pytest

from numkeras import layers
from numkeras.engine.kernels import forward_of
from numkeras.layers import Input
from tests.engine.gradcheck import build_and_call, check_config_roundtrip, check_layer_gradients

RNG = np.random.default_rng(5)
X = (RNG.standard_normal((6, 4)) * 2 + 1).astype(np.float32)
X3 = RNG.standard_normal((3, 2, 4)).astype(np.float32)
X4 = RNG.standard_normal((2, 3, 4, 5)).astype(np.float32)
GAMMA = np.array([1.1, 0.9, 1.0, 1.2], np.float32)
BETA = np.array([0.1, -0.2, 0.0, 0.3], np.float32)
MEAN = np.array([0.5, 1.0, -0.5, 0.0], np.float32)
VAR = np.array([2.0, 0.5, 1.5, 1.0], np.float32)


def _bn(**kwargs: object) -> layers.BatchNormalization:
    layer = layers.BatchNormalization(momentum=0.9, **kwargs)
    build_and_call(layer, X)
    layer.set_weights([GAMMA, BETA, MEAN, VAR])
    return layer


def test_batchnorm_weights_in_keras_order() -> None:
    layer = _bn(name="bn")
    assert [w.name for w in layer.weights] == ["bn/gamma:0", "bn/beta:0", "bn/moving_mean:0",
                                               "bn/moving_variance:0"]
    assert [w.name for w in layer.trainable_weights] == ["bn/gamma:0", "bn/beta:0"]
    assert layer.get_config()["axis"] == [1]


def test_batchnorm_training_uses_batch_statistics_and_moves_the_moving_ones() -> None:
    layer = _bn()
    x = X.astype(np.float64)
    mean, var = x.mean(0), x.var(0)  # biased variance
    out, _ = forward_of(layer)(layer, X, True)
    np.testing.assert_allclose(out, (x - mean) / np.sqrt(var + 1e-3) * GAMMA + BETA,
                               rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(layer.moving_mean.value, MEAN * 0.9 + mean * 0.1, rtol=1e-6)
    np.testing.assert_allclose(layer.moving_variance.value, VAR * 0.9 + var * 0.1, rtol=1e-6)


def test_batchnorm_inference_uses_the_moving_statistics() -> None:
    layer = _bn()
    out = build_and_call(layer, X, training=False)
    expected = (X - MEAN) / np.sqrt(VAR + 1e-3) * GAMMA + BETA
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(layer.moving_mean.value, MEAN)


def test_frozen_batchnorm_runs_in_inference_mode() -> None:
    layer = _bn()
    layer.trainable = False
    out, _ = forward_of(layer)(layer, X, True)
    np.testing.assert_allclose(out, (X - MEAN) / np.sqrt(VAR + 1e-3) * GAMMA + BETA,
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(layer.moving_variance.value, VAR)
    assert layer.trainable_weights == []


def test_batchnorm_4d_channels_use_the_unbiased_variance_for_the_moving_average() -> None:
    # tf-keras runs 4D inputs normalized over axis 1 or 3 through fused_batch_norm, which
    # updates the moving variance with the Bessel-corrected batch variance.
    layer = layers.BatchNormalization(axis=-1, momentum=0.5)
    build_and_call(layer, X4)
    forward_of(layer)(layer, X4, True)
    unbiased = X4.astype(np.float64).reshape(-1, 5).var(0, ddof=1)
    np.testing.assert_allclose(layer.moving_variance.value, 0.5 + 0.5 * unbiased, rtol=1e-6)
    flat = layers.BatchNormalization(axis=-1, momentum=0.5, fused=False)
    build_and_call(flat, X4)
    forward_of(flat)(flat, X4, True)
    biased = X4.astype(np.float64).reshape(-1, 5).var(0)
    np.testing.assert_allclose(flat.moving_variance.value, 0.5 + 0.5 * biased, rtol=1e-6)


@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("kwargs", [{}, {"center": False}, {"scale": False},
                                    {"center": False, "scale": False}])
def test_batchnorm_gradients(training: bool, kwargs: dict) -> None:
    check_layer_gradients(_bn_built(X, **kwargs), X, training=training)


def _bn_built(x: np.ndarray, **kwargs: object) -> layers.BatchNormalization:
    layer = layers.BatchNormalization(**kwargs)
    build_and_call(layer, x)
    layer.set_weights([RNG.uniform(0.5, 1.5, w.shape).astype(np.float32)
                       for w in layer.get_weights()])
    return layer


@pytest.mark.parametrize("axis,x", [(1, X4), (-1, X4), (2, X4), ([1, 3], X4), ([1, 2], X4),
                                    (1, X3)])
@pytest.mark.parametrize("training", [True, False])
def test_batchnorm_gradients_for_other_axes(axis: object, x: np.ndarray, training: bool) -> None:
    layer = _bn_built(x, axis=axis)
    check_layer_gradients(layer, x, training=training)
    out, _ = forward_of(layer)(layer, x, True)
    axes = layer.axis
    reduce = tuple(i for i in range(x.ndim) if i not in axes)
    shape = [x.shape[i] if i in axes else 1 for i in range(x.ndim)]
    gamma, beta = (w.value.reshape(shape) for w in layer._weights[:2])
    xd = x.astype(np.float64)
    expected = (xd - xd.mean(reduce, keepdims=True)) / np.sqrt(
        xd.var(reduce, keepdims=True) + 1e-3) * gamma + beta
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5)


def test_batchnorm_config_and_arguments() -> None:
    layer = _bn(epsilon=1e-4, beta_regularizer="l2", gamma_constraint="non_neg")
    clone = check_config_roundtrip(layer)
    assert clone.momentum == 0.9 and clone.epsilon == 1e-4
    check_config_roundtrip(layers.BatchNormalization(axis=[1, 2]))
    with pytest.raises(ValueError, match="axis"):
        layers.BatchNormalization(axis="channels")
    for momentum in (1.5, -0.1, "fast"):
        with pytest.raises(ValueError, match="momentum"):
            layers.BatchNormalization(momentum=momentum)
    with pytest.raises(ValueError, match="epsilon"):
        layers.BatchNormalization(epsilon=-1.0)
    with pytest.raises(ValueError, match="renorm"):
        layers.BatchNormalization(renorm=True)


def test_batchnorm_build_errors_name_the_layer() -> None:
    with pytest.raises(ValueError, match="bn_axis.*axis"):
        layers.BatchNormalization(axis=3, name="bn_axis")(Input((4,)))
    with pytest.raises(ValueError, match="undefined `axis` dimension"):
        layers.BatchNormalization()(Input((None,)))
    with pytest.raises(ValueError, match="Duplicate|duplicate"):
        layers.BatchNormalization(axis=[1, -1])(Input((4,)))
    with pytest.raises(ValueError, match="fused"):
        layers.BatchNormalization(fused=True)(Input((4,)))


# ----------------------------------------------------------------------------- LayerNormalization


def test_layernorm_values() -> None:
    layer = layers.LayerNormalization(name="ln")
    build_and_call(layer, X)
    layer.set_weights([GAMMA, BETA])
    x = X.astype(np.float64)
    expected = (x - x.mean(1, keepdims=True)) / np.sqrt(x.var(1, keepdims=True) + 1e-3)
    np.testing.assert_allclose(build_and_call(layer, X), expected * GAMMA + BETA,
                               rtol=1e-5, atol=1e-5)
    assert [w.name for w in layer.weights] == ["ln/gamma:0", "ln/beta:0"]
    assert layer.get_config()["axis"] == [1]


@pytest.mark.parametrize("axis,x", [(-1, X3), (1, X3), ([1, 2], X3), ([1, 3], X4), (2, X4)])
@pytest.mark.parametrize("kwargs", [{}, {"center": False, "scale": False}])
def test_layernorm_gradients(axis: object, x: np.ndarray, kwargs: dict) -> None:
    layer = layers.LayerNormalization(axis=axis, **kwargs)
    build_and_call(layer, x)
    layer.set_weights([RNG.uniform(0.5, 1.5, w.shape).astype(np.float32)
                       for w in layer.get_weights()])
    check_layer_gradients(layer, x)
    axes = tuple(layer.axis)
    xd = x.astype(np.float64)
    normalized = (xd - xd.mean(axes, keepdims=True)) / np.sqrt(xd.var(axes, keepdims=True)
                                                               + 1e-3)
    if layer.gamma is not None:
        shape = [x.shape[i] if i in axes else 1 for i in range(x.ndim)]
        normalized = normalized * layer.gamma.value.reshape(shape) + \
            layer.beta.value.reshape(shape)
    np.testing.assert_allclose(build_and_call(layer, x), normalized, rtol=1e-5, atol=1e-5)


def test_layernorm_config_and_arguments() -> None:
    layer = layers.LayerNormalization(axis=[1, 2], epsilon=1e-5, gamma_regularizer="l1")
    build_and_call(layer, X3)
    assert check_config_roundtrip(layer).get_config()["axis"] == [1, 2]
    with pytest.raises(ValueError, match="axis"):
        layers.LayerNormalization(axis=1.5)
    with pytest.raises(ValueError, match="epsilon"):
        layers.LayerNormalization(epsilon="small")
    with pytest.raises(ValueError, match="ln_bad.*axis"):
        layers.LayerNormalization(axis=2, name="ln_bad")(Input((4,)))
