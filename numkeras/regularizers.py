"""Keras 2 weight regularizers in NumPy: the penalty and its gradient.

As in tf-keras, the factors are stored as float32, so ``get_config`` reports e.g. ``l2=0.01`` as
``0.009999999776482582``, the number tf-keras writes into model JSON.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from numkeras.utils.generic_utils import deserialize_keras_object, serialize_keras_object


def _penalty_factor(value: Any, name: str, default: float) -> np.float32:
    value = default if value is None else value
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ValueError(
            f"Invalid regularization factor {name}={value!r}: expected an int or float."
        )
    if math.isinf(value) or math.isnan(value):
        raise ValueError(f"Invalid regularization factor {name}={value!r}: must be finite.")
    return np.float32(value)


class Regularizer:
    """Base class: ``regularizer(x)`` is the penalty added to the loss, ``gradient(x)`` its
    derivative with respect to ``x``."""

    def __call__(self, x: np.ndarray) -> float:
        return 0.0

    def gradient(self, x: np.ndarray) -> np.ndarray:
        """d penalty / d x, an array shaped like ``x``.

        Raises:
            NotImplementedError: for a subclass that defines a penalty but no gradient.
        """
        if type(self).__call__ is not Regularizer.__call__:
            raise NotImplementedError(
                f"{type(self).__name__} defines a penalty but no gradient(x); the engine needs "
                "both to train with it."
            )
        return np.zeros_like(np.asarray(x))

    def get_config(self) -> dict[str, Any]:
        raise NotImplementedError(f"{self} does not implement get_config().")

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Regularizer:
        return cls(**(config or {}))


class L1L2(Regularizer):
    """``l1 * sum(abs(x)) + l2 * sum(square(x))``.

    Args:
        l1: L1 factor.
        l2: L2 factor.
    """

    def __init__(self, l1: float = 0.0, l2: float = 0.0) -> None:
        self.l1 = _penalty_factor(l1, "l1", 0.0)
        self.l2 = _penalty_factor(l2, "l2", 0.0)

    def __call__(self, x: np.ndarray) -> float:
        x = np.asarray(x, dtype=np.float64)
        penalty = 0.0
        if self.l1:
            penalty += float(self.l1) * float(np.abs(x).sum())
        if self.l2:
            penalty += float(self.l2) * float(np.square(x).sum())
        return penalty

    def gradient(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x)
        if not np.issubdtype(x.dtype, np.floating):
            x = x.astype(np.float32)
        grad = np.zeros_like(x)
        if self.l1:
            grad += self.l1 * np.sign(x)
        if self.l2:
            grad += (2 * self.l2) * x
        return grad

    def get_config(self) -> dict[str, Any]:
        return {"l1": float(self.l1), "l2": float(self.l2)}


class L1(L1L2):
    """``l1 * sum(abs(x))``.

    Args:
        l1: L1 factor (``l`` is accepted as in ``keras.regularizers.l1(l=...)``).
    """

    def __init__(self, l1: float = 0.01, **kwargs: Any) -> None:
        l1 = kwargs.pop("l", l1)
        if kwargs:
            raise TypeError(f"Argument(s) not recognized: {kwargs}")
        super().__init__(l1=_penalty_factor(l1, "l1", 0.01))

    def get_config(self) -> dict[str, Any]:
        return {"l1": float(self.l1)}


class L2(L1L2):
    """``l2 * sum(square(x))``.

    Args:
        l2: L2 factor (``l`` is accepted as in ``keras.regularizers.l2(l=...)``).
    """

    def __init__(self, l2: float = 0.01, **kwargs: Any) -> None:
        l2 = kwargs.pop("l", l2)
        if kwargs:
            raise TypeError(f"Argument(s) not recognized: {kwargs}")
        super().__init__(l2=_penalty_factor(l2, "l2", 0.01))

    def get_config(self) -> dict[str, Any]:
        return {"l2": float(self.l2)}


def l1(l: float = 0.01) -> L1:
    """An L1 regularizer with factor ``l``."""
    return L1(l1=l)


def l2(l: float = 0.01) -> L2:
    """An L2 regularizer with factor ``l``."""
    return L2(l2=l)


def l1_l2(l1: float = 0.01, l2: float = 0.01) -> L1L2:
    """An L1L2 regularizer; note the defaults are 0.01, unlike ``L1L2``'s 0.0."""
    return L1L2(l1=l1, l2=l2)


_OBJECTS: dict[str, Any] = {
    "Regularizer": Regularizer, "L1L2": L1L2, "L1": L1, "L2": L2,
    "l1": L1, "l2": L2, "l1_l2": l1_l2,
}


def serialize(regularizer: Any) -> Any:
    """The Keras 2 config of a regularizer: ``{"class_name": ..., "config": {...}}``."""
    return serialize_keras_object(regularizer)


def deserialize(config: Any, custom_objects: dict[str, Any] | None = None) -> Any:
    """A regularizer from a name (``"l1"``, ``"l2"``, ``"l1_l2"``, a class name) or a config dict.

    Raises:
        ValueError: naming the identifier if it is not a known regularizer.
    """
    obj = deserialize_keras_object(
        config,
        module_objects=_OBJECTS,
        custom_objects=custom_objects,
        printable_module_name="regularizer",
    )
    if isinstance(config, str) and (isinstance(obj, type) or obj is l1_l2):
        return obj()
    return obj


def get(identifier: Any) -> Any:
    """Resolves a regularizer given as None, a name, a config dict or a callable.

    Raises:
        ValueError: naming the identifier if it cannot be interpreted.
    """
    if identifier is None:
        return None
    if isinstance(identifier, (str, dict)):
        return deserialize(identifier)
    if callable(identifier):
        return identifier
    raise ValueError(f"Could not interpret regularizer identifier: {identifier!r}.")
