"""The fused losses (engine/ops/loss_kernels.py): the numpy loss's values and gradient to
rounding, finite-difference gradients, which losses and arrays they take, and training through
them against training through the numpy losses."""

from __future__ import annotations

import numpy as np
import pytest

from numkeras import losses
from numkeras.engine.models import Model
from numkeras.engine.ops import loss_kernels
from numkeras.layers import Dense, Input


def _cce(**kwargs):
    return losses.LossFunctionWrapper(losses.categorical_crossentropy,
                                      **{"from_logits": True, **kwargs})


def _mse():
    return losses.LossFunctionWrapper(losses.mean_squared_error)


def _case(shape, seed=0, scale=3.0, soft=False):
    rng = np.random.default_rng(seed)
    logits = (rng.standard_normal(shape) * scale).astype(np.float32)
    if soft:  # soft labels, rows not summing to one
        labels = rng.uniform(0, 1, size=shape).astype(np.float32)
    else:
        labels = np.eye(shape[-1], dtype=np.float32)[rng.integers(0, shape[-1], shape[:-1])]
    return labels, logits


def _check(loss, labels, predictions, rtol32, scale=0.25):
    """The kernel against the numpy loss in float32 and, more tightly, in float64."""
    values, grad = loss_kernels.values_and_gradient(loss, labels, predictions, scale)
    assert values.dtype == grad.dtype == np.float32
    for dtype, rtol in ((np.float32, rtol32), (np.float64, 2e-6)):
        y, p = np.asarray(labels).astype(dtype), predictions.astype(dtype)
        want_values = loss.call(y, p)
        want_grad = loss.gradient(y, p, np.full(want_values.shape, scale, dtype))
        assert values.shape == want_values.shape and grad.shape == predictions.shape
        np.testing.assert_allclose(values, want_values, rtol=rtol, atol=rtol)
        np.testing.assert_allclose(grad, want_grad, rtol=rtol,
                                   atol=rtol * np.abs(want_grad).max())
    only, none = loss_kernels.values_and_gradient(loss, labels, predictions, scale,
                                                  with_gradient=False)
    assert none is None
    np.testing.assert_array_equal(only, values)
    return values, grad


@pytest.mark.parametrize("shape,soft,scale", [((128, 10), False, 3.0), ((7, 2), True, 1.0),
                                              ((4, 5, 3), False, 3.0), ((3, 1000), True, 5.0),
                                              ((6, 4), False, 40.0)])
def test_crossentropy_matches_the_numpy_loss(shape, soft, scale):
    labels, logits = _case(shape, soft=soft, scale=scale)
    _check(_cce(), labels, logits, 2e-6 if shape[-1] < 100 else 5e-4)


@pytest.mark.parametrize("label_shape,shape", [((32, 1), (32, 1)), ((32,), (32, 1)),
                                               ((16, 5), (16, 5)), ((4, 3, 7), (4, 3, 7)),
                                               ((4, 3), (4, 3, 1))])
def test_mean_squared_error_matches_the_numpy_loss(label_shape, shape):
    rng = np.random.default_rng(4)
    labels = rng.standard_normal(label_shape).astype(np.float32)
    predictions = rng.standard_normal(shape).astype(np.float32)
    values, grad = _check(_mse(), labels, predictions, 2e-6)
    if shape[-1] == 1:  # one value per row: numpy's bits
        want = _mse().call(labels, predictions)
        np.testing.assert_array_equal(values, want)
        np.testing.assert_array_equal(grad, _mse().gradient(
            labels, predictions, np.full(want.shape, 0.25, np.float32)))


@pytest.mark.parametrize("kernel,labels", [
    (loss_kernels._categorical, np.random.default_rng(1).uniform(0, 1, size=(4, 6))),
    (loss_kernels._squared, np.random.default_rng(1).standard_normal((4, 6)))])
def test_gradients_match_finite_differences(kernel, labels):
    """The kernels in float64 (they are dtype-generic; the engine calls them in float32): the
    gradient of 0.5 * sum(values) against central differences."""
    predictions = np.random.default_rng(2).standard_normal((4, 6)) * 2

    def run(p):
        values, grad = np.empty(4), np.empty_like(p)
        kernel(labels, p, values, grad, 0.5, True)
        return values, grad

    _, grad = run(predictions)
    numeric = np.empty_like(predictions)
    step = 1e-6
    for index in np.ndindex(predictions.shape):
        up, down = predictions.copy(), predictions.copy()
        up[index] += step
        down[index] -= step
        numeric[index] = 0.5 * (run(up)[0].sum() - run(down)[0].sum()) / (2 * step)
    np.testing.assert_allclose(grad, numeric, rtol=1e-6, atol=1e-8)


def test_extreme_logits_stay_finite_and_nan_propagates():
    labels = np.array([[0, 1, 0], [1, 0, 0]], dtype=np.float32)
    logits = np.array([[1e30, -1e30, 0], [np.nan, 0, 1]], dtype=np.float32)
    values, grad = loss_kernels.values_and_gradient(_cce(), labels, logits)
    want = _cce().call(labels, logits)
    assert values[0] == want[0] and np.isfinite(grad[0]).all()
    assert np.isnan(values[1]) and np.isnan(want[1])


@pytest.mark.parametrize("loss,labels,predictions", [
    (_cce(label_smoothing=0.1), *_case((4, 3))),
    (losses.LossFunctionWrapper(losses.categorical_crossentropy), *_case((4, 3))),  # probs
    (_cce(axis=0), *_case((4, 3))),
    (losses.LossFunctionWrapper(losses.sparse_categorical_crossentropy, from_logits=True),
     np.zeros(4, dtype=np.int64), _case((4, 3))[1]),
    (losses.LossFunctionWrapper(losses.mean_absolute_error), *_case((4, 3))),
    (_cce(), _case((4, 3))[0], _case((4, 3))[1].astype(np.float64)),  # float64
    (_cce(), _case((4, 3))[0][:, :2], _case((4, 3))[1]),  # labels of another shape
    (_mse(), np.zeros(3, np.float32), np.zeros((3, 4), np.float32)),  # a broadcast
    (_cce(), np.zeros(3, np.float32), np.zeros(3, np.float32)),  # one axis only
    (_cce(), *_case((4, 1))),  # one class: the numpy path warns
    (_mse(), np.array([["a"]]), np.zeros((1, 1), np.float32)),  # not numbers
    (_mse(), np.zeros((0, 2), np.float32), np.zeros((0, 2), np.float32)),  # empty
])
def test_other_losses_and_arrays_are_left_to_the_numpy_path(loss, labels, predictions):
    assert loss_kernels.values_and_gradient(loss, labels, predictions) is None


def _fit(x, y, loss, last, weights=None):
    a = Input(shape=(x.shape[1],))
    model = Model(a, last(Dense(8, activation="relu")(a)))
    model.compile(optimizer="adam", loss=loss)
    start = np.random.default_rng(3)
    model.set_weights([start.standard_normal(w.shape).astype(np.float32) * 0.3
                       for w in model.get_weights()])
    history = model.fit(x, y, sample_weight=weights, batch_size=16, epochs=3, shuffle=False,
                        verbose=0)
    return history.history["loss"], model.get_weights(), model.evaluate(x, y, verbose=0)


@pytest.mark.parametrize("loss", ["categorical_crossentropy", "mse"])
@pytest.mark.parametrize("sample_weight", [None, "weights"])
def test_training_equals_the_numpy_loss_path(loss, sample_weight, monkeypatch):
    """Models trained through the kernels and through the numpy losses: the same losses and
    weights to float32 rounding (with sample weights the kernels are not used: the same
    bits)."""
    rng = np.random.default_rng(2)
    x = rng.standard_normal((64, 12)).astype(np.float32)
    if loss == "mse":
        y = rng.standard_normal((64, 1)).astype(np.float32)

        def last(h):
            return Dense(1)(h)
    else:
        y = np.eye(5, dtype=np.float32)[rng.integers(0, 5, 64)]

        def last(h):
            return Dense(5, activation="softmax")(h)
    weights = rng.uniform(0.5, 2, 64).astype(np.float32) if sample_weight else None
    calls = []
    real = loss_kernels.values_and_gradient
    monkeypatch.setattr(loss_kernels, "values_and_gradient",
                        lambda *a: calls.append(1) or real(*a))
    fused = _fit(x, y, loss, last, weights)
    assert calls  # evaluate has no sample weights
    monkeypatch.setattr(loss_kernels, "values_and_gradient", lambda *a: None)
    numpy = _fit(x, y, loss, last, weights)
    if sample_weight is None:
        np.testing.assert_allclose(fused[0], numpy[0], rtol=1e-5)
        for got, want in zip(fused[1], numpy[1], strict=True):
            np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
    else:
        assert fused[0] == numpy[0]
        for got, want in zip(fused[1], numpy[1], strict=True):
            np.testing.assert_array_equal(got, want)
    assert fused[2] == pytest.approx(numpy[2], rel=1e-5)
