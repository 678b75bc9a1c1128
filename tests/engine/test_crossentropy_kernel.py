"""The fused softmax crossentropy (engine/ops/crossentropy.py): the numpy loss's values and
gradient to rounding, its finite-difference gradient, which losses it takes, and a training
step through it against one through the numpy loss."""

from __future__ import annotations

import numpy as np
import pytest

from numkeras import losses
from numkeras.engine.models import Model
from numkeras.engine.ops import crossentropy
from numkeras.layers import Dense, Input


def _loss(**kwargs):
    return losses.LossFunctionWrapper(losses.categorical_crossentropy,
                                      **{"from_logits": True, **kwargs})


def _case(shape, seed=0, scale=3.0, soft=False):
    rng = np.random.default_rng(seed)
    logits = (rng.standard_normal(shape) * scale).astype(np.float32)
    if soft:  # soft labels, rows not summing to one
        labels = rng.uniform(0, 1, size=shape).astype(np.float32)
    else:
        labels = np.eye(shape[-1], dtype=np.float32)[rng.integers(0, shape[-1], shape[:-1])]
    return labels, logits


@pytest.mark.parametrize("shape,soft,scale", [((128, 10), False, 3.0), ((7, 2), True, 1.0),
                                              ((4, 5, 3), False, 3.0), ((3, 1000), True, 5.0),
                                              ((6, 4), False, 40.0)])
def test_values_and_gradient_match_the_numpy_loss(shape, soft, scale):
    """Against the numpy loss in float32 and, more tightly where sums over many classes make
    float32 drift, in float64."""
    labels, logits = _case(shape, soft=soft, scale=scale)
    loss = _loss()
    values, grad = crossentropy.values_and_gradient(loss, labels, logits)
    assert values.dtype == grad.dtype == np.float32
    for dtype, rtol in ((np.float32, 2e-6 if shape[-1] < 100 else 5e-4), (np.float64, 2e-6)):
        y, z = labels.astype(dtype), logits.astype(dtype)
        want_values = loss.call(y, z)
        want_grad = loss.gradient(y, z, np.ones(want_values.shape, dtype))
        assert values.shape == want_values.shape and grad.shape == logits.shape
        scale_of = np.abs(want_grad).max()
        np.testing.assert_allclose(values, want_values, rtol=rtol, atol=rtol)
        np.testing.assert_allclose(grad, want_grad, rtol=rtol, atol=rtol * scale_of)
    only, none = crossentropy.values_and_gradient(loss, labels, logits, with_gradient=False)
    assert none is None
    np.testing.assert_array_equal(only, values)


def test_gradient_matches_finite_differences():
    """The kernel in float64 (it is dtype-generic; the engine calls it in float32): the
    gradient of sum(values) against central differences."""
    rng = np.random.default_rng(1)
    logits = rng.standard_normal((4, 6)) * 2
    labels = rng.uniform(0, 1, size=(4, 6))

    def run(z):
        values, grad = np.empty(4), np.empty_like(z)
        crossentropy._categorical(labels, z, values, grad, True)
        return values, grad

    _, grad = run(logits)
    numeric = np.empty_like(logits)
    step = 1e-6
    for index in np.ndindex(logits.shape):
        up, down = logits.copy(), logits.copy()
        up[index] += step
        down[index] -= step
        numeric[index] = (run(up)[0].sum() - run(down)[0].sum()) / (2 * step)
    np.testing.assert_allclose(grad, numeric, rtol=1e-6, atol=1e-8)


def test_extreme_logits_stay_finite_and_nan_propagates():
    labels = np.array([[0, 1, 0], [1, 0, 0]], dtype=np.float32)
    logits = np.array([[1e30, -1e30, 0], [np.nan, 0, 1]], dtype=np.float32)
    values, grad = crossentropy.values_and_gradient(_loss(), labels, logits)
    want = _loss().call(labels, logits)
    assert values[0] == want[0] and np.isfinite(grad[0]).all()
    assert np.isnan(values[1]) and np.isnan(want[1])


@pytest.mark.parametrize("loss,labels,logits", [
    (_loss(label_smoothing=0.1), *_case((4, 3))),
    (losses.LossFunctionWrapper(losses.categorical_crossentropy), *_case((4, 3))),  # probs
    (_loss(axis=0), *_case((4, 3))),
    (losses.LossFunctionWrapper(losses.sparse_categorical_crossentropy, from_logits=True),
     np.zeros(4, dtype=np.int64), _case((4, 3))[1]),
    (losses.LossFunctionWrapper(losses.mean_squared_error), *_case((4, 3))),
    (_loss(), _case((4, 3))[0], _case((4, 3))[1].astype(np.float64)),  # float64
    (_loss(), _case((4, 3))[0][:, :2], _case((4, 3))[1]),  # labels of another shape
    (_loss(), np.zeros(3, np.float32), np.zeros(3, np.float32)),  # one axis only
    (_loss(), *_case((4, 1))),  # one class: the numpy path warns
])
def test_other_losses_are_left_to_the_numpy_path(loss, labels, logits):
    assert crossentropy.values_and_gradient(loss, labels, logits) is None


@pytest.mark.parametrize("sample_weight", [None, "weights"])
def test_training_step_equals_the_numpy_loss_path(sample_weight, monkeypatch):
    """A softmax + categorical_crossentropy model trained through the kernel and through the
    numpy loss: the same losses and weights to float32 rounding (with sample weights the
    kernel is not used: the same bits)."""
    rng = np.random.default_rng(2)
    x = rng.standard_normal((64, 12)).astype(np.float32)
    y = np.eye(5, dtype=np.float32)[rng.integers(0, 5, 64)]
    weights = rng.uniform(0.5, 2, 64).astype(np.float32) if sample_weight else None

    def train():
        a = Input(shape=(12,))
        model = Model(a, Dense(5, activation="softmax", kernel_initializer="glorot_uniform")(
            Dense(8, activation="relu")(a)))
        model.compile(optimizer="adam", loss="categorical_crossentropy")
        start = np.random.default_rng(3)
        model.set_weights([start.standard_normal(w.shape).astype(np.float32) * 0.3
                           for w in model.get_weights()])
        history = model.fit(x, y, sample_weight=weights, batch_size=16, epochs=3,
                            shuffle=False, verbose=0)
        return history.history["loss"], model.get_weights()

    calls = []
    real = crossentropy.values_and_gradient
    monkeypatch.setattr(crossentropy, "values_and_gradient",
                        lambda *a: calls.append(1) or real(*a))
    fused_loss, fused_weights = train()
    assert bool(calls) == (sample_weight is None)
    monkeypatch.setattr(crossentropy, "values_and_gradient", lambda *a: None)
    numpy_loss, numpy_weights = train()
    if sample_weight is None:
        np.testing.assert_allclose(fused_loss, numpy_loss, rtol=1e-5)
        for got, want in zip(fused_weights, numpy_weights, strict=True):
            np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
    else:
        assert fused_loss == numpy_loss
        for got, want in zip(fused_weights, numpy_weights, strict=True):
            np.testing.assert_array_equal(got, want)
