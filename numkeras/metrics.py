"""Keras 2 metrics: streaming ``Metric`` objects, metric functions, compile-time resolution.

Semantics follow tf-keras 2: a ``Mean`` keeps ``total`` and ``count``; a ``MeanMetricWrapper``
averages ``fn(y_true, y_pred)`` over every value it returns, weighted by ``sample_weight``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from numkeras import backend
from numkeras import losses as _losses
from numkeras.losses import (  # noqa: F401  (loss functions are metric functions too)
    BCE,
    KLD,
    MAE,
    MAPE,
    MSE,
    MSLE,
    bce,
    binary_crossentropy,
    categorical_crossentropy,
    categorical_hinge,
    hinge,
    huber,
    kl_divergence,
    kld,
    kullback_leibler_divergence,
    log_cosh,
    logcosh,
    mae,
    mape,
    mean_absolute_error,
    mean_absolute_percentage_error,
    mean_squared_error,
    mean_squared_logarithmic_error,
    mse,
    msle,
    poisson,
    sparse_categorical_crossentropy,
    squared_hinge,
)
from numkeras.utils.generic_utils import deserialize_keras_object, serialize_keras_object

# --------------------------------------------------------------------------- functions


def _floatx(x: np.ndarray) -> np.ndarray:
    return x.astype(backend.floatx())


def accuracy(y_true: Any, y_pred: Any) -> np.ndarray:
    """1 where ``y_pred`` equals ``y_true`` exactly, else 0 (element-wise)."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    if y_true.shape != y_pred.shape:
        raise ValueError(
            f"accuracy needs y_true and y_pred of the same shape, got {y_true.shape} and "
            f"{y_pred.shape}."
        )
    return _floatx(y_true == y_pred.astype(y_true.dtype))


def _binary_matches(y_true: Any, y_pred: Any, threshold: float = 0.5) -> np.ndarray:
    y_true, y_pred = _losses._cast(y_true, y_pred)
    return _floatx(y_true == (y_pred > threshold).astype(y_pred.dtype))


def binary_accuracy(y_true: Any, y_pred: Any, threshold: float = 0.5) -> np.ndarray:
    """Mean over the last axis of ``y_true == (y_pred > threshold)``."""
    return np.mean(_binary_matches(y_true, y_pred, threshold), axis=-1)


def _sparse_categorical_matches(y_true: Any, y_pred: Any) -> np.ndarray:
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    shape = y_true.shape
    if y_true.ndim == y_pred.ndim:
        y_true = np.squeeze(y_true, -1)
    matches = _floatx(y_true == np.argmax(y_pred, axis=-1).astype(y_true.dtype))
    return matches.reshape(shape)


def categorical_accuracy(y_true: Any, y_pred: Any) -> np.ndarray:
    """1 where the argmax of ``y_pred`` is the argmax of the one-hot ``y_true``."""
    return _sparse_categorical_matches(np.argmax(y_true, axis=-1), y_pred)


def sparse_categorical_accuracy(y_true: Any, y_pred: Any) -> np.ndarray:
    """1 where the argmax of ``y_pred`` equals the integer label ``y_true``."""
    matches = _sparse_categorical_matches(y_true, y_pred)
    if matches.ndim > 1 and matches.shape[-1] == 1:
        matches = matches[..., 0]
    return matches


def _in_top_k(predictions: np.ndarray, targets: np.ndarray, k: int) -> np.ndarray:
    """``tf.math.in_top_k``: ties at the boundary count as in the top k."""
    num_classes = predictions.shape[-1]
    valid = (targets >= 0) & (targets < num_classes)
    targets = np.where(valid, targets, 0)
    score = np.take_along_axis(predictions, targets[:, None], axis=-1)
    above = np.sum(predictions > score, axis=-1)
    finite = np.all(np.isfinite(predictions), axis=-1)
    return valid & finite & (above < k)


def sparse_top_k_categorical_accuracy(y_true: Any, y_pred: Any, k: int = 5) -> np.ndarray:
    """1 where the integer label is among the ``k`` highest scores of ``y_pred``."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    shape = y_true.shape
    predictions = y_pred.reshape(-1, y_pred.shape[-1])
    matches = _floatx(_in_top_k(predictions, y_true.reshape(-1).astype(np.int32), k))
    return matches.reshape(shape) if y_true.ndim > 1 else matches


def top_k_categorical_accuracy(y_true: Any, y_pred: Any, k: int = 5) -> np.ndarray:
    """1 where the argmax of the one-hot ``y_true`` is among the ``k`` highest scores."""
    return sparse_top_k_categorical_accuracy(np.argmax(y_true, axis=-1), y_pred, k)


def cosine_similarity(y_true: Any, y_pred: Any, axis: int = -1) -> np.ndarray:
    """Cosine similarity along ``axis`` (+1 for aligned vectors; the loss is its negative)."""
    return -_losses.cosine_similarity(y_true, y_pred, axis=axis)


acc = ACC = accuracy
cosine_proximity = cosine_similarity


# --------------------------------------------------------------------------- shapes and weights


def squeeze_or_expand_dimensions(
    y_pred: np.ndarray, y_true: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """tf-keras's label/prediction rank fix: drop a trailing axis of 1 when ranks differ by 1.

    Nothing changes when ``y_true`` has exactly one rank less than ``y_pred`` and ``y_pred``'s
    last dimension is greater than 1 (sparse labels).
    """
    if y_pred.ndim == 0 or y_true.ndim == 0:
        return y_pred, y_true
    rank_diff = y_pred.ndim - y_true.ndim
    if rank_diff != 1 or y_pred.shape[-1] == 1:
        if rank_diff == 1 and y_pred.shape[-1] == 1:
            y_pred = y_pred[..., 0]
        elif rank_diff == -1 and y_true.shape[-1] == 1:
            y_true = y_true[..., 0]
    return y_pred, y_true


def match_dtype_and_rank(
    y_true: Any, y_pred: Any, sample_weight: Any = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """What tf-keras's compiled losses and metrics do to each output's data first.

    Rank-1 ``y_true`` and ``sample_weight`` gain a trailing axis when ``y_pred`` is 2D, and
    float labels take ``y_pred``'s dtype. Apply it before ``Metric.update_state`` to get the
    numbers ``model.fit`` reports.
    """
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    if y_true.ndim == 1 and y_pred.ndim == 2:
        y_true = y_true[:, None]
    if np.issubdtype(y_true.dtype, np.floating) and np.issubdtype(y_pred.dtype, np.floating):
        y_true = y_true.astype(y_pred.dtype, copy=False)
    if sample_weight is not None:
        sample_weight = np.asarray(sample_weight, dtype=y_pred.dtype)
        if sample_weight.ndim == 1 and y_pred.ndim == 2:
            sample_weight = sample_weight[:, None]
    return y_true, y_pred, sample_weight


# --------------------------------------------------------------------------- Metric classes


class Metric:
    """Base class of streaming metrics.

    Subclasses implement ``update_state``, ``result`` and ``reset_state``. Calling a metric
    updates it and returns the result.

    Args:
        name: Name of the metric (the snake-cased class name by default).
        dtype: Float type of the computation, ``"float32"`` by default.
    """

    def __init__(self, name: str | None = None, dtype: str | None = None) -> None:
        self.name = name or backend.to_snake_case(type(self).__name__)
        self._dtype = np.dtype(dtype or backend.floatx()).name

    @property
    def dtype(self) -> str:
        return self._dtype

    def __call__(self, *args: Any, **kwargs: Any) -> float:
        self.update_state(*args, **kwargs)
        return self.result()

    def update_state(self, *args: Any, **kwargs: Any) -> None:
        raise NotImplementedError(f"{type(self).__name__} must implement update_state().")

    def result(self) -> float:
        raise NotImplementedError(f"{type(self).__name__} must implement result().")

    def reset_state(self) -> None:
        raise NotImplementedError(f"{type(self).__name__} must implement reset_state().")

    def reset_states(self) -> None:
        """Alias of ``reset_state`` (the older Keras name)."""
        self.reset_state()

    def get_config(self) -> dict[str, Any]:
        return {"name": self.name, "dtype": self.dtype}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Metric:
        return cls(**config)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name!r}>"


class Reduce(Metric):
    """Accumulates ``sum`` or weighted mean of values; the base of ``Sum`` and ``Mean``."""

    def __init__(self, reduction: str, name: str | None, dtype: str | None = None) -> None:
        super().__init__(name=name, dtype=dtype)
        if reduction not in ("sum", "weighted_mean"):
            raise ValueError(
                f"Invalid reduction: {reduction!r}. Expected 'sum' or 'weighted_mean'."
            )
        self.reduction = reduction
        self.total = 0.0
        self.count = 0.0

    def update_state(self, values: Any, sample_weight: Any = None) -> None:
        """Adds ``values`` (weighted by ``sample_weight``, broadcast as tf-keras does)."""
        values = np.asarray(values, dtype=self._dtype)
        if sample_weight is None:
            self.total += float(np.sum(values, dtype=np.float64))
            self.count += values.size
            return
        weights = _losses._adjust_weights(values, np.asarray(sample_weight, dtype=self._dtype))
        if _broadcastable_weights(weights, values):
            weights = np.broadcast_to(weights, values.shape)
        elif weights.ndim < values.ndim:
            reduce = np.sum if self.reduction == "sum" else np.mean
            values = reduce(values, axis=tuple(range(weights.ndim, values.ndim)))
        try:
            weighted = values * weights
        except ValueError:
            raise ValueError(
                f"sample_weight of shape {np.shape(sample_weight)} cannot be broadcast to "
                f"metric values of shape {values.shape} in metric {self.name!r}."
            ) from None
        self.total += float(np.sum(weighted, dtype=np.float64))
        self.count += float(np.sum(weights, dtype=np.float64))

    def result(self) -> float:
        if self.reduction == "sum":
            return self.total
        return self.total / self.count if self.count else 0.0

    def reset_state(self) -> None:
        self.total = 0.0
        self.count = 0.0

    def merge_state(self, metrics: Sequence[Reduce]) -> None:
        """Adds the accumulated state of other metrics of the same kind into this one."""
        for metric in metrics:
            self.total += metric.total
            self.count += metric.count


def _broadcastable_weights(weights: np.ndarray, values: np.ndarray) -> bool:
    """``tf.broadcast_weights``'s rule: a scalar, or the same rank with dims 1 or equal."""
    if weights.ndim == 0:
        return True
    if weights.ndim != values.ndim:
        return False
    return all(w in (1, v) for w, v in zip(weights.shape, values.shape, strict=True))


class Sum(Reduce):
    """The (weighted) sum of the values seen."""

    def __init__(self, name: str = "sum", dtype: str | None = None) -> None:
        super().__init__("sum", name=name, dtype=dtype)


class Mean(Reduce):
    """The weighted mean ``sum(values * w) / sum(w)`` of the values seen."""

    def __init__(self, name: str = "mean", dtype: str | None = None) -> None:
        super().__init__("weighted_mean", name=name, dtype=dtype)


class MeanMetricWrapper(Mean):
    """The weighted mean of ``fn(y_true, y_pred, **kwargs)`` over every value it returns.

    Args:
        fn: A metric function, e.g. ``categorical_accuracy``.
        name: Name of the metric.
        dtype: Float type ``y_true`` and ``y_pred`` are cast to before ``fn``.
        **kwargs: Passed to ``fn`` on every update.
    """

    def __init__(
        self,
        fn: Callable[..., Any],
        name: str | None = None,
        dtype: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(name=name or "mean_metric_wrapper", dtype=dtype)
        self._fn = fn
        self._fn_kwargs = kwargs

    @property
    def fn(self) -> Callable[..., Any]:
        return self._fn

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:
        """Adds ``fn(y_true, y_pred)`` weighted by ``sample_weight``."""
        y_true = np.asarray(y_true, dtype=self._dtype)
        y_pred = np.asarray(y_pred, dtype=self._dtype)
        y_pred, y_true = squeeze_or_expand_dimensions(y_pred, y_true)
        values = np.asarray(self._fn(y_true, y_pred, **self._fn_kwargs))
        mask = _losses.valid_mask(self._fn, y_true, y_pred, **self._fn_kwargs)
        if mask is not None:
            mask = mask.astype(self._dtype)
            if sample_weight is None:
                sample_weight = mask
            else:
                weights = np.asarray(sample_weight, dtype=self._dtype)
                sample_weight = _losses._adjust_weights(mask, weights) * mask
        super().update_state(values, sample_weight=sample_weight)

    def get_config(self) -> dict[str, Any]:
        config = {**super().get_config(), **self._fn_kwargs}
        if type(self) is MeanMetricWrapper:
            config["fn"] = serialize_keras_object(self._fn)
        return config

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> MeanMetricWrapper:
        config = dict(config)
        fn = config.pop("fn", None)
        if cls is MeanMetricWrapper:
            return cls(get(fn), **config)
        return cls(**config)


class Accuracy(MeanMetricWrapper):
    """How often ``y_pred`` equals ``y_true`` exactly."""

    def __init__(self, name: str = "accuracy", dtype: str | None = None) -> None:
        super().__init__(accuracy, name, dtype=dtype)


class BinaryAccuracy(MeanMetricWrapper):
    """How often ``y_pred > threshold`` matches the binary ``y_true``."""

    def __init__(
        self, name: str = "binary_accuracy", dtype: str | None = None, threshold: float = 0.5
    ) -> None:
        super().__init__(_binary_matches, name, dtype=dtype, threshold=threshold)


class CategoricalAccuracy(MeanMetricWrapper):
    """How often the argmax of ``y_pred`` matches the one-hot ``y_true``."""

    def __init__(self, name: str = "categorical_accuracy", dtype: str | None = None) -> None:
        super().__init__(categorical_accuracy, name, dtype=dtype)


class SparseCategoricalAccuracy(MeanMetricWrapper):
    """How often the argmax of ``y_pred`` matches the integer ``y_true``."""

    def __init__(self, name: str = "sparse_categorical_accuracy", dtype: str | None = None) -> None:
        super().__init__(_sparse_categorical_matches, name, dtype=dtype)


class TopKCategoricalAccuracy(MeanMetricWrapper):
    """How often the one-hot target is among the ``k`` highest predictions."""

    def __init__(
        self, k: int = 5, name: str = "top_k_categorical_accuracy", dtype: str | None = None
    ) -> None:
        super().__init__(top_k_categorical_accuracy, name, dtype=dtype, k=k)


class SparseTopKCategoricalAccuracy(MeanMetricWrapper):
    """How often the integer target is among the ``k`` highest predictions."""

    def __init__(
        self,
        k: int = 5,
        name: str = "sparse_top_k_categorical_accuracy",
        dtype: str | None = None,
    ) -> None:
        super().__init__(sparse_top_k_categorical_accuracy, name, dtype=dtype, k=k)


class MeanSquaredError(MeanMetricWrapper):
    """Mean of ``mean_squared_error``."""

    def __init__(self, name: str = "mean_squared_error", dtype: str | None = None) -> None:
        super().__init__(mean_squared_error, name, dtype=dtype)


class MeanAbsoluteError(MeanMetricWrapper):
    """Mean of ``mean_absolute_error``."""

    def __init__(self, name: str = "mean_absolute_error", dtype: str | None = None) -> None:
        super().__init__(mean_absolute_error, name, dtype=dtype)


class MeanAbsolutePercentageError(MeanMetricWrapper):
    """Mean of ``mean_absolute_percentage_error``."""

    def __init__(
        self, name: str = "mean_absolute_percentage_error", dtype: str | None = None
    ) -> None:
        super().__init__(mean_absolute_percentage_error, name, dtype=dtype)


class MeanSquaredLogarithmicError(MeanMetricWrapper):
    """Mean of ``mean_squared_logarithmic_error``."""

    def __init__(
        self, name: str = "mean_squared_logarithmic_error", dtype: str | None = None
    ) -> None:
        super().__init__(mean_squared_logarithmic_error, name, dtype=dtype)


class RootMeanSquaredError(Mean):
    """``sqrt`` of the weighted mean of squared errors."""

    def __init__(self, name: str = "root_mean_squared_error", dtype: str | None = None) -> None:
        super().__init__(name, dtype=dtype)

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:
        y_true = np.asarray(y_true, dtype=self._dtype)
        y_pred = np.asarray(y_pred, dtype=self._dtype)
        y_pred, y_true = squeeze_or_expand_dimensions(y_pred, y_true)
        super().update_state(np.square(y_pred - y_true), sample_weight=sample_weight)

    def result(self) -> float:
        return float(np.sqrt(super().result()))


class Hinge(MeanMetricWrapper):
    """Mean of ``hinge``."""

    def __init__(self, name: str = "hinge", dtype: str | None = None) -> None:
        super().__init__(hinge, name, dtype=dtype)


class SquaredHinge(MeanMetricWrapper):
    """Mean of ``squared_hinge``."""

    def __init__(self, name: str = "squared_hinge", dtype: str | None = None) -> None:
        super().__init__(squared_hinge, name, dtype=dtype)


class CategoricalHinge(MeanMetricWrapper):
    """Mean of ``categorical_hinge``."""

    def __init__(self, name: str = "categorical_hinge", dtype: str | None = None) -> None:
        super().__init__(categorical_hinge, name, dtype=dtype)


class LogCoshError(MeanMetricWrapper):
    """Mean of ``log_cosh``."""

    def __init__(self, name: str = "logcosh", dtype: str | None = None) -> None:
        super().__init__(log_cosh, name, dtype=dtype)


class KLDivergence(MeanMetricWrapper):
    """Mean of ``kl_divergence``."""

    def __init__(self, name: str = "kullback_leibler_divergence", dtype: str | None = None) -> None:
        super().__init__(kl_divergence, name, dtype=dtype)


class Poisson(MeanMetricWrapper):
    """Mean of ``poisson``."""

    def __init__(self, name: str = "poisson", dtype: str | None = None) -> None:
        super().__init__(poisson, name, dtype=dtype)


class CosineSimilarity(MeanMetricWrapper):
    """Mean cosine similarity along ``axis`` (positive, unlike the loss)."""

    def __init__(
        self, name: str = "cosine_similarity", dtype: str | None = None, axis: int = -1
    ) -> None:
        super().__init__(cosine_similarity, name, dtype=dtype, axis=axis)


class BinaryCrossentropy(MeanMetricWrapper):
    """Mean of ``binary_crossentropy``."""

    def __init__(
        self,
        name: str = "binary_crossentropy",
        dtype: str | None = None,
        from_logits: bool = False,
        label_smoothing: float = 0,
    ) -> None:
        super().__init__(
            binary_crossentropy,
            name,
            dtype=dtype,
            from_logits=from_logits,
            label_smoothing=label_smoothing,
        )


class CategoricalCrossentropy(MeanMetricWrapper):
    """Mean of ``categorical_crossentropy``."""

    def __init__(
        self,
        name: str = "categorical_crossentropy",
        dtype: str | None = None,
        from_logits: bool = False,
        label_smoothing: float = 0,
        axis: int = -1,
    ) -> None:
        super().__init__(
            categorical_crossentropy,
            name,
            dtype=dtype,
            from_logits=from_logits,
            label_smoothing=label_smoothing,
            axis=axis,
        )


class SparseCategoricalCrossentropy(MeanMetricWrapper):
    """Mean of ``sparse_categorical_crossentropy``."""

    def __init__(
        self,
        name: str = "sparse_categorical_crossentropy",
        dtype: str | None = None,
        from_logits: bool = False,
        ignore_class: int | None = None,
        axis: int = -1,
    ) -> None:
        super().__init__(
            sparse_categorical_crossentropy,
            name,
            dtype=dtype,
            from_logits=from_logits,
            ignore_class=ignore_class,
            axis=axis,
        )


# --------------------------------------------------------------------------- resolution

_FUNCTIONS = (
    accuracy,
    binary_accuracy,
    categorical_accuracy,
    sparse_categorical_accuracy,
    top_k_categorical_accuracy,
    sparse_top_k_categorical_accuracy,
    cosine_similarity,
    mean_squared_error,
    mean_absolute_error,
    mean_absolute_percentage_error,
    mean_squared_logarithmic_error,
    hinge,
    squared_hinge,
    categorical_hinge,
    huber,
    log_cosh,
    kl_divergence,
    poisson,
    binary_crossentropy,
    categorical_crossentropy,
    sparse_categorical_crossentropy,
)
_CLASSES = (
    Metric,
    Reduce,
    Sum,
    Mean,
    MeanMetricWrapper,
    Accuracy,
    BinaryAccuracy,
    CategoricalAccuracy,
    SparseCategoricalAccuracy,
    TopKCategoricalAccuracy,
    SparseTopKCategoricalAccuracy,
    MeanSquaredError,
    MeanAbsoluteError,
    MeanAbsolutePercentageError,
    MeanSquaredLogarithmicError,
    RootMeanSquaredError,
    Hinge,
    SquaredHinge,
    CategoricalHinge,
    LogCoshError,
    KLDivergence,
    Poisson,
    CosineSimilarity,
    BinaryCrossentropy,
    CategoricalCrossentropy,
    SparseCategoricalCrossentropy,
)
_MODULE_OBJECTS: dict[str, Any] = {
    **{fn.__name__: fn for fn in _FUNCTIONS},
    "acc": acc, "ACC": ACC, "bce": bce, "BCE": BCE, "mse": mse, "MSE": MSE, "mae": mae,
    "MAE": MAE, "mape": mape, "MAPE": MAPE, "msle": msle, "MSLE": MSLE, "kld": kld,
    "KLD": KLD, "kullback_leibler_divergence": kullback_leibler_divergence,
    "logcosh": logcosh, "cosine_proximity": cosine_proximity,
    **{cls.__name__: cls for cls in _CLASSES},
}  # fmt: skip

# Strings compile() turns into the binary, categorical or sparse variant from the data shapes.
_SHORTHANDS = ("accuracy", "acc", "crossentropy", "ce")


def serialize(metric: Any) -> Any:
    """A function to its name, a ``Metric`` to ``{"class_name": ..., "config": ...}``."""
    return serialize_keras_object(metric)


def deserialize(config: Any, custom_objects: dict[str, Any] | None = None) -> Any:
    """A name to its function (or a new instance, for a class name), a dict to a ``Metric``.

    Raises:
        ValueError: for an unknown name.
    """
    if isinstance(config, dict) and config.get("class_name") == "function":
        config = config.get("config") or config.get("registered_name")
    obj = deserialize_keras_object(
        config,
        module_objects=_MODULE_OBJECTS,
        custom_objects=custom_objects,
        printable_module_name="metric function",
    )
    return obj() if isinstance(obj, type) else obj


def get(identifier: Any) -> Any:
    """Resolves a metric identifier as ``keras.metrics.get`` does.

    Strings give the function (``"mse"`` -> ``mean_squared_error``, ``"acc"`` -> ``accuracy``)
    or, for a class name, a new instance; dicts give a ``Metric``; callables pass through.

    Raises:
        ValueError: for an unknown name or an identifier of another type.
    """
    if isinstance(identifier, (str, dict)):
        return deserialize(identifier)
    if callable(identifier):
        return identifier
    raise ValueError(f"Could not interpret metric identifier: {identifier!r}")


def _object_name(obj: Any) -> str:
    """tf-keras's ``get_custom_object_name``: ``.name``, else ``__name__``, else the class."""
    name = getattr(obj, "name", None)
    if isinstance(name, str):
        return name
    name = getattr(obj, "__name__", None)
    if isinstance(name, str):
        return name
    return backend.to_snake_case(type(obj).__name__)


def _shorthand_function(
    identifier: str, y_true_shape: Sequence[int | None], y_pred_shape: Sequence[int | None]
) -> Callable[..., Any]:
    y_true_rank, y_pred_rank = len(y_true_shape), len(y_pred_shape)
    y_true_last = y_true_shape[-1] if y_true_rank else None
    y_pred_last = y_pred_shape[-1] if y_pred_rank else None
    is_binary = y_pred_last == 1
    is_sparse = y_true_rank < y_pred_rank or (
        y_true_last == 1 and y_pred_last is not None and y_pred_last > 1
    )
    if identifier.lower() in ("accuracy", "acc"):
        variants = (binary_accuracy, sparse_categorical_accuracy, categorical_accuracy)
    else:
        variants = (binary_crossentropy, sparse_categorical_crossentropy, categorical_crossentropy)
    return variants[0] if is_binary else variants[1] if is_sparse else variants[2]


def resolve(
    identifier: Any,
    y_true_shape: Sequence[int | None],
    y_pred_shape: Sequence[int | None],
    loss: Any = None,
) -> Metric | None:
    """The ``Metric`` ``compile(metrics=[identifier])`` builds for one output, as tf-keras.

    ``"accuracy"``/``"acc"`` (any case) becomes binary accuracy when ``y_pred``'s last dim is 1,
    sparse categorical accuracy when ``y_true`` has a lower rank than ``y_pred`` or a last dim
    of 1 against more than 1, categorical accuracy otherwise; ``"crossentropy"``/``"ce"`` pick
    the crossentropy the same way. Strings and functions are wrapped in ``MeanMetricWrapper``
    named as ``metric_display_name`` says; ``Metric`` instances are returned as they are.

    Args:
        identifier: A metric string, function, ``Metric``, ``Loss`` or config dict; None
            gives None (no metric for this output).
        y_true_shape: Shape of the targets as given to ``fit`` (before any rank fix).
        y_pred_shape: Shape of the model output.
        loss: Accepted for API symmetry; tf-keras decides from the shapes only.

    Raises:
        ValueError: for an unknown metric.
    """
    del loss
    if identifier is None:
        return None
    if isinstance(identifier, str) and identifier.lower() in _SHORTHANDS:
        fn = _shorthand_function(identifier, y_true_shape, y_pred_shape)
        return MeanMetricWrapper(fn, name=identifier)
    metric = get(identifier)
    if isinstance(metric, Metric):
        return metric
    name = identifier if isinstance(identifier, str) else _object_name(metric)
    return MeanMetricWrapper(metric, name=name)


def metric_display_name(identifier: Any) -> str:
    """The name ``compile`` gives a metric (before any output-name prefix), without data.

    A string keeps the user's spelling (``"acc"`` -> ``"acc"``, ``"mse"`` -> ``"mse"``) unless it
    names a metric class (``"CategoricalAccuracy"`` -> ``"categorical_accuracy"``); a function
    gives its ``__name__``; a ``Metric`` or ``Loss`` instance gives its ``name``.

    Raises:
        ValueError: for an unknown metric.
    """
    if isinstance(identifier, str) and identifier.lower() in _SHORTHANDS:
        return identifier
    metric = get(identifier)
    if isinstance(identifier, str) and not isinstance(metric, Metric):
        return identifier
    return _object_name(metric)
