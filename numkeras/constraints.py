"""Keras 2 weight constraints in NumPy: projections applied to a weight after each update.

Norms follow tf-keras 2: ``w * desired / (epsilon + norm)`` with the norm taken over ``axis``
(keepdims), so a constraint never divides by zero.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from numkeras import backend
from numkeras.utils.generic_utils import deserialize_keras_object, serialize_keras_object

Axis = int | list[int] | tuple[int, ...]


def _norms(w: np.ndarray, axis: Axis) -> np.ndarray:
    axis = tuple(axis) if isinstance(axis, (list, tuple)) else axis
    return np.sqrt(np.sum(np.square(w), axis=axis, keepdims=True))


def _float(w: Any) -> np.ndarray:
    w = np.asarray(w)
    return w if np.issubdtype(w.dtype, np.floating) else w.astype(backend.floatx())


class Constraint:
    """Base class: ``constraint(w)`` returns the projected weight (a new array)."""

    def __call__(self, w: np.ndarray) -> np.ndarray:
        return w

    def get_config(self) -> dict[str, Any]:
        return {}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Constraint:
        return cls(**(config or {}))


class MaxNorm(Constraint):
    """Rescales the weights whose norm along ``axis`` exceeds ``max_value``.

    Args:
        max_value: Largest allowed norm.
        axis: Axis (or axes) along which norms are computed; for a Dense kernel
            ``(input_dim, units)`` ``axis=0`` constrains each unit's incoming weights.
    """

    def __init__(self, max_value: float = 2, axis: Axis = 0) -> None:
        self.max_value = max_value
        self.axis = axis

    def __call__(self, w: np.ndarray) -> np.ndarray:
        w = _float(w)
        norms = _norms(w, self.axis)
        desired = np.clip(norms, 0, self.max_value)
        return (w * (desired / (backend.epsilon() + norms))).astype(w.dtype)

    def get_config(self) -> dict[str, Any]:
        return {"max_value": self.max_value, "axis": self.axis}


class NonNeg(Constraint):
    """Sets negative weights to zero."""

    def __call__(self, w: np.ndarray) -> np.ndarray:
        w = _float(w)
        return w * (w >= 0).astype(w.dtype)


class UnitNorm(Constraint):
    """Scales the weights to unit norm along ``axis``.

    Args:
        axis: Axis (or axes) along which norms are computed.
    """

    def __init__(self, axis: Axis = 0) -> None:
        self.axis = axis

    def __call__(self, w: np.ndarray) -> np.ndarray:
        w = _float(w)
        return (w / (backend.epsilon() + _norms(w, self.axis))).astype(w.dtype)

    def get_config(self) -> dict[str, Any]:
        return {"axis": self.axis}


class MinMaxNorm(Constraint):
    """Moves norms along ``axis`` into ``[min_value, max_value]``, a fraction ``rate`` of the way.

    Args:
        min_value: Smallest allowed norm.
        max_value: Largest allowed norm.
        rate: 1.0 projects fully; smaller values move the norm part of the way each call.
        axis: Axis (or axes) along which norms are computed.
    """

    def __init__(
        self, min_value: float = 0.0, max_value: float = 1.0, rate: float = 1.0, axis: Axis = 0
    ) -> None:
        self.min_value = min_value
        self.max_value = max_value
        self.rate = rate
        self.axis = axis

    def __call__(self, w: np.ndarray) -> np.ndarray:
        w = _float(w)
        norms = _norms(w, self.axis)
        desired = (
            self.rate * np.clip(norms, self.min_value, self.max_value) + (1 - self.rate) * norms
        )
        return (w * (desired / (backend.epsilon() + norms))).astype(w.dtype)

    def get_config(self) -> dict[str, Any]:
        return {
            "min_value": self.min_value,
            "max_value": self.max_value,
            "rate": self.rate,
            "axis": self.axis,
        }


max_norm = maxnorm = MaxNorm
non_neg = nonneg = NonNeg
unit_norm = unitnorm = UnitNorm
min_max_norm = MinMaxNorm

_OBJECTS: dict[str, type[Constraint]] = {
    "Constraint": Constraint, "MaxNorm": MaxNorm, "NonNeg": NonNeg, "UnitNorm": UnitNorm,
    "MinMaxNorm": MinMaxNorm, "max_norm": MaxNorm, "maxnorm": MaxNorm, "non_neg": NonNeg,
    "nonneg": NonNeg, "unit_norm": UnitNorm, "unitnorm": UnitNorm, "min_max_norm": MinMaxNorm,
}


def serialize(constraint: Any) -> Any:
    """The Keras 2 config of a constraint: ``{"class_name": ..., "config": {...}}``."""
    return serialize_keras_object(constraint)


def deserialize(config: Any, custom_objects: dict[str, Any] | None = None) -> Any:
    """A constraint from a name (``"max_norm"``, ``"NonNeg"``, ...) or a config dict.

    Raises:
        ValueError: naming the identifier if it is not a known constraint.
    """
    obj = deserialize_keras_object(
        config,
        module_objects=_OBJECTS,
        custom_objects=custom_objects,
        printable_module_name="constraint",
    )
    return obj() if isinstance(obj, type) else obj


def get(identifier: Any) -> Any:
    """Resolves a constraint given as None, a name, a config dict or a callable.

    Raises:
        ValueError: naming the identifier if it cannot be interpreted.
    """
    if identifier is None:
        return None
    if isinstance(identifier, (str, dict)):
        return deserialize(identifier)
    if callable(identifier):
        return identifier
    raise ValueError(f"Could not interpret constraint function identifier: {identifier!r}.")
