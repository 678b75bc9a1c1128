"""Reshape: gives each sample a new shape with the same number of elements."""

from __future__ import annotations

import math
from typing import Any

from numkeras.layers.layer import Layer


class Reshape(Layer):
    """Reshapes every sample to ``target_shape`` (the batch axis is kept).

    Args:
        target_shape: The new shape of a sample; at most one entry may be -1, inferred from
            the number of elements.
    """

    def __init__(self, target_shape: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        try:
            dims = tuple(int(d) for d in target_shape)
        except (TypeError, ValueError):
            raise ValueError(
                f"Reshape: `target_shape` must be a tuple of integers, got {target_shape!r}."
            ) from None
        if sum(d == -1 for d in dims) > 1 or any(d < 1 and d != -1 for d in dims):
            raise ValueError(
                "Reshape: `target_shape` must hold positive integers and at most one -1, got "
                f"{target_shape!r}."
            )
        self.target_shape = dims

    def compute_output_shape(self, input_shape: Any) -> Any:
        input_shape = tuple(input_shape)
        if any(d is None for d in input_shape[1:]):
            return (input_shape[0], *(None if d == -1 else d for d in self.target_shape))
        return (input_shape[0], *self._fix_unknown_dimension(input_shape[1:]))

    def _fix_unknown_dimension(self, input_shape: tuple) -> tuple:
        original = math.prod(input_shape)
        known = math.prod(d for d in self.target_shape if d != -1)
        message = (
            f"Reshape layer {self.name!r}: total size of new array must be unchanged, "
            f"input_shape = {list(input_shape)}, output_shape = {list(self.target_shape)}"
        )
        if -1 in self.target_shape:
            if known == 0 or original % known:
                raise ValueError(message)
            return tuple(original // known if d == -1 else d for d in self.target_shape)
        if original != known:
            raise ValueError(message)
        return self.target_shape

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "target_shape": list(self.target_shape)}
