"""Keras 2 losses: the functions, the ``Loss`` classes, and their gradients for the engine.

Numbers follow tf-keras 2. Every built-in loss also knows its gradient with respect to
``y_pred`` (``Loss.gradient``), written analytically; where the forward pass clips a value the
gradient through that value is zero, as with ``tf.clip_by_value``.
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

from numkeras import backend
from numkeras.utils.generic_utils import deserialize_keras_object, serialize_keras_object

_GRADIENTS: dict[Callable[..., np.ndarray], Callable[..., np.ndarray]] = {}


class Reduction:
    """The reduction names ``Loss`` accepts (``keras.losses.Reduction``)."""

    AUTO = "auto"
    NONE = "none"
    SUM = "sum"
    SUM_OVER_BATCH_SIZE = "sum_over_batch_size"

    @classmethod
    def all(cls) -> tuple[str, ...]:
        return (cls.AUTO, cls.NONE, cls.SUM, cls.SUM_OVER_BATCH_SIZE)

    @classmethod
    def validate(cls, key: str) -> None:
        if key not in cls.all():
            raise ValueError(f"Invalid reduction: {key!r}. Expected one of {cls.all()}.")


# --------------------------------------------------------------------------- helpers


def _as_float(x: Any) -> np.ndarray:
    """A float array: float arrays keep their dtype, anything else becomes floatx."""
    if isinstance(x, (np.ndarray, np.generic)) and x.dtype.kind == "f":
        return np.asarray(x)
    return np.asarray(x, dtype=backend.floatx())


def _cast(y_true: Any, y_pred: Any) -> tuple[np.ndarray, np.ndarray]:
    y_pred = _as_float(y_pred)
    return np.asarray(y_true, dtype=y_pred.dtype), y_pred


def _clip_bounds(dtype: np.dtype) -> tuple[np.floating, np.floating]:
    """``(epsilon, 1 - epsilon)`` computed in ``dtype``, as tf builds its clip bounds."""
    eps = dtype.type(backend.epsilon())
    return eps, dtype.type(1.0) - eps


def _inside(x: np.ndarray, low: Any, high: Any) -> np.ndarray:
    """Where ``clip(x, low, high)`` passes its gradient through (bounds included)."""
    return (x >= low) & (x <= high)


def _log_softmax(z: np.ndarray) -> np.ndarray:
    shifted = z - np.max(z, axis=-1, keepdims=True)
    return shifted - np.log(np.sum(np.exp(shifted), axis=-1, keepdims=True))


def _sigmoid(z: np.ndarray) -> np.ndarray:
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e)).astype(z.dtype, copy=False)


def _upstream(upstream: Any, y_pred: np.ndarray, axis: int = -1) -> np.ndarray:
    """``upstream`` broadcast to the loss output shape and re-expanded at the reduced axis."""
    axis = range(y_pred.ndim)[axis]  # an IndexError for an axis out of range
    out_shape = y_pred.shape[:axis] + y_pred.shape[axis + 1:]
    g = np.asarray(upstream, dtype=y_pred.dtype)
    if g.shape != out_shape:
        g = np.broadcast_to(g, out_shape)
    return g.reshape(out_shape[:axis] + (1,) + out_shape[axis:])


def _mean_grad(g: np.ndarray, d: np.ndarray, y_pred: np.ndarray, axis: int = -1) -> np.ndarray:
    """Gradient of ``mean(f, axis)`` given ``d = df/dy_pred`` and the expanded upstream ``g``."""
    out = g * d / y_pred.shape[axis]
    if out.shape != y_pred.shape:
        out = np.broadcast_to(out, y_pred.shape)
    return out.astype(y_pred.dtype)


def _gradient_of(fn: Callable[..., np.ndarray]) -> Callable:
    def register(grad: Callable[..., np.ndarray]) -> Callable[..., np.ndarray]:
        _GRADIENTS[fn] = grad
        return grad

    return register


def _check_axis(axis: Any) -> None:
    if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
        raise ValueError(f"`axis` must be an int. Received: axis={axis!r}")


# --------------------------------------------------------------------------- functions


def mean_squared_error(y_true: Any, y_pred: Any) -> np.ndarray:
    """``mean(square(y_pred - y_true), axis=-1)``."""
    y_true, y_pred = _cast(y_true, y_pred)
    return np.mean(np.square(y_pred - y_true), axis=-1)


@_gradient_of(mean_squared_error)
def _mse_grad(y_true, y_pred, g):
    return _mean_grad(g, 2.0 * (y_pred - y_true), y_pred)


def mean_absolute_error(y_true: Any, y_pred: Any) -> np.ndarray:
    """``mean(abs(y_pred - y_true), axis=-1)``."""
    y_true, y_pred = _cast(y_true, y_pred)
    return np.mean(np.abs(y_pred - y_true), axis=-1)


@_gradient_of(mean_absolute_error)
def _mae_grad(y_true, y_pred, g):
    return _mean_grad(g, np.sign(y_pred - y_true), y_pred)


def mean_absolute_percentage_error(y_true: Any, y_pred: Any) -> np.ndarray:
    """``100 * mean(abs((y_true - y_pred) / max(abs(y_true), epsilon)), axis=-1)``."""
    y_true, y_pred = _cast(y_true, y_pred)
    diff = np.abs((y_true - y_pred) / np.maximum(np.abs(y_true), backend.epsilon()))
    return 100.0 * np.mean(diff, axis=-1)


@_gradient_of(mean_absolute_percentage_error)
def _mape_grad(y_true, y_pred, g):
    scale = np.maximum(np.abs(y_true), backend.epsilon())
    return _mean_grad(g, 100.0 * np.sign(y_pred - y_true) / scale, y_pred)


def mean_squared_logarithmic_error(y_true: Any, y_pred: Any) -> np.ndarray:
    """``mean(square(log(max(y_pred, eps) + 1) - log(max(y_true, eps) + 1)), axis=-1)``."""
    y_true, y_pred = _cast(y_true, y_pred)
    first = np.log(np.maximum(y_pred, backend.epsilon()) + 1.0)
    second = np.log(np.maximum(y_true, backend.epsilon()) + 1.0)
    return np.mean(np.square(first - second), axis=-1)


@_gradient_of(mean_squared_logarithmic_error)
def _msle_grad(y_true, y_pred, g):
    eps = backend.epsilon()
    shifted = np.maximum(y_pred, eps) + 1.0
    diff = np.log(shifted) - np.log(np.maximum(y_true, eps) + 1.0)
    # tf.maximum sends the gradient to its first argument on ties.
    return _mean_grad(g, np.where(y_pred >= eps, 2.0 * diff / shifted, 0.0), y_pred)


def _maybe_convert_labels(y_true: np.ndarray) -> np.ndarray:
    """0/1 labels become -1/1 (only when every label of the batch is 0 or 1)."""
    if np.all((y_true == 0) | (y_true == 1)):
        return 2.0 * y_true - 1.0
    return y_true


def squared_hinge(y_true: Any, y_pred: Any) -> np.ndarray:
    """``mean(square(max(1 - y_true * y_pred, 0)), axis=-1)``; 0/1 labels become -1/1."""
    y_true, y_pred = _cast(y_true, y_pred)
    y_true = _maybe_convert_labels(y_true)
    return np.mean(np.square(np.maximum(1.0 - y_true * y_pred, 0.0)), axis=-1)


@_gradient_of(squared_hinge)
def _squared_hinge_grad(y_true, y_pred, g):
    y_true = _maybe_convert_labels(y_true)
    margin = np.maximum(1.0 - y_true * y_pred, 0.0)
    return _mean_grad(g, -2.0 * margin * y_true, y_pred)


def hinge(y_true: Any, y_pred: Any) -> np.ndarray:
    """``mean(max(1 - y_true * y_pred, 0), axis=-1)``; 0/1 labels become -1/1."""
    y_true, y_pred = _cast(y_true, y_pred)
    y_true = _maybe_convert_labels(y_true)
    return np.mean(np.maximum(1.0 - y_true * y_pred, 0.0), axis=-1)


@_gradient_of(hinge)
def _hinge_grad(y_true, y_pred, g):
    y_true = _maybe_convert_labels(y_true)
    return _mean_grad(g, np.where(1.0 - y_true * y_pred >= 0.0, -y_true, 0.0), y_pred)


def categorical_hinge(y_true: Any, y_pred: Any) -> np.ndarray:
    """``max(max((1 - y_true) * y_pred) - sum(y_true * y_pred) + 1, 0)`` over the last axis."""
    y_true, y_pred = _cast(y_true, y_pred)
    pos = np.sum(y_true * y_pred, axis=-1)
    neg = np.max((1.0 - y_true) * y_pred, axis=-1)
    return np.maximum(neg - pos + 1.0, 0.0)


@_gradient_of(categorical_hinge)
def _categorical_hinge_grad(y_true, y_pred, g):
    y_true = np.broadcast_to(y_true, y_pred.shape)
    others = (1.0 - y_true) * y_pred
    neg = np.max(others, axis=-1, keepdims=True)
    pos = np.sum(y_true * y_pred, axis=-1, keepdims=True)
    # reduce_max shares its gradient equally between tied maxima.
    is_max = (others == neg).astype(y_pred.dtype)
    d = (1.0 - y_true) * is_max / np.sum(is_max, axis=-1, keepdims=True) - y_true
    return (g * np.where(neg - pos + 1.0 >= 0.0, d, 0.0)).astype(y_pred.dtype)


def huber(y_true: Any, y_pred: Any, delta: float = 1.0) -> np.ndarray:
    """Huber loss: quadratic for ``|error| <= delta``, linear beyond, mean over the last axis."""
    y_true, y_pred = _cast(y_true, y_pred)
    error = y_pred - y_true
    abs_error = np.abs(error)
    delta = y_pred.dtype.type(delta)
    quadratic = 0.5 * np.square(error)
    linear = delta * abs_error - 0.5 * np.square(delta)
    return np.mean(np.where(abs_error <= delta, quadratic, linear), axis=-1)


@_gradient_of(huber)
def _huber_grad(y_true, y_pred, g, delta=1.0):
    error = y_pred - y_true
    d = np.where(np.abs(error) <= delta, error, delta * np.sign(error))
    return _mean_grad(g, d, y_pred)


def log_cosh(y_true: Any, y_pred: Any) -> np.ndarray:
    """``mean(log(cosh(y_pred - y_true)), axis=-1)``, computed without overflow."""
    y_true, y_pred = _cast(y_true, y_pred)
    x = y_pred - y_true
    return np.mean(x + np.logaddexp(0.0, -2.0 * x) - np.log(2.0).astype(x.dtype), axis=-1)


@_gradient_of(log_cosh)
def _log_cosh_grad(y_true, y_pred, g):
    return _mean_grad(g, np.tanh(y_pred - y_true), y_pred)


def _check_same_shape(y_true: np.ndarray, y_pred: np.ndarray) -> None:
    if y_true.shape != y_pred.shape:
        raise ValueError(
            f"Shapes {y_true.shape} and {y_pred.shape} are incompatible: y_true and y_pred "
            "must have the same shape for categorical_crossentropy."
        )


def _smooth_categorical(y_true: np.ndarray, label_smoothing: float, axis: int) -> np.ndarray:
    if not label_smoothing:
        return y_true
    num_classes = y_true.shape[axis]
    return y_true * (1.0 - label_smoothing) + label_smoothing / num_classes


def categorical_crossentropy(
    y_true: Any,
    y_pred: Any,
    from_logits: bool = False,
    label_smoothing: float = 0.0,
    axis: int = -1,
) -> np.ndarray:
    """Crossentropy between one-hot (or soft) labels and predicted class probabilities.

    From probabilities, ``y_pred`` is first normalised to sum to 1 along ``axis`` and clipped
    to ``[epsilon, 1 - epsilon]``; from logits it is a numerically stable log-softmax.
    """
    _check_axis(axis)
    y_true, y_pred = _cast(y_true, y_pred)
    _check_same_shape(y_true, y_pred)
    if y_pred.shape[-1] == 1:
        warnings.warn(
            "In loss categorical_crossentropy, expected y_pred.shape to be "
            f"(batch_size, num_classes) with num_classes > 1. Received: y_pred.shape="
            f"{y_pred.shape}. Consider using 'binary_crossentropy' if you only have 2 classes.",
            SyntaxWarning,
            stacklevel=2,
        )
    y_true = np.moveaxis(_smooth_categorical(y_true, label_smoothing, axis), axis, -1)
    y_pred = np.moveaxis(y_pred, axis, -1)
    if from_logits:
        return -np.sum(y_true * _log_softmax(y_pred), axis=-1)
    low, high = _clip_bounds(y_pred.dtype)
    probs = np.clip(y_pred / np.sum(y_pred, axis=-1, keepdims=True), low, high)
    return -np.sum(y_true * np.log(probs), axis=-1)


@_gradient_of(categorical_crossentropy)
def _categorical_crossentropy_grad(
    y_true, y_pred, g, from_logits=False, label_smoothing=0.0, axis=-1
):
    _check_same_shape(y_true, y_pred)
    y_true = np.moveaxis(_smooth_categorical(y_true, label_smoothing, axis), axis, -1)
    z = np.moveaxis(y_pred, axis, -1)
    g = np.moveaxis(g, axis, -1)
    if from_logits:
        d = np.sum(y_true, axis=-1, keepdims=True) * np.exp(_log_softmax(z)) - y_true
    else:
        total = np.sum(z, axis=-1, keepdims=True)
        probs = z / total
        low, high = _clip_bounds(z.dtype)
        grad_probs = np.where(_inside(probs, low, high), -y_true / np.clip(probs, low, high), 0)
        d = (grad_probs - np.sum(grad_probs * probs, axis=-1, keepdims=True)) / total
    return np.moveaxis(g * d, -1, axis).astype(y_pred.dtype)


def _sparse_labels(
    y_true: Any, logits_shape: tuple[int, ...], ignore_class: int | None
) -> tuple[np.ndarray, np.ndarray | None]:
    """Integer labels shaped like the loss output, and the mask of labels not ignored."""
    y_true = np.asarray(y_true)
    out_shape = logits_shape[:-1]
    if y_true.size != int(np.prod(out_shape)):
        raise ValueError(
            f"Sparse labels of shape {y_true.shape} do not match predictions of shape "
            f"{logits_shape} (expected one integer label per row of "
            f"{logits_shape[-1]} class scores)."
        )
    labels = y_true.reshape(out_shape).astype(np.int64)
    valid = None if ignore_class is None else labels != ignore_class
    checked = labels if valid is None else labels[valid]
    num_classes = logits_shape[-1]
    if checked.size and (checked.min() < 0 or checked.max() >= num_classes):
        bad = checked[(checked < 0) | (checked >= num_classes)][0]
        raise ValueError(
            f"Received a label value of {bad} which is outside the valid range of "
            f"[0, {num_classes}) for sparse_categorical_crossentropy."
        )
    if valid is not None:
        labels = np.where(valid, labels, 0)
    return labels, valid


def sparse_categorical_crossentropy(
    y_true: Any,
    y_pred: Any,
    from_logits: bool = False,
    axis: int = -1,
    ignore_class: int | None = None,
) -> np.ndarray:
    """Crossentropy between integer labels and predicted class probabilities (or logits).

    ``y_true`` holds one integer per row of ``y_pred`` along ``axis``, e.g. ``(N,)`` or
    ``(N, 1)`` for ``(N, C)`` predictions, ``(N, T)`` or ``(N, T, 1)`` for ``(N, T, C)``.
    Entries labelled ``ignore_class`` give 0.
    """
    _check_axis(axis)
    y_pred = np.moveaxis(_as_float(y_pred), axis, -1)
    labels, valid = _sparse_labels(y_true, y_pred.shape, ignore_class)
    if not from_logits:
        low, high = _clip_bounds(y_pred.dtype)
        y_pred = np.log(np.clip(y_pred, low, high))
    picked = np.take_along_axis(_log_softmax(y_pred), labels[..., None], axis=-1)[..., 0]
    loss = -picked
    return loss if valid is None else np.where(valid, loss, 0.0).astype(loss.dtype)


@_gradient_of(sparse_categorical_crossentropy)
def _sparse_categorical_crossentropy_grad(
    y_true, y_pred, g, from_logits=False, axis=-1, ignore_class=None
):
    z = np.moveaxis(y_pred, axis, -1)
    labels, valid = _sparse_labels(y_true, z.shape, ignore_class)
    onehot = np.zeros_like(z)
    np.put_along_axis(onehot, labels[..., None], 1.0, axis=-1)
    if from_logits:
        d = np.exp(_log_softmax(z)) - onehot
    else:
        low, high = _clip_bounds(z.dtype)
        probs = np.clip(z, low, high)
        total = np.sum(probs, axis=-1, keepdims=True)
        d = np.where(_inside(z, low, high), 1.0 / total - onehot / probs, 0.0)
    g = np.moveaxis(g, axis, -1)
    if valid is not None:
        g = np.where(valid[..., None], g, 0.0)
    return np.moveaxis(g * d, -1, axis).astype(y_pred.dtype)


def _smooth_binary(y_true: np.ndarray, label_smoothing: float) -> np.ndarray:
    if not label_smoothing:
        return y_true
    return y_true * (1.0 - label_smoothing) + 0.5 * label_smoothing


def binary_crossentropy(
    y_true: Any,
    y_pred: Any,
    from_logits: bool = False,
    label_smoothing: float = 0.0,
    axis: int = -1,
) -> np.ndarray:
    """Element-wise binary crossentropy averaged over ``axis``.

    From probabilities: ``p = clip(y_pred, eps, 1 - eps)`` and
    ``-(y log(p + eps) + (1 - y) log(1 - p + eps))``, as the tf-keras backend computes it.
    """
    _check_axis(axis)
    y_true, y_pred = _cast(y_true, y_pred)
    y_true = _smooth_binary(y_true, label_smoothing)
    if from_logits:
        z = y_pred
        elementwise = np.maximum(z, 0.0) - z * y_true + np.log1p(np.exp(-np.abs(z)))
    else:
        eps = backend.epsilon()
        low, high = _clip_bounds(y_pred.dtype)
        p = np.clip(y_pred, low, high)
        elementwise = -(y_true * np.log(p + eps) + (1.0 - y_true) * np.log(1.0 - p + eps))
    return np.mean(elementwise, axis=axis)


@_gradient_of(binary_crossentropy)
def _binary_crossentropy_grad(y_true, y_pred, g, from_logits=False, label_smoothing=0.0, axis=-1):
    y_true = _smooth_binary(y_true, label_smoothing)
    if from_logits:
        d = _sigmoid(y_pred) - y_true
    else:
        eps = backend.epsilon()
        low, high = _clip_bounds(y_pred.dtype)
        p = np.clip(y_pred, low, high)
        d = -(y_true / (p + eps) - (1.0 - y_true) / (1.0 - p + eps))
        d = np.where(_inside(y_pred, low, high), d, 0.0)
    return _mean_grad(g, d, y_pred, axis)


def kl_divergence(y_true: Any, y_pred: Any) -> np.ndarray:
    """``sum(t * log(t / p))`` with both clipped to ``[epsilon, 1]``, over the last axis."""
    y_true, y_pred = _cast(y_true, y_pred)
    low = y_pred.dtype.type(backend.epsilon())
    y_true = np.clip(y_true, low, 1.0)
    y_pred = np.clip(y_pred, low, 1.0)
    return np.sum(y_true * np.log(y_true / y_pred), axis=-1)


@_gradient_of(kl_divergence)
def _kl_divergence_grad(y_true, y_pred, g):
    low = y_pred.dtype.type(backend.epsilon())
    t = np.clip(y_true, low, 1.0)
    d = np.where(_inside(y_pred, low, 1.0), -t / np.clip(y_pred, low, 1.0), 0.0)
    return np.broadcast_to(g * d, y_pred.shape).astype(y_pred.dtype)


def poisson(y_true: Any, y_pred: Any) -> np.ndarray:
    """``mean(y_pred - y_true * log(y_pred + epsilon), axis=-1)``."""
    y_true, y_pred = _cast(y_true, y_pred)
    return np.mean(y_pred - y_true * np.log(y_pred + backend.epsilon()), axis=-1)


@_gradient_of(poisson)
def _poisson_grad(y_true, y_pred, g):
    return _mean_grad(g, 1.0 - y_true / (y_pred + backend.epsilon()), y_pred)


_L2_EPSILON = 1e-12


def _l2_normalize(x: np.ndarray, axis: int) -> np.ndarray:
    square_sum = np.sum(np.square(x), axis=axis, keepdims=True)
    return x / np.sqrt(np.maximum(square_sum, _L2_EPSILON))


def cosine_similarity(y_true: Any, y_pred: Any, axis: int = -1) -> np.ndarray:
    """Negative cosine similarity along ``axis`` (-1 for aligned vectors, as a loss)."""
    y_true, y_pred = _cast(y_true, y_pred)
    return -np.sum(_l2_normalize(y_true, axis) * _l2_normalize(y_pred, axis), axis=axis)


@_gradient_of(cosine_similarity)
def _cosine_similarity_grad(y_true, y_pred, g, axis=-1):
    t = np.broadcast_to(_l2_normalize(y_true, axis), y_pred.shape)
    square_sum = np.sum(np.square(y_pred), axis=axis, keepdims=True)
    inv_norm = 1.0 / np.sqrt(np.maximum(square_sum, _L2_EPSILON))
    dot = np.sum(t * y_pred, axis=axis, keepdims=True)
    # Below the epsilon the norm is a constant, so only the first term remains.
    d = -t * inv_norm + np.where(square_sum >= _L2_EPSILON, dot * y_pred * inv_norm**3, 0.0)
    return (g * d).astype(y_pred.dtype)


# Aliases, as tf-keras resolves them in ``losses.get``.
bce = BCE = binary_crossentropy
mse = MSE = mean_squared_error
mae = MAE = mean_absolute_error
mape = MAPE = mean_absolute_percentage_error
msle = MSLE = mean_squared_logarithmic_error
kld = KLD = kullback_leibler_divergence = kl_divergence
logcosh = log_cosh
huber_loss = huber


def valid_mask(fn: Callable, y_true: Any, y_pred: Any, **fn_kwargs: Any) -> np.ndarray | None:
    """The entries ``fn`` leaves out, as tf-keras's ``_keras_mask`` on its output, or None.

    Only sparse categorical crossentropy with an ``ignore_class`` masks anything. Reductions
    then average over the valid entries only.
    """
    if fn is not sparse_categorical_crossentropy or fn_kwargs.get("ignore_class") is None:
        return None
    shape = list(np.shape(y_pred))
    shape.append(shape.pop(fn_kwargs.get("axis", -1)))
    return _sparse_labels(y_true, tuple(shape), fn_kwargs["ignore_class"])[1]


# --------------------------------------------------------------------------- reductions


def _adjust_weights(losses: np.ndarray, sample_weight: np.ndarray) -> np.ndarray:
    """tf-keras's rank fix: squeeze or expand the last dim of the weights by one rank."""
    if sample_weight.ndim == 0:
        return sample_weight
    if sample_weight.ndim - losses.ndim == 1:
        if sample_weight.shape[-1] != 1:
            raise ValueError(
                f"sample_weight of shape {sample_weight.shape} does not fit per-sample losses "
                f"of shape {losses.shape}."
            )
        return sample_weight[..., 0]
    if losses.ndim - sample_weight.ndim == 1:
        return sample_weight[..., None]
    return sample_weight


def _sum_to_shape(x: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Sums a broadcast array back to ``shape`` (the transpose of broadcasting)."""
    if x.shape == shape:
        return x
    x = x.sum(axis=tuple(range(x.ndim - len(shape))))
    keep = tuple(i for i, n in enumerate(shape) if n == 1 and x.shape[i] != 1)
    return x.sum(axis=keep, keepdims=True) if keep else x


def _weights(
    losses: np.ndarray, sample_weight: Any, mask: np.ndarray | None, reduction: str
) -> np.ndarray:
    """The effective weights: sample_weight (rank-adjusted) times the valid mask, if any."""
    weights = np.asarray(1.0 if sample_weight is None else sample_weight, dtype=losses.dtype)
    weights = _adjust_weights(losses, weights)
    if mask is not None:
        mask = mask.astype(losses.dtype)
        if reduction == Reduction.SUM_OVER_BATCH_SIZE:
            valid = mask.sum()
            mask = mask * (mask.size / valid) if valid else mask
        weights = weights * mask
    try:
        np.broadcast_shapes(losses.shape, weights.shape)
    except ValueError:
        raise ValueError(
            f"sample_weight of shape {np.shape(sample_weight)} cannot be broadcast to the "
            f"per-sample losses of shape {losses.shape}."
        ) from None
    return weights


def _reduce(weighted: np.ndarray, reduction: str) -> float | np.ndarray:
    if reduction == Reduction.NONE:
        return weighted
    total = weighted.sum()
    if reduction == Reduction.SUM_OVER_BATCH_SIZE:
        return float(total / weighted.size) if weighted.size else 0.0
    return float(total)


def compute_weighted_loss(
    losses: Any, sample_weight: Any = None, reduction: str = Reduction.SUM_OVER_BATCH_SIZE
) -> float | np.ndarray:
    """Weights per-sample losses and reduces them as tf-keras does.

    ``sum_over_batch_size`` is ``sum(losses * sample_weight) / number_of_elements`` (not
    divided by the sum of the weights). Weights of rank ``losses.ndim - 1`` gain a trailing
    axis, so ``(batch,)`` weights scale every timestep of ``(batch, timesteps)`` losses.
    """
    Reduction.validate(reduction)
    if reduction == Reduction.AUTO:
        reduction = Reduction.SUM_OVER_BATCH_SIZE
    losses = _as_float(losses)
    return _reduce(losses * _weights(losses, sample_weight, None, reduction), reduction)


# --------------------------------------------------------------------------- Loss classes


class Loss:
    """Base class of losses: ``call`` gives per-sample values, ``__call__`` reduces them.

    Subclasses implement ``call(y_true, y_pred)``; to be trainable by the engine they also
    implement ``gradient(y_true, y_pred, upstream)``.

    Args:
        reduction: ``"auto"`` (= ``"sum_over_batch_size"``), ``"sum"`` or ``"none"``.
        name: Name of the loss.
    """

    def __init__(self, reduction: str = Reduction.AUTO, name: str | None = None) -> None:
        Reduction.validate(reduction)
        self.reduction = reduction
        self.name = name

    def __call__(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> Any:
        """The weighted, reduced loss: a float, or per-sample values for ``"none"``."""
        losses = self.call(y_true, y_pred)
        reduction = self._reduction()
        weights = _weights(losses, sample_weight, self.mask(y_true, y_pred), reduction)
        return _reduce(losses * weights, reduction)

    def value_and_gradient(
        self, y_true: Any, y_pred: Any, sample_weight: Any = None
    ) -> tuple[Any, np.ndarray]:
        """``__call__``'s value and its gradient with respect to ``y_pred``.

        For ``reduction="none"`` the gradient is that of the sum of the values (what a
        gradient tape gives for a non-scalar target).
        """
        losses = self.call(y_true, y_pred)
        reduction = self._reduction()
        weights = _weights(losses, sample_weight, self.mask(y_true, y_pred), reduction)
        weighted = losses * weights
        upstream = _sum_to_shape(np.broadcast_to(weights, weighted.shape), losses.shape)
        if reduction == Reduction.SUM_OVER_BATCH_SIZE and weighted.size:
            upstream = upstream / weighted.size
        return _reduce(weighted, reduction), self.gradient(y_true, y_pred, upstream)

    def call(self, y_true: Any, y_pred: Any) -> np.ndarray:
        """Per-sample loss values, of shape ``y_pred.shape[:-1]``."""
        raise NotImplementedError(f"{type(self).__name__} must implement call().")

    def gradient(self, y_true: Any, y_pred: Any, upstream: Any) -> np.ndarray:
        """``d(sum(upstream * call(y_true, y_pred))) / d(y_pred)``, shaped like ``y_pred``."""
        raise NotImplementedError(
            f"{type(self).__name__} has no gradient(): custom losses are not supported by "
            "the engine."
        )

    def mask(self, y_true: Any, y_pred: Any) -> np.ndarray | None:
        """Entries of ``call``'s output to leave out of the reduction, or None."""
        return None

    def _reduction(self) -> str:
        return Reduction.SUM_OVER_BATCH_SIZE if self.reduction == Reduction.AUTO else self.reduction

    def get_config(self) -> dict[str, Any]:
        return {"reduction": self.reduction, "name": self.name}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Loss:
        return cls(**config)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name!r} reduction={self.reduction!r}>"


def _align(y_true: Any, y_pred: Any, sparse: bool) -> tuple[np.ndarray, np.ndarray]:
    """Shapes as tf-keras's compile path gives them to a loss function.

    A label of rank ``y_pred.ndim - 1`` gains a trailing axis when ``y_pred`` is 2D or ends in
    1; a label with an extra trailing axis of 1 loses it. Sparse labels are left as they are.
    """
    y_pred = _as_float(y_pred)
    if sparse:
        return np.asarray(y_true), y_pred
    y_true = np.asarray(y_true, dtype=y_pred.dtype)
    if y_true.shape == y_pred.shape:
        return y_true, y_pred
    if y_true.ndim == y_pred.ndim - 1 and (y_pred.ndim == 2 or y_pred.shape[-1] == 1):
        y_true = y_true[..., None]
    elif y_true.ndim == y_pred.ndim + 1 and y_true.shape[-1] == 1:
        y_true = y_true[..., 0]
    try:
        fits = np.broadcast_shapes(y_true.shape, y_pred.shape) == y_pred.shape
    except ValueError:
        fits = False
    if not fits:
        raise ValueError(
            f"y_true of shape {np.shape(y_true)} does not fit y_pred of shape {y_pred.shape}."
        )
    return y_true, y_pred


class LossFunctionWrapper(Loss):
    """A loss function ``fn(y_true, y_pred, **kwargs)`` as a ``Loss``.

    Args:
        fn: The loss function.
        reduction: See ``Loss``.
        name: Name of the loss.
        **kwargs: Passed to ``fn`` on every call.
    """

    def __init__(
        self,
        fn: Callable[..., Any],
        reduction: str = Reduction.AUTO,
        name: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(reduction=reduction, name=name)
        self.fn = fn
        self._fn_kwargs = kwargs

    @property
    def fn_kwargs(self) -> dict[str, Any]:
        return dict(self._fn_kwargs)

    def call(self, y_true: Any, y_pred: Any) -> np.ndarray:
        y_true, y_pred = _align(y_true, y_pred, self.fn is sparse_categorical_crossentropy)
        return self.fn(y_true, y_pred, **self._fn_kwargs)

    def gradient(self, y_true: Any, y_pred: Any, upstream: Any) -> np.ndarray:
        grad_fn = _GRADIENTS.get(self.fn)
        if grad_fn is None:
            raise ValueError(_unsupported_message(self.fn))
        y_true, y_pred = _align(y_true, y_pred, self.fn is sparse_categorical_crossentropy)
        g = _upstream(upstream, y_pred, self._fn_kwargs.get("axis", -1))
        return grad_fn(y_true, y_pred, g, **self._fn_kwargs)

    def mask(self, y_true: Any, y_pred: Any) -> np.ndarray | None:
        return valid_mask(self.fn, y_true, y_pred, **self._fn_kwargs)

    def get_config(self) -> dict[str, Any]:
        config = {**super().get_config(), **self._fn_kwargs}
        config["fn"] = getattr(self.fn, "__name__", None)
        return config

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> LossFunctionWrapper:
        config = dict(config)
        fn_name = config.pop("fn", None)
        if cls is LossFunctionWrapper:
            config["fn"] = get(fn_name)
        return cls(**config)


class MeanSquaredError(LossFunctionWrapper):
    """``mean(square(y_true - y_pred))`` per sample."""

    def __init__(self, reduction: str = Reduction.AUTO, name: str = "mean_squared_error") -> None:
        super().__init__(mean_squared_error, reduction=reduction, name=name)


class MeanAbsoluteError(LossFunctionWrapper):
    """``mean(abs(y_true - y_pred))`` per sample."""

    def __init__(self, reduction: str = Reduction.AUTO, name: str = "mean_absolute_error") -> None:
        super().__init__(mean_absolute_error, reduction=reduction, name=name)


class MeanAbsolutePercentageError(LossFunctionWrapper):
    """``100 * mean(abs((y_true - y_pred) / y_true))`` per sample."""

    def __init__(
        self, reduction: str = Reduction.AUTO, name: str = "mean_absolute_percentage_error"
    ) -> None:
        super().__init__(mean_absolute_percentage_error, reduction=reduction, name=name)


class MeanSquaredLogarithmicError(LossFunctionWrapper):
    """``mean(square(log(y_true + 1) - log(y_pred + 1)))`` per sample."""

    def __init__(
        self, reduction: str = Reduction.AUTO, name: str = "mean_squared_logarithmic_error"
    ) -> None:
        super().__init__(mean_squared_logarithmic_error, reduction=reduction, name=name)


class Hinge(LossFunctionWrapper):
    """``mean(max(1 - y_true * y_pred, 0))`` per sample."""

    def __init__(self, reduction: str = Reduction.AUTO, name: str = "hinge") -> None:
        super().__init__(hinge, reduction=reduction, name=name)


class SquaredHinge(LossFunctionWrapper):
    """``mean(square(max(1 - y_true * y_pred, 0)))`` per sample."""

    def __init__(self, reduction: str = Reduction.AUTO, name: str = "squared_hinge") -> None:
        super().__init__(squared_hinge, reduction=reduction, name=name)


class CategoricalHinge(LossFunctionWrapper):
    """``max(neg - pos + 1, 0)`` per sample."""

    def __init__(self, reduction: str = Reduction.AUTO, name: str = "categorical_hinge") -> None:
        super().__init__(categorical_hinge, reduction=reduction, name=name)


class LogCosh(LossFunctionWrapper):
    """``mean(log(cosh(y_pred - y_true)))`` per sample."""

    def __init__(self, reduction: str = Reduction.AUTO, name: str = "log_cosh") -> None:
        super().__init__(log_cosh, reduction=reduction, name=name)


class Huber(LossFunctionWrapper):
    """Huber loss with threshold ``delta``."""

    def __init__(
        self, delta: float = 1.0, reduction: str = Reduction.AUTO, name: str = "huber_loss"
    ) -> None:
        super().__init__(huber, reduction=reduction, name=name, delta=delta)


class CategoricalCrossentropy(LossFunctionWrapper):
    """Crossentropy for one-hot labels; see ``categorical_crossentropy``."""

    def __init__(
        self,
        from_logits: bool = False,
        label_smoothing: float = 0.0,
        axis: int = -1,
        reduction: str = Reduction.AUTO,
        name: str = "categorical_crossentropy",
    ) -> None:
        super().__init__(
            categorical_crossentropy,
            reduction=reduction,
            name=name,
            from_logits=from_logits,
            label_smoothing=label_smoothing,
            axis=axis,
        )


class SparseCategoricalCrossentropy(LossFunctionWrapper):
    """Crossentropy for integer labels; see ``sparse_categorical_crossentropy``."""

    def __init__(
        self,
        from_logits: bool = False,
        ignore_class: int | None = None,
        reduction: str = Reduction.AUTO,
        name: str = "sparse_categorical_crossentropy",
    ) -> None:
        super().__init__(
            sparse_categorical_crossentropy,
            reduction=reduction,
            name=name,
            from_logits=from_logits,
            ignore_class=ignore_class,
        )


class BinaryCrossentropy(LossFunctionWrapper):
    """Binary crossentropy; see ``binary_crossentropy``."""

    def __init__(
        self,
        from_logits: bool = False,
        label_smoothing: float = 0.0,
        axis: int = -1,
        reduction: str = Reduction.AUTO,
        name: str = "binary_crossentropy",
    ) -> None:
        super().__init__(
            binary_crossentropy,
            reduction=reduction,
            name=name,
            from_logits=from_logits,
            label_smoothing=label_smoothing,
            axis=axis,
        )


class KLDivergence(LossFunctionWrapper):
    """Kullback-Leibler divergence ``sum(y_true * log(y_true / y_pred))`` per sample."""

    def __init__(self, reduction: str = Reduction.AUTO, name: str = "kl_divergence") -> None:
        super().__init__(kl_divergence, reduction=reduction, name=name)


class Poisson(LossFunctionWrapper):
    """``mean(y_pred - y_true * log(y_pred))`` per sample."""

    def __init__(self, reduction: str = Reduction.AUTO, name: str = "poisson") -> None:
        super().__init__(poisson, reduction=reduction, name=name)


class CosineSimilarity(LossFunctionWrapper):
    """Negative cosine similarity along ``axis``."""

    def __init__(
        self, axis: int = -1, reduction: str = Reduction.AUTO, name: str = "cosine_similarity"
    ) -> None:
        super().__init__(cosine_similarity, reduction=reduction, name=name, axis=axis)


# --------------------------------------------------------------------------- resolution

_CROSSENTROPIES = (categorical_crossentropy, sparse_categorical_crossentropy, binary_crossentropy)

_MODULE_OBJECTS: dict[str, Any] = {
    **{fn.__name__: fn for fn in _GRADIENTS},
    "bce": bce, "BCE": BCE, "mse": mse, "MSE": MSE, "mae": mae, "MAE": MAE,
    "mape": mape, "MAPE": MAPE, "msle": msle, "MSLE": MSLE, "kld": kld, "KLD": KLD,
    "kullback_leibler_divergence": kullback_leibler_divergence,
    "logcosh": logcosh, "huber_loss": huber_loss,
    **{cls.__name__: cls for cls in (
        Loss, LossFunctionWrapper, MeanSquaredError, MeanAbsoluteError,
        MeanAbsolutePercentageError, MeanSquaredLogarithmicError, Hinge, SquaredHinge,
        CategoricalHinge, LogCosh, Huber, CategoricalCrossentropy,
        SparseCategoricalCrossentropy, BinaryCrossentropy, KLDivergence, Poisson,
        CosineSimilarity,
    )},
}  # fmt: skip

BUILTIN_LOSS_NAMES: tuple[str, ...] = tuple(
    sorted(name for name, obj in _MODULE_OBJECTS.items() if obj not in (Loss, LossFunctionWrapper))
)


def _unsupported_message(obj: Any) -> str:
    name = getattr(obj, "__name__", None) or getattr(obj, "name", None) or repr(obj)
    return (
        f"Loss {name!r} is not supported: custom losses are not supported by the engine, "
        "which needs the analytic gradient of a built-in loss. Use one of: "
        + ", ".join(BUILTIN_LOSS_NAMES)
        + "."
    )


def serialize(loss: Any) -> Any:
    """A function to its name, a ``Loss`` to ``{"class_name": ..., "config": ...}``."""
    return serialize_keras_object(loss)


def deserialize(name: Any, custom_objects: dict[str, Any] | None = None) -> Any:
    """A name to its function (or a new instance, for a class name), a dict to a ``Loss``.

    Accepts Keras 2 dicts and tf.keras's newer ones (extra ``module``/``registered_name`` keys;
    functions as ``{"class_name": "function", "config": "<name>"}``).

    Raises:
        ValueError: for an unknown name.
    """
    if isinstance(name, dict) and name.get("class_name") == "function":
        name = name.get("config") or name.get("registered_name")
    obj = deserialize_keras_object(
        name,
        module_objects=_MODULE_OBJECTS,
        custom_objects=custom_objects,
        printable_module_name="loss function",
    )
    return obj() if isinstance(obj, type) else obj


def get(identifier: Any) -> Any:
    """Resolves a loss identifier as ``keras.losses.get`` does.

    Strings give the function (``"mse"`` -> ``mean_squared_error``) or, for a class name, a
    new instance; dicts give a ``Loss``; callables pass through; None gives None.

    Raises:
        ValueError: for an unknown name or an identifier of another type.
    """
    if identifier is None:
        return None
    if isinstance(identifier, (str, dict)):
        return deserialize(identifier)
    if callable(identifier):
        return identifier
    raise ValueError(f"Could not interpret loss function identifier: {identifier!r}")


def to_loss_object(identifier: Any) -> Loss | None:
    """A ``Loss`` the engine can train with (``call`` and ``gradient``), or None for None.

    Functions are wrapped as tf-keras's compile does: ``"mse"`` becomes
    ``LossFunctionWrapper(mean_squared_error, name="mean_squared_error")``.

    Raises:
        ValueError: for an unknown name, or a custom function or ``Loss`` whose gradient
            the engine does not know.
    """
    loss = get(identifier)
    if loss is None:
        return None
    if isinstance(loss, LossFunctionWrapper):
        if loss.fn not in _GRADIENTS:
            raise ValueError(_unsupported_message(loss.fn))
        return loss
    if isinstance(loss, Loss):
        if type(loss).gradient is Loss.gradient:
            raise ValueError(_unsupported_message(loss))
        return loss
    if loss in _GRADIENTS:
        return LossFunctionWrapper(loss, name=loss.__name__)
    raise ValueError(_unsupported_message(loss))


def logits_counterpart(loss: Loss, activation: str) -> Loss | None:
    """The loss tf-keras really evaluates when ``y_pred`` comes out of ``activation``.

    tf-keras remembers the pre-activation of a ``softmax`` or ``sigmoid`` output and its
    crossentropies (categorical, sparse categorical, binary) then work on those logits, with
    no clipping. This returns a copy of ``loss`` with ``from_logits=True`` to be applied to
    the pre-activation values (its gradient is then with respect to them), or None when tf-keras
    keeps the probabilities.

    Args:
        loss: A ``Loss``, e.g. from ``to_loss_object``.
        activation: Name of the output layer's activation.
    """
    if activation not in ("softmax", "sigmoid") or not isinstance(loss, LossFunctionWrapper):
        return None
    if loss.fn not in _CROSSENTROPIES:
        return None
    counterpart = copy.copy(loss)
    counterpart._fn_kwargs = {**loss._fn_kwargs, "from_logits": True}
    return counterpart
