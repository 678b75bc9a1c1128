"""NumPy helpers of ``keras.utils``: one-hot labels and norm scaling."""

from __future__ import annotations

from typing import Any

import numpy as np


def to_categorical(y: Any, num_classes: int | None = None, dtype: str = "float32") -> np.ndarray:
    """Converts a class vector (integers) to a one-hot class matrix.

    Args:
        y: Array-like of class indices in ``[0, num_classes)``. A trailing axis of size 1
            (labels shaped ``(n, 1)``) is dropped, as Keras does.
        num_classes: Number of classes; ``None`` (or 0) infers ``max(y) + 1``.
        dtype: Dtype of the result.

    Returns:
        An array of shape ``y.shape + (num_classes,)`` with one 1 per label.

    Raises:
        ValueError: If a label is negative or not below ``num_classes``.
    """
    y = np.array(y, dtype="int")
    shape = y.shape
    if len(shape) > 1 and shape[-1] == 1:
        shape = shape[:-1]
    y = y.reshape(-1)
    if not num_classes:
        if y.size == 0:
            raise ValueError("to_categorical: `num_classes` must be given when `y` is empty.")
        num_classes = int(y.max()) + 1
    if y.size and (y.min() < 0 or y.max() >= num_classes):
        bad = int(y.min()) if y.min() < 0 else int(y.max())
        raise ValueError(
            f"to_categorical: `y` contains the class {bad}, outside [0, {num_classes}) "
            f"for num_classes={num_classes}."
        )
    categorical = np.zeros((y.size, num_classes), dtype=dtype)
    categorical[np.arange(y.size), y] = 1
    return categorical.reshape(shape + (num_classes,))


def normalize(x: Any, axis: int = -1, order: int | float = 2) -> np.ndarray:
    """Scales ``x`` to unit norm along ``axis``; slices whose norm is 0 are left as they are.

    Args:
        x: NumPy array to normalize.
        axis: Axis along which the norm is taken.
        order: Norm order, as ``np.linalg.norm``'s ``ord`` (2 is the Euclidean norm).

    Returns:
        A normalized copy of ``x``.
    """
    x = np.asarray(x)
    norms = np.linalg.norm(x, ord=order, axis=axis, keepdims=True)
    norms[norms == 0] = 1
    return x / norms
