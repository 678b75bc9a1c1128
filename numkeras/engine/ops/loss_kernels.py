"""The common losses' values and gradient in one compiled pass.

The losses of ``numkeras.losses`` are numpy: a loss's values and its gradient take a dozen or
two array operations, each a few microseconds however small the output. Training computes both
every step, so for the benchmark models they cost as much as a layer: the mlp's ``(128, 10)``
softmax crossentropy 84 us, the tiny model's ``(32, 1)`` mean squared error ~25 us (its whole
step is ~140 us). Here one numba pass over the rows does both, for

- ``categorical_crossentropy`` from logits over the last axis (a ``softmax`` output: tf-keras
  evaluates it on its logits, ``losses.logits_counterpart``), without label smoothing;
- ``mean_squared_error``.

The numbers are those of the numpy path to float32 rounding: the same operations, one row at a
time, except that sums over the last axis are float64 (numpy sums float32 pairwise; over 1000
classes of soft labels the crossentropies differ by ~1e-4 relative, this one the closer to the
exact value). With one value per row (a ``Dense(1)`` regression) the mean squared error is the
same bits.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numba import njit

from numkeras import losses


@njit(cache=True, nogil=True, error_model="numpy")
def _categorical(y_true, logits, values, grad, scale, with_gradient):  # pragma: no cover
    """Per row: ``values[r]``; with ``with_gradient``, ``grad[r]`` the gradient for an upstream
    gradient of ``scale`` (``grad`` holds the log-softmax meanwhile)."""
    dtype = logits.dtype.type
    for r in range(logits.shape[0]):
        top = logits[r, 0]
        for j in range(1, logits.shape[1]):
            top = max(top, logits[r, j])
        total = 0.0  # float64 sums: over many classes a float32 running sum drifts
        for j in range(logits.shape[1]):
            total += np.exp(logits[r, j] - top)
        log_total = dtype(np.log(total))
        loss = 0.0
        mass = 0.0
        for j in range(logits.shape[1]):
            log_p = (logits[r, j] - top) - log_total
            grad[r, j] = log_p
            loss += y_true[r, j] * log_p
            mass += y_true[r, j]
        values[r] = -loss
        if with_gradient:
            mass_ = dtype(mass)
            for j in range(logits.shape[1]):
                grad[r, j] = scale * (mass_ * np.exp(grad[r, j]) - y_true[r, j])


@njit(cache=True, nogil=True, error_model="numpy")
def _squared(y_true, y_pred, values, grad, scale, with_gradient):  # pragma: no cover
    """Per row: ``values[r]`` the mean of the squared differences; with ``with_gradient``,
    ``grad[r]`` the gradient for an upstream gradient of ``scale``, ``scale * 2 (p - t) / k``
    in numpy's order."""
    dtype = y_pred.dtype.type
    k = y_pred.shape[1]
    two = dtype(2.0)
    for r in range(y_pred.shape[0]):
        total = 0.0
        for j in range(k):
            d = y_pred[r, j] - y_true[r, j]
            total += d * d
        values[r] = dtype(total) / dtype(k)
        if with_gradient:
            for j in range(k):
                grad[r, j] = scale * (two * (y_pred[r, j] - y_true[r, j])) / dtype(k)


def _labels(y_true: Any, y_pred: np.ndarray) -> np.ndarray | None:
    """``y_true`` as ``y_pred``'s dtype and shape, where that is only a reshape: the same shape,
    or one value per row for a ``(..., 1)`` output. ``None`` otherwise (broadcasts and other
    shapes are left to the numpy loss, which knows Keras's rules and errors)."""
    y_true = np.asarray(y_true)
    if y_true.dtype.kind not in "fiub":
        return None
    if y_true.shape != y_pred.shape and not (
            y_pred.shape[-1] == 1 and y_true.shape == y_pred.shape[:-1]):
        return None
    return np.ascontiguousarray(y_true, dtype=y_pred.dtype).reshape(-1, y_pred.shape[-1])


def values_and_gradient(loss: Any, y_true: Any, y_pred: np.ndarray, scale: float = 1.0,
                        with_gradient: bool = True) -> tuple[np.ndarray, Any] | None:
    """``(values, gradient)`` of ``loss`` at ``y_pred`` for the upstream gradient ``scale``
    (the same for every value), ``(values, None)`` without ``with_gradient`` (evaluation needs
    the values only); ``None`` when ``loss`` is not one of the module's, or the arrays are not
    float32 predictions (the gradients the training step passes on are float32) of rank 2 or
    more with labels of their shape."""
    if not isinstance(loss, losses.LossFunctionWrapper) or y_pred.ndim < 2 or \
            y_pred.dtype.char != "f" or not y_pred.size:
        return None
    kwargs = loss.fn_kwargs
    if loss.fn is losses.categorical_crossentropy:
        if not kwargs.get("from_logits") or kwargs.get("label_smoothing", 0.0) or \
                kwargs.get("axis", -1) not in (-1, y_pred.ndim - 1) or \
                y_pred.shape[-1] < 2:  # one class: the numpy path warns, as Keras does
            return None
        kernel = _categorical
    elif loss.fn is losses.mean_squared_error and not kwargs:
        kernel = _squared
    else:
        return None
    labels = _labels(y_true, y_pred)
    if labels is None:
        return None
    rows = np.ascontiguousarray(y_pred).reshape(labels.shape)
    values = np.empty(rows.shape[0], dtype=y_pred.dtype)
    grad = np.empty_like(rows)
    kernel(labels, rows, values, grad, np.float32(scale), with_gradient)
    return values.reshape(y_pred.shape[:-1]), \
        grad.reshape(y_pred.shape) if with_gradient else None
