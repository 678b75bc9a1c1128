"""Merge layers: combine a list of inputs into one tensor.

Element-wise layers (Add, Subtract, Multiply, Average, Maximum, Minimum) broadcast as Keras
does: inputs of lower rank get new axes right after the batch axis, then sizes of 1 stretch.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from numkeras.layers.layer import Layer


def _shape_list(layer: Layer, input_shape: Any) -> list[tuple]:
    if not isinstance(input_shape, (list, tuple)) or not input_shape or not all(
        isinstance(s, (list, tuple)) for s in input_shape
    ):
        raise ValueError(
            f"A merge layer ({type(layer).__name__} {layer.name!r}) should be called on a list "
            f"of inputs. Received: input_shape={input_shape}"
        )
    return [tuple(s) for s in input_shape]


class _Merge(Layer):
    """Base of the element-wise merge layers: shape checks, broadcasting and the mask."""

    supports_masking = True

    def _elementwise_shape(self, shape1: tuple, shape2: tuple) -> tuple:
        if len(shape1) < len(shape2):
            shape1, shape2 = shape2, shape1
        if not shape2:
            return shape1
        output = list(shape1[: len(shape1) - len(shape2)])
        for i, j in zip(shape1[len(shape1) - len(shape2):], shape2, strict=True):
            if i is None or j is None:
                output.append(None)
            elif i == 1 or j == 1:
                output.append(j if i == 1 else i)
            elif i != j:
                raise ValueError(
                    f"{type(self).__name__} layer {self.name!r}: inputs have incompatible "
                    f"shapes. Received shapes {shape1} and {shape2}"
                )
            else:
                output.append(i)
        return tuple(output)

    def _check_count(self, shapes: list[tuple]) -> None:
        pass

    def build(self, input_shape: Any) -> None:
        shapes = _shape_list(self, input_shape)
        self._check_count(shapes)
        batch_sizes = {s[0] for s in shapes if s} - {None}
        if len(batch_sizes) > 1:
            raise ValueError(
                f"{type(self).__name__} layer {self.name!r}: cannot merge tensors with "
                f"different batch sizes. Got tensors with shapes {shapes}"
            )
        self.compute_output_shape(shapes)
        self.built = True

    def compute_output_shape(self, input_shape: Any) -> Any:
        shapes = _shape_list(self, input_shape)
        output = functools.reduce(self._elementwise_shape, (s[1:] for s in shapes))
        batch_sizes = {s[0] for s in shapes if s} - {None}
        return (batch_sizes.pop() if len(batch_sizes) == 1 else None, *output)

    def compute_mask(self, inputs: Any, mask: Any = None) -> Any:
        if mask is None:
            return None
        if not isinstance(mask, (list, tuple)) or len(mask) != len(inputs):
            raise ValueError(
                f"{type(self).__name__} layer {self.name!r}: `mask` should be a list with one "
                f"entry per input. Received: mask={mask!r}"
            )
        masks = [np.asarray(m, dtype=bool) for m in mask if m is not None]
        return functools.reduce(np.logical_and, masks) if masks else None


class Add(_Merge):
    """Adds a list of inputs element-wise."""


class Subtract(_Merge):
    """Subtracts the second input from the first, element-wise."""

    def _check_count(self, shapes: list[tuple]) -> None:
        if len(shapes) != 2:
            raise ValueError(
                f"A `Subtract` layer ({self.name!r}) should be called on exactly 2 inputs. "
                f"Received: input_shape={shapes}"
            )


class Multiply(_Merge):
    """Multiplies a list of inputs element-wise."""


class Average(_Merge):
    """Averages a list of inputs element-wise."""


class Maximum(_Merge):
    """Element-wise maximum of a list of inputs."""


class Minimum(_Merge):
    """Element-wise minimum of a list of inputs."""


class Concatenate(_Merge):
    """Concatenates a list of inputs along ``axis``.

    Args:
        axis: The concatenation axis; the other axes must match.
    """

    def __init__(self, axis: int = -1, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
            raise ValueError(f"Concatenate: `axis` must be an integer, got {axis!r}.")
        self.axis = int(axis)

    def _axis_for(self, shapes: list[tuple]) -> int:
        rank = len(shapes[0])
        if not -rank <= self.axis < rank:
            raise ValueError(
                f"Concatenate layer {self.name!r}: `axis`={self.axis} is out of range for "
                f"inputs of rank {rank}. Received: input_shape={shapes}"
            )
        return self.axis % rank

    def build(self, input_shape: Any) -> None:
        shapes = _shape_list(self, input_shape)
        axis = self._axis_for(shapes)
        message = (
            f"A `Concatenate` layer ({self.name!r}) requires inputs with matching shapes except "
            f"for the concatenation axis. Received: input_shape={shapes}"
        )
        if len({len(s) for s in shapes}) != 1:
            raise ValueError(message)
        for i in range(len(shapes[0])):
            if i != axis and len({s[i] for s in shapes} - {None}) > 1:
                raise ValueError(message)
        self.built = True

    def compute_output_shape(self, input_shape: Any) -> Any:
        shapes = _shape_list(self, input_shape)
        axis = self._axis_for(shapes)
        output = list(shapes[0])
        sizes = [s[axis] for s in shapes]
        output[axis] = None if None in sizes else sum(sizes)
        return tuple(output)

    def compute_mask(self, inputs: Any, mask: Any = None) -> Any:
        if mask is None:
            return None
        if not isinstance(mask, (list, tuple)) or len(mask) != len(inputs):
            raise ValueError(
                f"Concatenate layer {self.name!r}: `mask` should be a list with one entry per "
                f"input. Received: mask={mask!r}"
            )
        if all(m is None for m in mask):
            return None
        # Each mask is spread over its input's shape (Keras expands it by one axis, which only
        # lines up when concatenating along the last axis), then reduced over the last axis.
        masks = []
        for x, m in zip(inputs, mask, strict=True):
            m = np.ones((), bool) if m is None else np.asarray(m, dtype=bool)
            if m.ndim < np.ndim(x):
                m = m[..., np.newaxis]
            masks.append(np.broadcast_to(m, np.shape(x)))
        return np.all(np.concatenate(masks, axis=self.axis), axis=-1)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "axis": self.axis}


class Dot(_Merge):
    """Dot product of the samples of two inputs along the given axes (``batch_dot``).

    Two inputs of shape ``(batch, n)`` give ``(batch, 1)``; in general the output holds the
    remaining axes of the first input, then those of the second.

    Args:
        axes: An axis for both inputs, or a pair ``(axis_1, axis_2)``; never the batch axis 0.
        normalize: L2-normalize both inputs along the product axis first, so that the output
            is the cosine similarity.
    """

    def __init__(self, axes: Any, normalize: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if isinstance(axes, (list, tuple)):
            if len(axes) != 2 or not all(
                isinstance(a, (int, np.integer)) and not isinstance(a, bool) for a in axes
            ):
                raise ValueError(
                    "Invalid format for argument `axes`: it should contain two integers. "
                    f"Received: axes={axes!r}"
                )
            axes = [int(a) for a in axes]
        elif isinstance(axes, bool) or not isinstance(axes, (int, np.integer)):
            raise ValueError(
                f"Invalid type for argument `axes`: it should be a list or an int. "
                f"Received: axes={axes!r}"
            )
        else:
            axes = int(axes)
        self.axes = axes
        self.normalize = bool(normalize)

    def resolved_axes(self, ranks: tuple[int, int]) -> tuple[int, int]:
        """The two product axes as non-negative numbers for inputs of the given ranks."""
        pair = self.axes if isinstance(self.axes, list) else [self.axes, self.axes]
        return pair[0] % ranks[0], pair[1] % ranks[1]

    def _check(self, input_shape: Any) -> tuple[tuple, tuple, tuple[int, int]]:
        shapes = _shape_list(self, input_shape)
        if len(shapes) != 2:
            raise ValueError(
                f"A `Dot` layer ({self.name!r}) should be called on a list of 2 inputs. "
                f"Received: input_shape={shapes}"
            )
        shape1, shape2 = shapes
        if len(shape1) < 2 or len(shape2) < 2:
            raise ValueError(
                f"Dot layer {self.name!r}: inputs must have a batch axis and at least one "
                f"more axis. Received: input_shape={shapes}"
            )
        a1, a2 = self.resolved_axes((len(shape1), len(shape2)))
        if a1 == 0 or a2 == 0:
            raise ValueError(
                f"Dot layer {self.name!r}: cannot take the dot product over the batch axis 0. "
                f"Received: axes={self.axes}"
            )
        if shape1[a1] is not None and shape2[a2] is not None and shape1[a1] != shape2[a2]:
            raise ValueError(
                f"Dot layer {self.name!r}: incompatible input shapes: axis values "
                f"{shape1[a1]} (at axis {a1}) != {shape2[a2]} (at axis {a2}). "
                f"Full input shapes: {shape1}, {shape2}"
            )
        return shape1, shape2, (a1, a2)

    def build(self, input_shape: Any) -> None:
        self._check(input_shape)
        self.built = True

    def compute_output_shape(self, input_shape: Any) -> Any:
        shape1, shape2, (a1, a2) = self._check(input_shape)
        rest1 = [d for i, d in enumerate(shape1) if i != a1]
        rest2 = [d for i, d in enumerate(shape2) if i not in (0, a2)]
        output = rest1 + rest2
        return tuple(output + [1] if len(output) == 1 else output)

    def compute_mask(self, inputs: Any, mask: Any = None) -> Any:
        return None

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "axes": self.axes, "normalize": self.normalize}
