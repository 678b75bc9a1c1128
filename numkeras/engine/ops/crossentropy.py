"""Softmax crossentropy from logits, its values and its gradient in one compiled pass.

A ``softmax`` output trained with ``categorical_crossentropy`` is evaluated on its logits, as
tf-keras does (``losses.logits_counterpart``). The loss's numpy path takes two dozen array
operations over the ``(batch, classes)`` logits for the values and the gradient, each a few
microseconds: 82 us for the mlp benchmark's ``(128, 10)`` output, where this kernel takes
a few. The numbers are those of the numpy path to float32 rounding: the same operations, one
row at a time, except that the sums over the classes are float64 (numpy sums float32 pairwise;
over 1000 classes of soft labels the two differ by ~1e-4 relative, this one the closer to the
exact value).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numba import njit

from numkeras import losses


@njit(cache=True, nogil=True, error_model="numpy")
def _categorical(y_true, logits, values, grad, with_gradient):  # pragma: no cover - compiled
    """Per row: ``values[r]``; ``grad[r]`` holds log-softmax, then (``with_gradient``) the
    gradient for an upstream gradient of one."""
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
                grad[r, j] = mass_ * np.exp(grad[r, j]) - y_true[r, j]


def values_and_gradient(loss: Any, y_true: Any, y_pred: np.ndarray,
                        with_gradient: bool = True) -> tuple[np.ndarray, Any] | None:
    """``(values, gradient)`` of ``loss`` at ``y_pred`` for an upstream gradient of ones
    (``(values, None)`` without ``with_gradient``: evaluation needs the values only), or
    ``None`` when ``loss`` is not one this kernel does: ``categorical_crossentropy`` from
    logits over the last axis, two classes or more, without label smoothing, float32
    predictions (the gradients the training step passes on are float32), labels of their
    shape."""
    if not isinstance(loss, losses.LossFunctionWrapper) or \
            loss.fn is not losses.categorical_crossentropy or y_pred.ndim < 2 or \
            y_pred.shape[-1] < 2:  # one class: the numpy path warns, as Keras does
        return None
    kwargs = loss.fn_kwargs
    if not kwargs.get("from_logits") or kwargs.get("label_smoothing", 0.0) or \
            kwargs.get("axis", -1) not in (-1, y_pred.ndim - 1) or y_pred.dtype.char != "f":
        return None
    y_true = np.asarray(y_true)
    if y_true.shape != y_pred.shape:
        return None
    logits = np.ascontiguousarray(y_pred).reshape(-1, y_pred.shape[-1])
    labels = np.ascontiguousarray(y_true, dtype=y_pred.dtype).reshape(logits.shape)
    values = np.empty(logits.shape[0], dtype=y_pred.dtype)
    grad = np.empty_like(logits)
    _categorical(labels, logits, values, grad, with_gradient)
    return values.reshape(y_pred.shape[:-1]), \
        grad.reshape(y_pred.shape) if with_gradient else None
