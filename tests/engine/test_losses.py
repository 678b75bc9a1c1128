"""numkeras.losses against hand-written formulas, finite differences and tf-keras numbers."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from numkeras import losses

EPS = 1e-7
REFERENCE = Path(__file__).resolve().parents[1] / "fixtures" / "reference"
rng = np.random.default_rng(1234)
N, C = 5, 4


# --------------------------------------------------------------------------- hand formulas
# Each takes one row (python lists) and returns the per-sample loss, written from the Keras
# documentation formulas without numpy.


def _mean(xs):
    return sum(xs) / len(xs)


def _clip(x, lo=EPS, hi=1 - EPS):
    return min(max(x, lo), hi)


def ref_mse(t, p):
    return _mean([(b - a) ** 2 for a, b in zip(t, p, strict=True)])


def ref_mae(t, p):
    return _mean([abs(b - a) for a, b in zip(t, p, strict=True)])


def ref_mape(t, p):
    return 100 * _mean([abs((a - b) / max(abs(a), EPS)) for a, b in zip(t, p, strict=True)])


def ref_msle(t, p):
    return _mean(
        [
            (math.log(max(b, EPS) + 1) - math.log(max(a, EPS) + 1)) ** 2
            for a, b in zip(t, p, strict=True)
        ]
    )


def ref_hinge(t, p):
    return _mean([max(1 - a * b, 0.0) for a, b in zip(t, p, strict=True)])


def ref_squared_hinge(t, p):
    return _mean([max(1 - a * b, 0.0) ** 2 for a, b in zip(t, p, strict=True)])


def ref_categorical_hinge(t, p):
    pos = sum(a * b for a, b in zip(t, p, strict=True))
    neg = max((1 - a) * b for a, b in zip(t, p, strict=True))
    return max(neg - pos + 1, 0.0)


def ref_log_cosh(t, p):
    return _mean([math.log(math.cosh(b - a)) for a, b in zip(t, p, strict=True)])


def ref_huber(t, p, delta=1.0):
    out = []
    for a, b in zip(t, p, strict=True):
        e = abs(b - a)
        out.append(0.5 * e * e if e <= delta else delta * e - 0.5 * delta * delta)
    return _mean(out)


def ref_cce(t, p, from_logits=False, label_smoothing=0.0):
    t = [a * (1 - label_smoothing) + label_smoothing / len(t) for a in t]
    if from_logits:
        m = max(p)
        lse = m + math.log(sum(math.exp(z - m) for z in p))
        return -sum(a * (z - lse) for a, z in zip(t, p, strict=True))
    s = sum(p)
    return -sum(a * math.log(_clip(b / s)) for a, b in zip(t, p, strict=True))


def ref_scce(label, p, from_logits=False):
    if from_logits:
        m = max(p)
        return -(p[label] - m - math.log(sum(math.exp(z - m) for z in p)))
    q = [_clip(b) for b in p]
    return -math.log(q[label] / sum(q))


def ref_bce(t, p, from_logits=False, label_smoothing=0.0):
    out = []
    for a, b in zip(t, p, strict=True):
        a = a * (1 - label_smoothing) + 0.5 * label_smoothing
        if from_logits:
            s = 1 / (1 + math.exp(-b))
            out.append(-(a * math.log(s) + (1 - a) * math.log(1 - s)))
        else:
            b = _clip(b)
            out.append(-(a * math.log(b + EPS) + (1 - a) * math.log(1 - b + EPS)))
    return _mean(out)


def ref_kld(t, p):
    return sum(
        _clip(a, EPS, 1) * math.log(_clip(a, EPS, 1) / _clip(b, EPS, 1))
        for a, b in zip(t, p, strict=True)
    )


def ref_poisson(t, p):
    return _mean([b - a * math.log(b + EPS) for a, b in zip(t, p, strict=True)])


def ref_cosine(t, p):
    nt = math.sqrt(sum(a * a for a in t))
    np_ = math.sqrt(sum(b * b for b in p))
    return -sum(a * b for a, b in zip(t, p, strict=True)) / (nt * np_)


def rows(ref, y_true, y_pred, **kw):
    return np.array([ref(list(t), list(p), **kw) for t, p in zip(y_true, y_pred, strict=True)])


# --------------------------------------------------------------------------- data

REG_T = rng.normal(size=(N, C))
REG_P = rng.normal(size=(N, C))
PM_T = rng.choice([-1.0, 1.0], size=(N, C))
LABELS = np.array([0, 3, 1, 2, 3])
ONEHOT = np.eye(C)[LABELS]
PROBS = rng.dirichlet(np.full(C, 4.0), size=N)
LOGITS = rng.normal(size=(N, C)) * 2
BIN_T = rng.integers(0, 2, size=(N, C)).astype(np.float64)
BIN_P = rng.uniform(0.05, 0.95, size=(N, C))
POS_T = rng.uniform(0.5, 3.0, size=(N, C))
POS_P = rng.uniform(0.2, 3.0, size=(N, C))
DIST_T = rng.dirichlet(np.ones(C), size=N)

# (function, kwargs, reference formula, y_true, y_pred)
FUNCTION_CASES = [
    (losses.mean_squared_error, {}, ref_mse, REG_T, REG_P),
    (losses.mean_absolute_error, {}, ref_mae, REG_T, REG_P),
    (losses.mean_absolute_percentage_error, {}, ref_mape, REG_T, REG_P),
    (losses.mean_squared_logarithmic_error, {}, ref_msle, POS_T, POS_P),
    (losses.hinge, {}, ref_hinge, PM_T, REG_P),
    (losses.squared_hinge, {}, ref_squared_hinge, PM_T, REG_P),
    (losses.categorical_hinge, {}, ref_categorical_hinge, ONEHOT, REG_P),
    (losses.log_cosh, {}, ref_log_cosh, REG_T, REG_P),
    (losses.huber, {}, ref_huber, REG_T, REG_P),
    (losses.huber, {"delta": 0.5}, ref_huber, REG_T, REG_P),
    (losses.categorical_crossentropy, {}, ref_cce, ONEHOT, PROBS),
    (losses.categorical_crossentropy, {}, ref_cce, ONEHOT, BIN_P),  # not normalised
    (losses.categorical_crossentropy, {"label_smoothing": 0.1}, ref_cce, ONEHOT, PROBS),
    (losses.categorical_crossentropy, {"from_logits": True}, ref_cce, ONEHOT, LOGITS),
    (
        losses.categorical_crossentropy,
        {"from_logits": True, "label_smoothing": 0.2},
        ref_cce,
        ONEHOT,
        LOGITS,
    ),
    (losses.binary_crossentropy, {}, ref_bce, BIN_T, BIN_P),
    (losses.binary_crossentropy, {"label_smoothing": 0.1}, ref_bce, BIN_T, BIN_P),
    (losses.binary_crossentropy, {"from_logits": True}, ref_bce, BIN_T, LOGITS),
    (losses.kl_divergence, {}, ref_kld, DIST_T, PROBS),
    (losses.poisson, {}, ref_poisson, POS_T, POS_P),
    (losses.cosine_similarity, {}, ref_cosine, REG_T, REG_P),
]


def _case_id(case):
    fn, kw = case[0], case[1]
    return fn.__name__ + "".join(f"-{k}={v}" for k, v in kw.items())


@pytest.mark.parametrize("case", FUNCTION_CASES, ids=[_case_id(c) for c in FUNCTION_CASES])
def test_function_matches_hand_formula(case):
    fn, kw, ref, y_true, y_pred = case
    out = fn(y_true, y_pred, **kw)
    assert out.shape == (N,)
    assert out.dtype == np.float64
    np.testing.assert_allclose(out, rows(ref, y_true, y_pred, **kw), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("from_logits", [False, True])
def test_sparse_categorical_crossentropy_matches_hand_formula(from_logits):
    y_pred = LOGITS if from_logits else PROBS
    expected = [ref_scce(int(k), list(p), from_logits) for k, p in zip(LABELS, y_pred, strict=True)]
    for labels in (LABELS, LABELS.reshape(N, 1), LABELS.astype(np.float32)):
        out = losses.sparse_categorical_crossentropy(labels, y_pred, from_logits=from_logits)
        np.testing.assert_allclose(out, expected, rtol=1e-10)


def test_sparse_crossentropy_clips_then_renormalises():
    y_pred = np.array([[0.0, 0.5, 0.7]])  # sums to 1.2; 0 is clipped to eps
    out = losses.sparse_categorical_crossentropy([1], y_pred)
    np.testing.assert_allclose(out, [-math.log(0.5 / (0.5 + 0.7 + EPS))], rtol=1e-12)


def test_sparse_crossentropy_temporal_labels_and_bad_labels():
    y_pred = rng.dirichlet(np.ones(C), size=(2, 3))
    labels = np.array([[0, 1, 2], [3, 3, 0]])
    expected = [
        [ref_scce(int(labels[i, j]), list(y_pred[i, j])) for j in range(3)] for i in range(2)
    ]
    np.testing.assert_allclose(losses.sparse_categorical_crossentropy(labels, y_pred), expected)
    np.testing.assert_allclose(
        losses.sparse_categorical_crossentropy(labels[..., None], y_pred), expected
    )
    with pytest.raises(ValueError, match="label value of 4"):
        losses.sparse_categorical_crossentropy([[0, 1, 4], [0, 0, 0]], y_pred)
    with pytest.raises(ValueError, match=r"\(5,\)"):
        losses.sparse_categorical_crossentropy(np.zeros(5, int), y_pred)


def test_hinge_converts_zero_one_labels_only_when_all_are_binary():
    zero_one = (PM_T > 0).astype(np.float64)
    np.testing.assert_allclose(losses.hinge(zero_one, REG_P), losses.hinge(PM_T, REG_P))
    np.testing.assert_allclose(
        losses.squared_hinge(zero_one, REG_P), losses.squared_hinge(PM_T, REG_P)
    )
    mixed = np.array([[0.0, 1.0, 0.5]])
    pred = np.array([[0.2, -0.3, 0.4]])
    np.testing.assert_allclose(
        losses.hinge(mixed, pred), [ref_hinge([0.0, 1.0, 0.5], [0.2, -0.3, 0.4])]
    )


def test_binary_crossentropy_clips_probabilities():
    out = losses.binary_crossentropy(np.array([[1.0, 0.0]]), np.array([[0.0, 1.0]]))
    expected = -(math.log(EPS + EPS) + math.log(1 - (1 - EPS) + EPS)) / 2
    np.testing.assert_allclose(out, [expected], rtol=1e-12)
    # In float32 the upper bound 1 - eps rounds to 1 - 2**-23, as in tf.
    out32 = losses.binary_crossentropy([[1.0, 0.0]], [[0.0, 1.0]])
    expected32 = -(math.log(2 * EPS) + math.log(2**-23 + EPS)) / 2
    np.testing.assert_allclose(out32, [expected32], rtol=1e-6)


def test_float32_by_default_and_dtype_kept():
    out = losses.mean_squared_error([[0.0, 1.0]], [[1.0, 1.0]])
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, [0.5])
    assert losses.mean_squared_error(REG_T, REG_P.astype(np.float32)).dtype == np.float32


def test_categorical_crossentropy_axis_and_shape_errors():
    y_true, y_pred = ONEHOT.T.copy(), PROBS.T.copy()
    np.testing.assert_allclose(
        losses.categorical_crossentropy(y_true, y_pred, axis=0), rows(ref_cce, ONEHOT, PROBS)
    )
    with pytest.raises(ValueError, match="axis"):
        losses.categorical_crossentropy(ONEHOT, PROBS, axis=True)
    with pytest.raises(ValueError, match="incompatible"):
        losses.categorical_crossentropy(ONEHOT[:, :1], PROBS)


# --------------------------------------------------------------------------- classes, reductions

CLASS_CASES = [
    (losses.MeanSquaredError(), "mean_squared_error", ref_mse, REG_T, REG_P, {}),
    (losses.MeanAbsoluteError(), "mean_absolute_error", ref_mae, REG_T, REG_P, {}),
    (
        losses.MeanAbsolutePercentageError(),
        "mean_absolute_percentage_error",
        ref_mape,
        REG_T,
        REG_P,
        {},
    ),
    (
        losses.MeanSquaredLogarithmicError(),
        "mean_squared_logarithmic_error",
        ref_msle,
        POS_T,
        POS_P,
        {},
    ),
    (losses.Hinge(), "hinge", ref_hinge, PM_T, REG_P, {}),
    (losses.SquaredHinge(), "squared_hinge", ref_squared_hinge, PM_T, REG_P, {}),
    (losses.CategoricalHinge(), "categorical_hinge", ref_categorical_hinge, ONEHOT, REG_P, {}),
    (losses.LogCosh(), "log_cosh", ref_log_cosh, REG_T, REG_P, {}),
    (losses.Huber(delta=0.7), "huber_loss", ref_huber, REG_T, REG_P, {"delta": 0.7}),
    (
        losses.CategoricalCrossentropy(label_smoothing=0.1),
        "categorical_crossentropy",
        ref_cce,
        ONEHOT,
        PROBS,
        {"label_smoothing": 0.1},
    ),
    (
        losses.BinaryCrossentropy(from_logits=True),
        "binary_crossentropy",
        ref_bce,
        BIN_T,
        LOGITS,
        {"from_logits": True},
    ),
    (losses.KLDivergence(), "kl_divergence", ref_kld, DIST_T, PROBS, {}),
    (losses.Poisson(), "poisson", ref_poisson, POS_T, POS_P, {}),
    (losses.CosineSimilarity(), "cosine_similarity", ref_cosine, REG_T, REG_P, {}),
]
SW = np.array([1.0, 0.5, 2.0, 0.0, 1.5])


@pytest.mark.parametrize("case", CLASS_CASES, ids=[c[1] for c in CLASS_CASES])
def test_class_name_and_reductions(case):
    loss, name, ref, y_true, y_pred, kw = case
    per_sample = rows(ref, y_true, y_pred, **kw)
    assert loss.name == name
    assert loss.reduction == "auto"
    np.testing.assert_allclose(loss(y_true, y_pred), per_sample.mean(), rtol=1e-10)
    np.testing.assert_allclose(loss(y_true, y_pred, SW), (per_sample * SW).sum() / N, rtol=1e-10)
    np.testing.assert_allclose(loss(y_true, y_pred, 2.0), 2 * per_sample.mean(), rtol=1e-10)
    config = loss.get_config()
    summed = type(loss).from_config({**config, "reduction": "sum"})
    np.testing.assert_allclose(summed(y_true, y_pred, SW), (per_sample * SW).sum(), rtol=1e-10)
    unreduced = type(loss).from_config({**config, "reduction": "none"})
    np.testing.assert_allclose(unreduced(y_true, y_pred, SW), per_sample * SW, rtol=1e-10)


def test_sparse_class_and_sample_weight_shapes():
    loss = losses.SparseCategoricalCrossentropy()
    per_sample = np.array([ref_scce(int(k), list(p)) for k, p in zip(LABELS, PROBS, strict=True)])
    for sw in (SW, SW.reshape(N, 1)):
        np.testing.assert_allclose(loss(LABELS, PROBS, sw), (per_sample * SW).sum() / N)
    assert loss.get_config() == {
        "reduction": "auto",
        "name": "sparse_categorical_crossentropy",
        "from_logits": False,
        "ignore_class": None,
        "fn": "sparse_categorical_crossentropy",
    }


def test_temporal_sample_weight():
    y_true = rng.normal(size=(3, 4, 2))
    y_pred = rng.normal(size=(3, 4, 2))
    per_step = np.mean((y_pred - y_true) ** 2, axis=-1)  # (3, 4)
    sw2d = rng.uniform(0, 2, size=(3, 4))
    mse = losses.MeanSquaredError()
    assert mse.call(y_true, y_pred).shape == (3, 4)
    np.testing.assert_allclose(mse(y_true, y_pred, sw2d), (per_step * sw2d).sum() / 12)
    sw1d = np.array([1.0, 0.0, 3.0])
    np.testing.assert_allclose(mse(y_true, y_pred, sw1d), (per_step * sw1d[:, None]).sum() / 12)
    summed = losses.MeanSquaredError(reduction="sum")
    np.testing.assert_allclose(summed(y_true, y_pred, sw2d), (per_step * sw2d).sum())
    with pytest.raises(ValueError, match="sample_weight"):
        mse(y_true, y_pred, np.ones((3, 5)))


def test_label_rank_is_aligned_like_compile():
    y_pred = rng.uniform(0.1, 0.9, size=(N, 1))
    y_true = BIN_T[:, 0]
    bce = losses.BinaryCrossentropy()
    expected = rows(ref_bce, y_true[:, None], y_pred)
    np.testing.assert_allclose(bce.call(y_true, y_pred), expected)
    np.testing.assert_allclose(bce.call(y_true[:, None, None], y_pred), expected)
    # rank-1 labels against (N, C) broadcast as (N, 1), as tf-keras's compile does
    mse = losses.MeanSquaredError()
    np.testing.assert_allclose(
        mse.call(REG_T[:, 0], REG_P), rows(ref_mse, REG_T[:, :1].repeat(C, 1), REG_P)
    )
    with pytest.raises(ValueError, match="does not fit"):
        mse.call(REG_T[:, :3], REG_P)


def test_ignore_class_averages_over_valid_entries():
    labels = np.array([0, -1, 2, -1, 1])
    loss = losses.SparseCategoricalCrossentropy(ignore_class=-1)
    per = loss.call(labels, PROBS)
    valid = labels != -1
    expected = [
        ref_scce(int(k), list(p)) if k >= 0 else 0.0 for k, p in zip(labels, PROBS, strict=True)
    ]
    np.testing.assert_allclose(per, expected)
    np.testing.assert_allclose(loss(labels, PROBS), per.sum() / valid.sum())
    np.testing.assert_allclose(loss(labels, PROBS, SW), (per * SW).sum() / valid.sum())
    summed = losses.SparseCategoricalCrossentropy(ignore_class=-1, reduction="sum")
    np.testing.assert_allclose(summed(labels, PROBS, SW), (per * SW).sum())
    value, grad = loss.value_and_gradient(labels, PROBS)
    np.testing.assert_allclose(value, per.sum() / valid.sum())
    assert np.all(grad[~valid] == 0)


def test_invalid_reduction():
    with pytest.raises(ValueError, match="'mean'"):
        losses.MeanSquaredError(reduction="mean")


def test_compute_weighted_loss():
    values = np.array([1.0, 2.0, 3.0, 4.0])
    assert losses.compute_weighted_loss(values, [1, 0, 1, 0]) == pytest.approx(1.0)
    assert losses.compute_weighted_loss(values, reduction="sum") == pytest.approx(10.0)


# --------------------------------------------------------------------------- gradients


def numeric_gradient(loss, y_true, y_pred, upstream, h=1e-6):
    grad = np.zeros_like(y_pred)
    for idx in np.ndindex(y_pred.shape):
        plus, minus = y_pred.copy(), y_pred.copy()
        plus[idx] += h
        minus[idx] -= h
        f_plus = np.sum(upstream * loss.call(y_true, plus))
        f_minus = np.sum(upstream * loss.call(y_true, minus))
        grad[idx] = (f_plus - f_minus) / (2 * h)
    return grad


def _away_from_kinks(values, points, margin=0.05):
    """Moves entries that sit within ``margin`` of a kink of a piecewise loss."""
    values = values.copy()
    for point in points:
        near = np.abs(values - point) < margin
        values[near] += 2 * margin
    return values


GRAD_CASES = [
    (losses.MeanSquaredError(), REG_T, REG_P),
    (losses.MeanAbsoluteError(), REG_T, _away_from_kinks(REG_P - REG_T, [0]) + REG_T),
    (losses.MeanAbsolutePercentageError(), REG_T, _away_from_kinks(REG_P - REG_T, [0]) + REG_T),
    (losses.MeanSquaredLogarithmicError(), POS_T, POS_P),
    (losses.Hinge(), PM_T, _away_from_kinks(REG_P, [-1, 1])),
    (losses.Hinge(), (PM_T > 0).astype(float), _away_from_kinks(REG_P, [-1, 1])),
    (losses.SquaredHinge(), PM_T, REG_P),
    (losses.CategoricalHinge(), ONEHOT, REG_P * 0.3),
    (losses.LogCosh(), REG_T, REG_P),
    (losses.Huber(), REG_T, _away_from_kinks(REG_P - REG_T, [-1, 1]) + REG_T),
    (losses.Huber(delta=0.4), REG_T, _away_from_kinks(REG_P - REG_T, [-0.4, 0.4]) + REG_T),
    (losses.CategoricalCrossentropy(), ONEHOT, PROBS),
    (losses.CategoricalCrossentropy(), ONEHOT, BIN_P),
    (losses.CategoricalCrossentropy(label_smoothing=0.1), ONEHOT, PROBS),
    (losses.CategoricalCrossentropy(from_logits=True, label_smoothing=0.2), ONEHOT, LOGITS),
    (losses.CategoricalCrossentropy(axis=0), ONEHOT.T.copy(), PROBS.T.copy()),
    (losses.SparseCategoricalCrossentropy(), LABELS, PROBS),
    (losses.SparseCategoricalCrossentropy(), LABELS.reshape(N, 1), BIN_P),
    (losses.SparseCategoricalCrossentropy(from_logits=True), LABELS, LOGITS),
    (losses.SparseCategoricalCrossentropy(ignore_class=3), LABELS, PROBS),
    (losses.BinaryCrossentropy(), BIN_T, BIN_P),
    (losses.BinaryCrossentropy(label_smoothing=0.1), BIN_T, BIN_P),
    (losses.BinaryCrossentropy(from_logits=True), BIN_T, LOGITS),
    (losses.BinaryCrossentropy(axis=0), BIN_T, BIN_P),
    (losses.KLDivergence(), DIST_T, PROBS),
    (losses.Poisson(), POS_T, POS_P),
    (losses.CosineSimilarity(), REG_T, REG_P),
    (losses.CosineSimilarity(axis=0), REG_T, REG_P),
]


@pytest.mark.parametrize(
    "case", GRAD_CASES, ids=[f"{c[0].name}-{i}" for i, c in enumerate(GRAD_CASES)]
)
def test_gradient_matches_finite_differences(case):
    loss, y_true, y_pred = case
    out = loss.call(y_true, y_pred)
    upstream = rng.uniform(0.5, 1.5, size=out.shape)
    grad = loss.gradient(y_true, y_pred, upstream)
    assert grad.shape == y_pred.shape
    assert grad.dtype == y_pred.dtype
    np.testing.assert_allclose(
        grad, numeric_gradient(loss, y_true, y_pred, upstream), rtol=1e-5, atol=1e-7
    )


def test_gradient_of_sparse_temporal():
    loss = losses.SparseCategoricalCrossentropy(from_logits=True)
    y_pred = rng.normal(size=(2, 3, C))
    labels = rng.integers(0, C, size=(2, 3, 1))
    upstream = rng.uniform(size=(2, 3))
    np.testing.assert_allclose(
        loss.gradient(labels, y_pred, upstream),
        numeric_gradient(loss, labels, y_pred, upstream),
        rtol=1e-5,
        atol=1e-8,
    )


def test_value_and_gradient_with_sample_weight():
    y_true, y_pred = rng.normal(size=(3, 4, 2)), rng.normal(size=(3, 4, 2))
    for reduction in ("auto", "sum", "none"):
        loss = losses.LogCosh(reduction=reduction)
        for sw in (None, np.array([1.0, 0.0, 2.5]), rng.uniform(size=(3, 4))):
            value, grad = loss.value_and_gradient(y_true, y_pred, sw)
            np.testing.assert_allclose(value, loss(y_true, y_pred, sw))
            h, numeric = 1e-6, np.zeros_like(y_pred)
            for idx in np.ndindex(y_pred.shape):
                plus, minus = y_pred.copy(), y_pred.copy()
                plus[idx] += h
                minus[idx] -= h
                numeric[idx] = (
                    np.sum(loss(y_true, plus, sw)) - np.sum(loss(y_true, minus, sw))
                ) / (2 * h)
            np.testing.assert_allclose(grad, numeric, rtol=1e-5, atol=1e-9)


def test_gradient_is_zero_where_forward_clips():
    y_true = np.array([[1.0, 0.0, 1.0]])
    y_pred = np.array([[0.0, 1.0, 0.5]])
    grad = losses.BinaryCrossentropy().gradient(y_true, y_pred, np.ones(1))
    np.testing.assert_array_equal(grad[0, :2], [0.0, 0.0])
    assert grad[0, 2] == pytest.approx(-1 / (0.5 + EPS) / 3)
    grad = losses.KLDivergence().gradient([[0.5, 0.5]], np.array([[0.0, 1.0]]), np.ones(1))
    assert grad[0, 0] == 0.0 and grad[0, 1] == pytest.approx(-0.5)
    grad = losses.SparseCategoricalCrossentropy().gradient([0], np.array([[0.0, 1.0]]), [1.0])
    np.testing.assert_array_equal(grad, [[0.0, 0.0]])


def test_upstream_scalar_broadcasts():
    loss = losses.MeanSquaredError()
    np.testing.assert_allclose(
        loss.gradient(REG_T, REG_P, 1.0), loss.gradient(REG_T, REG_P, np.ones(N))
    )


# --------------------------------------------------------------------------- resolution


@pytest.mark.parametrize(
    "alias, fn",
    [
        ("mse", losses.mean_squared_error),
        ("MSE", losses.mean_squared_error),
        ("mae", losses.mean_absolute_error),
        ("MAE", losses.mean_absolute_error),
        ("mape", losses.mean_absolute_percentage_error),
        ("MAPE", losses.mean_absolute_percentage_error),
        ("msle", losses.mean_squared_logarithmic_error),
        ("MSLE", losses.mean_squared_logarithmic_error),
        ("kld", losses.kl_divergence),
        ("KLD", losses.kl_divergence),
        ("kullback_leibler_divergence", losses.kl_divergence),
        ("logcosh", losses.log_cosh),
        ("huber_loss", losses.huber),
        ("bce", losses.binary_crossentropy),
        ("BCE", losses.binary_crossentropy),
        ("categorical_crossentropy", losses.categorical_crossentropy),
        ("cosine_similarity", losses.cosine_similarity),
    ],
)
def test_get_aliases(alias, fn):
    assert losses.get(alias) is fn


def test_get_class_names_dicts_callables_none():
    obj = losses.get("CategoricalCrossentropy")
    assert (
        isinstance(obj, losses.CategoricalCrossentropy) and obj.name == "categorical_crossentropy"
    )
    keras2 = {"class_name": "Huber", "config": {"reduction": "sum", "name": "h", "delta": 2.0}}
    huber = losses.get(keras2)
    assert (huber.reduction, huber.name, huber._fn_kwargs["delta"]) == ("sum", "h", 2.0)
    tf_dict = {
        "module": "keras.losses",
        "class_name": "BinaryCrossentropy",
        "config": {
            "reduction": "auto",
            "name": "bce",
            "from_logits": True,
            "fn": "binary_crossentropy",
        },
        "registered_name": None,
    }
    assert losses.get(tf_dict).get_config()["from_logits"] is True
    fn_dict = {
        "module": "keras.losses",
        "class_name": "function",
        "config": "mse",
        "registered_name": "mse",
    }
    assert losses.get(fn_dict) is losses.mean_squared_error
    assert losses.get(losses.poisson) is losses.poisson
    assert losses.get(None) is None


@pytest.mark.parametrize("bad", ["cosine_proximity", "cce", "crossentropy", "no_such_loss"])
def test_get_unknown_names(bad):
    with pytest.raises(ValueError, match=bad):
        losses.get(bad)


def test_get_uninterpretable():
    with pytest.raises(ValueError, match="42"):
        losses.get(42)


def test_to_loss_object():
    mse = losses.to_loss_object("mse")
    assert isinstance(mse, losses.LossFunctionWrapper)
    assert mse.name == "mean_squared_error" and mse.fn is losses.mean_squared_error
    assert losses.to_loss_object("logcosh").name == "log_cosh"
    assert losses.to_loss_object(losses.huber).name == "huber"
    inst = losses.SparseCategoricalCrossentropy(from_logits=True)
    assert losses.to_loss_object(inst) is inst
    assert losses.to_loss_object({"class_name": "Poisson", "config": {}}).name == "poisson"
    assert losses.to_loss_object(None) is None


def test_to_loss_object_rejects_custom_losses():
    def my_loss(y_true, y_pred):
        return y_pred - y_true

    for custom in (my_loss, losses.LossFunctionWrapper(my_loss)):
        with pytest.raises(ValueError, match="custom losses are not supported") as err:
            losses.to_loss_object(custom)
        assert "my_loss" in str(err.value) and "mean_squared_error" in str(err.value)

    class MyLoss(losses.Loss):
        def call(self, y_true, y_pred):
            return np.mean(y_pred, axis=-1)

    with pytest.raises(ValueError, match="custom losses"):
        losses.to_loss_object(MyLoss(name="mine"))
    with pytest.raises(ValueError, match="no_such"):
        losses.to_loss_object("no_such")


def test_serialize_roundtrip():
    for loss in (
        losses.CategoricalCrossentropy(from_logits=True, label_smoothing=0.2, name="cce"),
        losses.Huber(delta=0.3, reduction="sum"),
        losses.SparseCategoricalCrossentropy(ignore_class=0),
        losses.to_loss_object("msle"),
    ):
        config = losses.serialize(loss)
        assert config["class_name"] == type(loss).__name__
        json.dumps(config)
        restored = losses.deserialize(config)
        assert type(restored) is type(loss)
        assert restored.get_config() == loss.get_config()
        y_true = LABELS if isinstance(loss, losses.SparseCategoricalCrossentropy) else ONEHOT
        np.testing.assert_allclose(restored(y_true, PROBS), loss(y_true, PROBS))
    assert losses.serialize(losses.mse) == "mean_squared_error"
    assert losses.serialize(None) is None


def test_keras_default_configs():
    assert losses.Huber().get_config() == {
        "reduction": "auto",
        "name": "huber_loss",
        "delta": 1.0,
        "fn": "huber",
    }
    assert losses.CategoricalCrossentropy().get_config() == {
        "reduction": "auto",
        "name": "categorical_crossentropy",
        "from_logits": False,
        "label_smoothing": 0.0,
        "axis": -1,
        "fn": "categorical_crossentropy",
    }
    assert losses.KLDivergence().name == "kl_divergence"
    assert losses.CosineSimilarity().get_config()["axis"] == -1


def test_logits_counterpart():
    cce = losses.CategoricalCrossentropy()
    twin = losses.logits_counterpart(cce, "softmax")
    assert twin.fn is losses.categorical_crossentropy and twin._fn_kwargs["from_logits"] is True
    assert cce._fn_kwargs["from_logits"] is False
    np.testing.assert_allclose(
        twin.call(ONEHOT, LOGITS), rows(ref_cce, ONEHOT, LOGITS, from_logits=True)
    )
    bce = losses.to_loss_object("binary_crossentropy")
    assert losses.logits_counterpart(bce, "sigmoid")._fn_kwargs["from_logits"] is True
    assert losses.logits_counterpart(bce, "relu") is None
    assert losses.logits_counterpart(losses.MeanSquaredError(), "softmax") is None


# --------------------------------------------------------------------------- tf-keras parity

LOSSES_JSON = REFERENCE / "losses.json"


def _reference_cases():
    if not LOSSES_JSON.exists():
        return []
    return sorted(json.loads(LOSSES_JSON.read_text())["cases"])


@pytest.mark.skipif(not LOSSES_JSON.exists(), reason="tf-keras reference fixtures not present")
@pytest.mark.parametrize("key", _reference_cases())
def test_matches_tf_keras_reference(key):
    meta = json.loads(LOSSES_JSON.read_text())
    case = meta["cases"][key]
    arrays = np.load(REFERENCE / "losses.npz")
    sw = arrays["sample_weight"]
    y_true, y_pred = arrays[f"{key}__y_true"], arrays[f"{key}__y_pred"]
    fn = getattr(losses, case["function"])
    tol = {"rtol": 2e-5, "atol": 2e-6}
    np.testing.assert_allclose(
        fn(y_true, y_pred, **case["function_kwargs"]), arrays[f"{key}__function"], **tol
    )
    cls = getattr(losses, case["class_name"])
    loss = cls(**case["class_kwargs"])
    assert loss.get_config() == case["object_config"]
    np.testing.assert_allclose(loss(y_true, y_pred), arrays[f"{key}__object"], **tol)
    np.testing.assert_allclose(loss(y_true, y_pred, sw), arrays[f"{key}__object_sw"], **tol)
    summed = cls(reduction="sum", **case["class_kwargs"])
    np.testing.assert_allclose(
        summed(y_true, y_pred, sw), case["object_reduction_sum_with_sample_weight"], **tol
    )
    unreduced = cls(reduction="none", **case["class_kwargs"])
    np.testing.assert_allclose(unreduced(y_true, y_pred), arrays[f"{key}__object_none"], **tol)
    _, grad = loss.value_and_gradient(y_true, y_pred)
    np.testing.assert_allclose(grad, arrays[f"{key}__grad"], rtol=3e-5, atol=1e-6)
    _, grad_sw = loss.value_and_gradient(y_true, y_pred, sw)
    np.testing.assert_allclose(grad_sw, arrays[f"{key}__grad_sw"], rtol=3e-5, atol=1e-6)


@pytest.mark.skipif(not LOSSES_JSON.exists(), reason="tf-keras reference fixtures not present")
def test_get_matches_tf_keras_aliases():
    aliases = json.loads(LOSSES_JSON.read_text())["losses_get_aliases"]
    for name, expected in aliases.items():
        if "focal" in name:  # focal crossentropies are not part of numkeras
            continue
        if "error" in expected:
            with pytest.raises(ValueError):
                losses.get(name)
            continue
        got = losses.get(name)
        if expected["kind"] == "function":
            assert got.__name__ == expected["resolves_to"], name
        else:
            assert type(got).__name__ == expected["resolves_to"], name
            assert got.get_config() == expected["config"], name


def test_deserialize_tf_keras_serialized_loss_object():
    serialized = {
        "module": "keras.losses",
        "class_name": "SparseCategoricalCrossentropy",
        "config": {
            "reduction": "auto",
            "name": "sparse_categorical_crossentropy",
            "from_logits": True,
            "ignore_class": None,
            "fn": "sparse_categorical_crossentropy",
        },
        "registered_name": None,
    }
    loss = losses.deserialize(serialized)
    assert isinstance(loss, losses.SparseCategoricalCrossentropy)
    assert loss.get_config() == serialized["config"]
    assert losses.serialize(loss) == {
        "class_name": "SparseCategoricalCrossentropy",
        "config": serialized["config"],
    }
