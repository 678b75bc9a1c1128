"""Activation layers with arguments: ReLU, LeakyReLU, PReLU, ELU, ThresholdedReLU, Softmax."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from numkeras import constraints, initializers, regularizers
from numkeras.layers._checks import check_number
from numkeras.layers.layer import Layer


def _number(layer: str, name: str, value: Any, low: float = -math.inf) -> float:
    # tf-keras casts these to float32 (so 0.1 is reported as 0.10000000149011612).
    return float(np.float32(check_number(layer, name, value, low)))


class ReLU(Layer):
    """Rectified linear unit: ``min(x, max_value)`` above ``threshold``, else
    ``negative_slope * (x - threshold)``.

    Args:
        max_value: Upper bound of the output (None: unbounded), >= 0.
        negative_slope: Slope below the threshold, >= 0.
        threshold: The threshold, >= 0.
    """

    supports_masking = True

    def __init__(self, max_value: float | None = None, negative_slope: float = 0.0,
                 threshold: float = 0.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.max_value = None if max_value is None else _number("ReLU", "max_value", max_value, 0)
        self.negative_slope = _number("ReLU", "negative_slope", negative_slope, 0)
        self.threshold = _number("ReLU", "threshold", threshold, 0)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "max_value": self.max_value,
                "negative_slope": self.negative_slope, "threshold": self.threshold}


class LeakyReLU(Layer):
    """``x`` if ``x > 0`` else ``alpha * x``.

    Args:
        alpha: Slope for negative inputs (default 0.3, Keras 2's).
    """

    supports_masking = True

    def __init__(self, alpha: float = 0.3, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.alpha = _number("LeakyReLU", "alpha", alpha)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "alpha": self.alpha}


class PReLU(Layer):
    """Parametric ReLU: ``x`` if ``x > 0`` else ``alpha * x`` with a learned ``alpha`` per
    input position (shared along ``shared_axes``).

    Args:
        alpha_initializer: Initializer of ``alpha`` (default zeros).
        alpha_regularizer: Regularizer of ``alpha``.
        alpha_constraint: Constraint of ``alpha``.
        shared_axes: Axes (numbered from 1; 0 is the batch) along which one ``alpha`` is
            shared, e.g. ``[1, 2]`` for one slope per channel of an image.
    """

    supports_masking = True

    def __init__(self, alpha_initializer: Any = "zeros", alpha_regularizer: Any = None,
                 alpha_constraint: Any = None, shared_axes: Any = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.alpha_initializer = initializers.get(alpha_initializer)
        self.alpha_regularizer = regularizers.get(alpha_regularizer)
        self.alpha_constraint = constraints.get(alpha_constraint)
        if shared_axes is None:
            self.shared_axes = None
        else:
            axes = shared_axes if isinstance(shared_axes, (list, tuple)) else [shared_axes]
            if not all(isinstance(a, (int, np.integer)) and not isinstance(a, bool) and a >= 1
                       for a in axes):
                raise ValueError(
                    f"PReLU: `shared_axes` must be integers >= 1 (axis 0 is the batch), got "
                    f"{shared_axes!r}."
                )
            self.shared_axes = [int(a) for a in axes]

    def build(self, input_shape: Any) -> None:
        if isinstance(input_shape, list) or len(input_shape) < 2:
            raise ValueError(
                f"PReLU layer {self.name!r} expects one input of rank >= 2, got input shape "
                f"{input_shape}."
            )
        param_shape = list(input_shape[1:])
        for axis in self.shared_axes or []:
            if axis >= len(input_shape):
                raise ValueError(
                    f"PReLU layer {self.name!r}: `shared_axes` entry {axis} is out of range for "
                    f"input shape {tuple(input_shape)}."
                )
            param_shape[axis - 1] = 1
        if any(d is None for d in param_shape):
            raise ValueError(
                f"PReLU layer {self.name!r}: every axis that is not shared must have a known "
                f"size; got input shape {tuple(input_shape)}, shared_axes={self.shared_axes}."
            )
        self.alpha = self.add_weight("alpha", param_shape, self.alpha_initializer,
                                     self.alpha_regularizer, self.alpha_constraint)
        self.built = True

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "alpha_initializer": initializers.serialize(self.alpha_initializer),
            "alpha_regularizer": regularizers.serialize(self.alpha_regularizer),
            "alpha_constraint": constraints.serialize(self.alpha_constraint),
            "shared_axes": self.shared_axes,
        }


class ELU(Layer):
    """Exponential linear unit: ``x`` if ``x > 0`` else ``alpha * (exp(x) - 1)``.

    Args:
        alpha: Scale of the negative part.
    """

    supports_masking = True

    def __init__(self, alpha: float = 1.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.alpha = _number("ELU", "alpha", alpha)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "alpha": self.alpha}


class ThresholdedReLU(Layer):
    """``x`` if ``x > theta`` else 0.

    Args:
        theta: The threshold, >= 0.
    """

    supports_masking = True

    def __init__(self, theta: float = 1.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.theta = _number("ThresholdedReLU", "theta", theta, 0)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "theta": self.theta}


class Softmax(Layer):
    """Softmax along ``axis`` (an int or a list of axes normalized together).

    Args:
        axis: The axis or axes of the normalization.
    """

    supports_masking = True

    def __init__(self, axis: Any = -1, robust_masking: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if isinstance(axis, (list, tuple)):
            ok = bool(axis) and all(
                isinstance(a, (int, np.integer)) and not isinstance(a, bool) for a in axis)
            axis = [int(a) for a in axis] if ok else axis
        else:
            ok = isinstance(axis, (int, np.integer)) and not isinstance(axis, bool)
            axis = int(axis) if ok else axis
        if not ok:
            raise ValueError(f"Softmax: `axis` must be an int or a list of ints, got {axis!r}.")
        self.axis = axis
        self.robust_masking = bool(robust_masking)

    def build(self, input_shape: Any) -> None:
        axes = self.axis if isinstance(self.axis, list) else [self.axis]
        rank = -1 if isinstance(input_shape, list) else len(input_shape)
        if any(not -rank <= a < rank for a in axes):
            raise ValueError(
                f"Softmax layer {self.name!r}: `axis`={self.axis} is out of range for input "
                f"shape {input_shape}."
            )
        self.built = True

    def get_config(self) -> dict[str, Any]:
        config = {**super().get_config(), "axis": self.axis}
        if self.robust_masking:
            config["robust_masking"] = True
        return config
