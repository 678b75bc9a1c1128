"""Argument checks shared by the layers: each raises ValueError naming the argument."""

from __future__ import annotations

import math
import numbers
from typing import Any

import numpy as np


def _is_int(value: Any) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def check_number(layer: str, name: str, value: Any, low: float = -math.inf,
                 high: float = math.inf) -> float:
    """``value`` as a float if it is a finite real number in ``[low, high]``.

    Raises:
        ValueError: naming ``layer``, ``name`` and ``value`` otherwise.
    """
    if isinstance(value, numbers.Real) and not isinstance(value, bool) \
            and math.isfinite(value) and low <= value <= high:
        return float(value)
    bounds = "" if (low, high) == (-math.inf, math.inf) else f" in [{low}, {high}]"
    raise ValueError(f"{layer}: `{name}` must be a number{bounds}, got {value!r}.")


def check_rate(layer: str, rate: Any) -> float:
    """A dropout-style ``rate`` in [0, 1]."""
    return check_number(layer, "rate", rate, 0.0, 1.0)


def check_seed(layer: str, seed: Any) -> int | None:
    """A random ``seed``: None or a non-negative integer."""
    if seed is None or (_is_int(seed) and seed >= 0):
        return None if seed is None else int(seed)
    raise ValueError(f"{layer}: `seed` must be None or a non-negative integer, got {seed!r}.")


def check_noise_shape(layer: str, noise_shape: Any) -> tuple | None:
    """``noise_shape``: None, or a sequence of positive ints and None."""
    if noise_shape is None:
        return None
    if isinstance(noise_shape, (list, tuple)) and all(
        d is None or (_is_int(d) and d >= 1) for d in noise_shape
    ):
        return tuple(None if d is None else int(d) for d in noise_shape)
    raise ValueError(
        f"{layer}: `noise_shape` must be a tuple of positive integers or None, got "
        f"{noise_shape!r}."
    )


def check_axis_argument(layer: str, axis: Any) -> int | list[int]:
    """An ``axis`` argument: an int, or a non-empty list/tuple of ints (returned as a list)."""
    if _is_int(axis):
        return int(axis)
    if isinstance(axis, (list, tuple)) and axis and all(_is_int(a) for a in axis):
        return [int(a) for a in axis]
    raise ValueError(
        f"{layer}: expected an int or a list/tuple of ints for the argument `axis`, but "
        f"received: {axis!r}"
    )


def validate_axis(layer: Any, axis: int | list[int], input_shape: Any) -> list[int]:
    """Resolves ``axis`` against ``input_shape``: a list of non-negative axes of known size.

    Raises:
        ValueError: naming the layer for a list of shapes, an axis out of range, a duplicate
            axis or an axis of undefined size.
    """
    kind = f"{type(layer).__name__} layer {layer.name!r}"
    if isinstance(input_shape, list) or not input_shape:
        raise ValueError(f"{kind} expects one input of known rank, got input shape "
                         f"{input_shape}.")
    rank = len(input_shape)
    axes = [axis] if isinstance(axis, int) else list(axis)
    axes = [a + rank if a < 0 else a for a in axes]
    if any(not 0 <= a < rank for a in axes):
        raise ValueError(
            f"{kind}: invalid value for `axis` argument. Expected 0 <= axis < inputs.rank (with "
            f"inputs.rank={rank}). Received: axis={axis}"
        )
    if len(set(axes)) != len(axes):
        raise ValueError(f"{kind}: duplicate axis: {axis}")
    if any(input_shape[a] is None for a in axes):
        raise ValueError(
            f"{kind}: input has undefined `axis` dimension. Received input with shape "
            f"{tuple(input_shape)} and axis={axis}"
        )
    return axes
