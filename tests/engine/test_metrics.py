"""numkeras.metrics: functions, streaming state, compile-time resolution, tf-keras numbers."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from numkeras import losses, metrics

REFERENCE = Path(__file__).resolve().parents[1] / "fixtures" / "reference"
rng = np.random.default_rng(99)


# --------------------------------------------------------------------------- functions


def test_binary_accuracy_threshold_is_strict():
    y_true = [[1.0], [0.0], [1.0], [0.0], [1.0]]
    y_pred = [[0.9], [0.5], [0.5], [0.2], [0.7]]
    np.testing.assert_array_equal(metrics.binary_accuracy(y_true, y_pred), [1, 1, 0, 1, 1])
    np.testing.assert_array_equal(
        metrics.binary_accuracy(y_true, y_pred, threshold=0.7), [1, 1, 0, 1, 0]
    )
    multi = metrics.binary_accuracy([[1.0, 0.0, 1.0, 1.0]], [[0.6, 0.6, 0.1, 0.9]])
    np.testing.assert_allclose(multi, [0.5])
    assert multi.dtype == np.float32


def test_categorical_accuracy_first_max_wins():
    y_true = np.eye(3)[[0, 1, 2, 1]]
    y_pred = np.array(
        [[0.5, 0.3, 0.2], [0.4, 0.4, 0.2], [0.1, 0.1, 0.8], [0.1, 0.2, 0.7]]  # row 1 tie -> 0
    )
    np.testing.assert_array_equal(metrics.categorical_accuracy(y_true, y_pred), [1, 0, 1, 0])


def test_sparse_categorical_accuracy_label_shapes():
    y_pred = np.array([[0.1, 0.9], [0.8, 0.2], [0.3, 0.7]])
    for labels in ([1, 1, 1], [[1], [1], [1]], np.array([1.0, 1.0, 1.0], np.float32)):
        out = metrics.sparse_categorical_accuracy(labels, y_pred)
        np.testing.assert_array_equal(out, [1, 0, 1])
        assert out.shape == (3,)
    temporal = metrics.sparse_categorical_accuracy([[0, 1]], [[[0.9, 0.1], [0.6, 0.4]]])
    np.testing.assert_array_equal(temporal, [[1, 0]])


def test_top_k_counts_ties_at_the_boundary():
    y_pred = np.array(
        [
            [0.4, 0.15, 0.15, 0.1, 0.15, 0.05],  # classes 1, 2, 4 tie for second place
            [0.1, 0.2, 0.3, 0.4, 0.0, 0.0],
        ]
    )
    labels = np.array([4, 1])
    np.testing.assert_array_equal(
        metrics.sparse_top_k_categorical_accuracy(labels, y_pred, k=2), [1, 0]
    )
    np.testing.assert_array_equal(
        metrics.sparse_top_k_categorical_accuracy(labels, y_pred, k=3), [1, 1]
    )
    np.testing.assert_array_equal(
        metrics.top_k_categorical_accuracy(np.eye(6)[labels], y_pred, k=1), [0, 0]
    )
    np.testing.assert_array_equal(
        metrics.sparse_top_k_categorical_accuracy(labels.reshape(2, 1), y_pred, k=2), [[1], [0]]
    )
    # k at least the number of classes: always in the top k (default k=5 with 3 classes)
    np.testing.assert_array_equal(
        metrics.top_k_categorical_accuracy(np.eye(3)[[2]], [[0.5, 0.4, 0.1]]), [1]
    )


def test_accuracy_is_exact_equality():
    y_true, y_pred = [[1.0, 2.0], [3.0, 4.0]], [[1.0, 2.5], [3.0, 0.0]]
    np.testing.assert_array_equal(metrics.accuracy(y_true, y_pred), [[1, 0], [1, 0]])
    # like tf.cast, int labels truncate the predictions first; the class casts both to float
    np.testing.assert_array_equal(metrics.accuracy([[2]], [[2.5]]), [[1]])
    assert metrics.Accuracy()([[2]], [[2.5]]) == 0.0
    with pytest.raises(ValueError, match="same shape"):
        metrics.accuracy([1, 2], [[1, 2]])


def test_metric_cosine_similarity_is_positive():
    y_true, y_pred = np.array([[1.0, 0.0], [1.0, 1.0]]), np.array([[2.0, 0.0], [-1.0, 0.0]])
    np.testing.assert_allclose(metrics.cosine_similarity(y_true, y_pred), [1.0, -1 / math.sqrt(2)])
    assert metrics.get("cosine_proximity") is metrics.cosine_similarity


def test_loss_functions_are_metric_functions():
    assert metrics.get("mse") is losses.mean_squared_error
    assert metrics.get("categorical_crossentropy") is losses.categorical_crossentropy
    assert metrics.get("logcosh") is losses.log_cosh
    assert metrics.get("acc") is metrics.accuracy


# --------------------------------------------------------------------------- streaming state


def test_mean_weighted_streaming_and_reset():
    m = metrics.Mean(name="m")
    m.update_state([1.0, 2.0, 3.0])
    assert m.result() == pytest.approx(2.0)
    m.update_state([10.0, 20.0], sample_weight=[0.5, 0.0])
    assert m.result() == pytest.approx((1 + 2 + 3 + 5) / 3.5)
    m.update_state(4.0, sample_weight=2.0)
    assert m.result() == pytest.approx((6 + 5 + 8) / 5.5)
    m.reset_state()
    assert m.result() == 0.0
    m.update_state([7.0])
    m.reset_states()
    assert (m.total, m.count) == (0.0, 0.0)


def test_sum_metric():
    s = metrics.Sum()
    s.update_state([1.0, 2.0], sample_weight=[2.0, 3.0])
    s.update_state([[1.0, 1.0], [1.0, 1.0]], sample_weight=[1.0, 0.0])
    assert s.result() == pytest.approx(10.0)
    assert s.name == "sum"


def test_mean_metric_wrapper_with_sample_weights_across_batches():
    y_true = rng.normal(size=(10, 3))
    y_pred = rng.normal(size=(10, 3))
    sw = rng.uniform(0, 2, size=10)
    per_sample = np.mean(np.abs(y_true - y_pred), axis=1)
    m = metrics.MeanMetricWrapper(metrics.mean_absolute_error, name="mae")
    m.update_state(y_true[:6], y_pred[:6], sample_weight=sw[:6])
    assert m.result() == pytest.approx((per_sample[:6] * sw[:6]).sum() / sw[:6].sum(), rel=1e-6)
    m.update_state(y_true[6:], y_pred[6:], sample_weight=sw[6:])
    assert m.result() == pytest.approx((per_sample * sw).sum() / sw.sum(), rel=1e-6)
    unweighted = metrics.MeanAbsoluteError()
    assert unweighted(y_true, y_pred) == pytest.approx(per_sample.mean(), rel=1e-6)


def test_temporal_sample_weight():
    y_true = rng.normal(size=(4, 5, 2))
    y_pred = rng.normal(size=(4, 5, 2))
    per_step = np.mean((y_true - y_pred) ** 2, axis=-1)
    sw2d = rng.uniform(0, 1, size=(4, 5))
    m = metrics.MeanSquaredError()
    m.update_state(y_true, y_pred, sample_weight=sw2d)
    assert m.result() == pytest.approx((per_step * sw2d).sum() / sw2d.sum(), rel=1e-6)
    sw1d = np.array([1.0, 0.0, 2.0, 0.5])
    m.reset_state()
    m.update_state(y_true, y_pred, sample_weight=sw1d)
    # (batch,) weights broadcast over the timesteps, and are counted once per timestep
    assert m.count == pytest.approx(5 * sw1d.sum())
    assert m.result() == pytest.approx(
        (per_step * sw1d[:, None]).sum() / (5 * sw1d.sum()), rel=1e-6
    )


def test_weights_of_lower_rank_reduce_the_values():
    m = metrics.Mean()
    values = np.arange(12.0).reshape(2, 3, 2)
    m.update_state(values, sample_weight=[1.0, 3.0])  # rank 1 vs rank 3: values averaged
    per_row = values.reshape(2, -1).mean(axis=1)
    assert m.result() == pytest.approx((per_row * [1, 3]).sum() / 4)


def test_accuracy_classes_streaming():
    y_true = np.eye(4)[[0, 1, 2, 3, 0, 1]]
    y_pred = np.eye(4)[[0, 1, 3, 3, 1, 1]]
    acc = metrics.CategoricalAccuracy()
    acc.update_state(y_true[:3], y_pred[:3])
    assert acc.result() == pytest.approx(2 / 3)
    acc.update_state(y_true[3:], y_pred[3:], sample_weight=[1.0, 1.0, 2.0])
    assert acc.result() == pytest.approx((2 + 1 + 0 + 2) / 7)
    sparse = metrics.SparseCategoricalAccuracy()
    sparse.update_state(np.array([[0], [1], [2]]), y_pred[:3], sample_weight=[1.0, 2.0, 4.0])
    assert sparse.result() == pytest.approx(3 / 7)
    binary = metrics.BinaryAccuracy(threshold=0.3)
    binary.update_state([[1.0, 0.0], [0.0, 0.0]], [[0.4, 0.2], [0.31, 0.3]])
    assert binary.result() == pytest.approx(3 / 4)
    top2 = metrics.SparseTopKCategoricalAccuracy(k=2)
    top2.update_state([2, 0], [[0.1, 0.5, 0.4], [0.2, 0.5, 0.3]])
    assert top2.result() == pytest.approx(0.5)
    exact = metrics.Accuracy()
    exact.update_state([[1], [2], [3], [4]], [[1], [2], [0], [4]])
    assert exact.result() == pytest.approx(0.75)


def test_rank_one_labels_against_column_predictions():
    # tf-keras squeezes y_pred (N, 1) to (N,) when y_true is (N,)
    binary = metrics.BinaryAccuracy()
    binary.update_state([1.0, 0.0, 1.0, 1.0], [[0.9], [0.1], [0.2], [0.8]])
    assert binary.result() == pytest.approx(0.75)
    assert binary.count == 4


def test_crossentropy_metric_classes():
    labels = np.array([0, 2, 1])
    probs = np.array([[0.7, 0.2, 0.1], [0.1, 0.3, 0.6], [0.25, 0.5, 0.25]])
    expected = -np.log([0.7, 0.6, 0.5])
    assert metrics.SparseCategoricalCrossentropy()(labels, probs) == pytest.approx(
        expected.mean(), rel=1e-6
    )
    assert metrics.CategoricalCrossentropy()(np.eye(3)[labels], probs) == pytest.approx(
        expected.mean(), rel=1e-6
    )
    ignoring = metrics.SparseCategoricalCrossentropy(ignore_class=2)
    ignoring.update_state(labels, probs)
    assert ignoring.result() == pytest.approx(-(np.log(0.7) + np.log(0.5)) / 2, rel=1e-6)
    bce = metrics.BinaryCrossentropy(from_logits=True)
    logits = np.array([[0.3], [-1.2]])
    y = np.array([[1.0], [0.0]])
    expected_bce = np.mean(np.log1p(np.exp(-logits[:, 0] * (2 * y[:, 0] - 1))))
    assert bce(y, logits) == pytest.approx(expected_bce, rel=1e-6)


def test_root_mean_squared_error():
    m = metrics.RootMeanSquaredError()
    m.update_state([[1.0], [2.0]], [[2.0], [4.0]], sample_weight=[1.0, 3.0])
    assert m.result() == pytest.approx(math.sqrt((1 + 3 * 4) / 4))


def test_merge_state():
    a, b = metrics.Mean(), metrics.Mean()
    a.update_state([1.0, 2.0])
    b.update_state([6.0], sample_weight=[2.0])
    a.merge_state([b])
    assert a.result() == pytest.approx(15 / 4)


def test_default_names_and_configs():
    expected = {
        metrics.Accuracy: "accuracy",
        metrics.BinaryAccuracy: "binary_accuracy",
        metrics.CategoricalAccuracy: "categorical_accuracy",
        metrics.SparseCategoricalAccuracy: "sparse_categorical_accuracy",
        metrics.TopKCategoricalAccuracy: "top_k_categorical_accuracy",
        metrics.SparseTopKCategoricalAccuracy: "sparse_top_k_categorical_accuracy",
        metrics.MeanSquaredError: "mean_squared_error",
        metrics.MeanAbsoluteError: "mean_absolute_error",
        metrics.MeanAbsolutePercentageError: "mean_absolute_percentage_error",
        metrics.MeanSquaredLogarithmicError: "mean_squared_logarithmic_error",
        metrics.Hinge: "hinge",
        metrics.SquaredHinge: "squared_hinge",
        metrics.CategoricalHinge: "categorical_hinge",
        metrics.LogCoshError: "logcosh",
        metrics.KLDivergence: "kullback_leibler_divergence",
        metrics.Poisson: "poisson",
        metrics.CosineSimilarity: "cosine_similarity",
        metrics.BinaryCrossentropy: "binary_crossentropy",
        metrics.CategoricalCrossentropy: "categorical_crossentropy",
        metrics.SparseCategoricalCrossentropy: "sparse_categorical_crossentropy",
        metrics.Mean: "mean",
    }
    for cls, name in expected.items():
        metric = cls()
        assert metric.name == name
        assert metric.dtype == "float32"
        restored = cls.from_config(metric.get_config())
        assert restored.get_config() == metric.get_config()
    assert metrics.TopKCategoricalAccuracy(k=3).get_config() == {
        "name": "top_k_categorical_accuracy",
        "dtype": "float32",
        "k": 3,
    }


def test_serialize_deserialize():
    config = metrics.serialize(metrics.BinaryAccuracy(threshold=0.7, name="ba"))
    assert config == {
        "class_name": "BinaryAccuracy",
        "config": {"name": "ba", "dtype": "float32", "threshold": 0.7},
    }
    restored = metrics.deserialize(config)
    assert isinstance(restored, metrics.BinaryAccuracy) and restored.name == "ba"
    wrapper = metrics.resolve("mse", (None, 1), (None, 1))
    wrapped = metrics.serialize(wrapper)
    assert wrapped["config"]["fn"] == "mean_squared_error"
    json.dumps(wrapped)
    again = metrics.deserialize(wrapped)
    assert again.name == "mse" and again.fn is losses.mean_squared_error
    tf_style = {
        "module": "keras.metrics",
        "class_name": "Poisson",
        "config": {"name": "p", "dtype": "float32"},
        "registered_name": None,
    }
    assert metrics.get(tf_style).name == "p"
    assert metrics.serialize(metrics.binary_accuracy) == "binary_accuracy"


# --------------------------------------------------------------------------- resolution


@pytest.mark.parametrize(
    "y_true_shape, y_pred_shape, accuracy, crossentropy",
    [
        ((None, 1), (None, 1), "binary_accuracy", "binary_crossentropy"),
        ((None,), (None, 1), "binary_accuracy", "binary_crossentropy"),
        ((None,), (None, 10), "sparse_categorical_accuracy", "sparse_categorical_crossentropy"),
        ((None, 1), (None, 10), "sparse_categorical_accuracy", "sparse_categorical_crossentropy"),
        (
            (None, 7),
            (None, 7, 10),
            "sparse_categorical_accuracy",
            "sparse_categorical_crossentropy",
        ),
        ((None, 10), (None, 10), "categorical_accuracy", "categorical_crossentropy"),
        ((None, 7, 10), (None, 7, 10), "categorical_accuracy", "categorical_crossentropy"),
    ],
)
def test_resolve_shorthands(y_true_shape, y_pred_shape, accuracy, crossentropy):
    for name in ("accuracy", "acc", "Accuracy", "ACC"):
        metric = metrics.resolve(name, y_true_shape, y_pred_shape)
        assert isinstance(metric, metrics.MeanMetricWrapper)
        assert metric.fn.__name__ == accuracy
        assert metric.name == name
    for name in ("crossentropy", "ce"):
        metric = metrics.resolve(name, y_true_shape, y_pred_shape, loss="mse")
        assert metric.fn.__name__ == crossentropy and metric.name == name


def test_resolved_accuracy_numbers():
    probs = np.array([[0.1, 0.9], [0.8, 0.2], [0.3, 0.7]])
    sparse = metrics.resolve("acc", (3,), (3, 2))
    sparse.update_state(*metrics.match_dtype_and_rank([1, 1, 1], probs)[:2])
    assert sparse.result() == pytest.approx(2 / 3)
    categorical = metrics.resolve("accuracy", (3, 2), (3, 2))
    categorical.update_state(np.eye(2)[[1, 0, 0]], probs)
    assert categorical.result() == pytest.approx(2 / 3)
    binary = metrics.resolve("accuracy", (3,), (3, 1))
    y_true, y_pred, _ = metrics.match_dtype_and_rank([1.0, 0.0, 0.0], [[0.6], [0.4], [0.51]])
    binary.update_state(y_true, y_pred)
    assert binary.result() == pytest.approx(2 / 3)


def test_resolve_names_and_objects():
    assert metrics.resolve("mse", (None, 1), (None, 1)).name == "mse"
    assert metrics.resolve("mean_squared_error", (None, 1), (None, 1)).name == "mean_squared_error"
    fn_metric = metrics.resolve(metrics.top_k_categorical_accuracy, (None, 9), (None, 9))
    assert fn_metric.name == "top_k_categorical_accuracy"
    instance = metrics.SparseTopKCategoricalAccuracy(k=3, name="top3")
    assert metrics.resolve(instance, (None,), (None, 9)) is instance
    assert (
        metrics.resolve("CategoricalAccuracy", (None, 9), (None, 9)).name == "categorical_accuracy"
    )
    loss_metric = metrics.resolve(losses.Huber(), (None, 1), (None, 1))
    assert loss_metric.name == "huber_loss"
    assert metrics.resolve(None, (None, 1), (None, 1)) is None

    def my_metric(y_true, y_pred):
        return np.abs(y_true - y_pred).max(axis=-1)

    custom = metrics.resolve(my_metric, (None, 2), (None, 2))
    custom.update_state([[0.0, 1.0]], [[0.5, 3.0]])
    assert custom.name == "my_metric" and custom.result() == pytest.approx(2.0)


def test_metric_display_name():
    assert metrics.metric_display_name("acc") == "acc"
    assert metrics.metric_display_name("Accuracy") == "Accuracy"
    assert metrics.metric_display_name("mse") == "mse"
    assert metrics.metric_display_name("sparse_top_k_categorical_accuracy") == (
        "sparse_top_k_categorical_accuracy"
    )
    assert metrics.metric_display_name("TopKCategoricalAccuracy") == "top_k_categorical_accuracy"
    assert metrics.metric_display_name(metrics.categorical_accuracy) == "categorical_accuracy"
    assert metrics.metric_display_name(metrics.Mean("m")) == "m"
    assert metrics.metric_display_name(losses.MeanSquaredError(name="l2")) == "l2"
    assert metrics.metric_display_name({"class_name": "Poisson", "config": {"name": "pp"}}) == "pp"


@pytest.mark.parametrize("bad", ["no_such_metric", "auc", "cce"])
def test_unknown_metric(bad):
    with pytest.raises(ValueError, match=bad):
        metrics.resolve(bad, (None, 1), (None, 1))
    with pytest.raises(ValueError, match=bad):
        metrics.metric_display_name(bad)


def test_uninterpretable_metric():
    with pytest.raises(ValueError, match="3.5"):
        metrics.get(3.5)


def test_match_dtype_and_rank():
    y_true, y_pred, sw = metrics.match_dtype_and_rank(
        np.array([1.0, 0.0]), np.zeros((2, 1), np.float32), [1.0, 2.0]
    )
    assert y_true.shape == (2, 1) and y_true.dtype == np.float32 and sw.shape == (2, 1)
    labels, _, none = metrics.match_dtype_and_rank(np.array([3, 1]), np.zeros((2, 5), np.float32))
    assert labels.shape == (2, 1) and labels.dtype.kind == "i" and none is None
    temporal, _, sw3 = metrics.match_dtype_and_rank(
        np.zeros((2, 4)), np.zeros((2, 4, 3)), np.ones(2)
    )
    assert temporal.shape == (2, 4) and sw3.shape == (2,)


# --------------------------------------------------------------------------- tf-keras parity

METRICS_JSON = REFERENCE / "metrics.json"


def _reference_cases():
    if not METRICS_JSON.exists():
        return []
    return sorted(json.loads(METRICS_JSON.read_text())["cases"])


@pytest.mark.skipif(not METRICS_JSON.exists(), reason="tf-keras reference fixtures not present")
@pytest.mark.parametrize("key", _reference_cases())
def test_matches_tf_keras_reference(key):
    case = json.loads(METRICS_JSON.read_text())["cases"][key]
    arrays = np.load(REFERENCE / "metrics.npz")
    y_true, y_pred, sw = arrays[f"{key}__y_true"], arrays[f"{key}__y_pred"], arrays["sample_weight"]
    fn = getattr(metrics, case["function"])
    np.testing.assert_allclose(
        fn(y_true, y_pred, **case["function_kwargs"]), arrays[f"{key}__function"], rtol=1e-6
    )
    cls = getattr(metrics, case["class_name"])
    assert cls(**case["class_kwargs"]).name == case["default_name"]
    half = len(y_true) // 2
    for weighted in (False, True):
        metric = cls(**case["class_kwargs"])
        prefix = "weighted_" if weighted else ""
        for batch, part in ((1, slice(0, half)), (2, slice(half, None))):
            metric.update_state(y_true[part], y_pred[part], sw[part] if weighted else None)
            expected = case[f"{prefix}result_after_batch{batch}"]
            assert metric.result() == pytest.approx(expected, rel=1e-5, abs=1e-7), (weighted, batch)
        assert metric.get_config() == case["class_config"]


@pytest.mark.skipif(not (REFERENCE / "losses.json").exists(), reason="reference not present")
def test_get_matches_tf_keras_aliases():
    aliases = json.loads((REFERENCE / "losses.json").read_text())["metrics_get_aliases"]
    for name, expected in aliases.items():
        if expected.get("kind") == "function":
            assert metrics.get(name).__name__ == expected["resolves_to"], name
        elif name in ("auc", "AUC"):  # AUC is not implemented; 'auc' is unknown in tf-keras too
            continue
        elif name == "kld":  # tf-keras's metrics.get leaves 'kld' unresolved; numkeras resolves it
            assert metrics.get(name) is losses.kl_divergence


@pytest.mark.skipif(
    not (REFERENCE / "metrics_naming.json").exists(), reason="reference not present"
)
@pytest.mark.parametrize("scenario", ["metrics_naming", "sparse", "sample_weight_1d", "mlp_sgd"])
def test_display_names_match_tf_keras(scenario):
    data = json.loads((REFERENCE / f"{scenario}.json").read_text())
    user = data["compile"]["metrics"]
    names = [metrics.metric_display_name(m) for m in user]
    weighted = [metrics.metric_display_name(m) for m in data["compile"].get("weighted_metrics", [])]
    weighted = [f"weighted_{n}" if n in names else n for n in weighted]
    assert ["loss", *names, *weighted] == data["metrics_names"]


def test_h5_training_config_form():
    # tf-keras's .h5 training_config stores compiled metrics in this exact form
    resolved = metrics.resolve("accuracy", (None, 3), (None, 3))
    stored = {
        "class_name": "MeanMetricWrapper",
        "config": {"name": "accuracy", "dtype": "float32", "fn": "categorical_accuracy"},
    }
    assert metrics.serialize(resolved) == stored
    restored = metrics.deserialize(stored)
    assert restored.name == "accuracy" and restored.fn is metrics.categorical_accuracy
