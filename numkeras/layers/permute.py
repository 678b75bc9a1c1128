"""Permute: reorders the non-batch axes of the input."""

from __future__ import annotations

from typing import Any

from numkeras.layers.layer import Layer


class Permute(Layer):
    """Permutes the axes of each sample; ``dims`` numbers them from 1 (the batch axis is 0).

    Args:
        dims: A permutation of ``1..rank-1``, e.g. ``(2, 1)`` swaps the two axes of a sample.
    """

    def __init__(self, dims: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        try:
            dims = tuple(int(d) for d in dims)
        except (TypeError, ValueError):
            raise ValueError(
                f"Permute: `dims` must be a tuple of integers, got {dims!r}."
            ) from None
        if sorted(dims) != list(range(1, len(dims) + 1)):
            raise ValueError(
                "Invalid permutation argument `dims` for Permute Layer. The set of indices in "
                f"`dims` must be consecutive and start from 1. Received dims={dims}"
            )
        self.dims = dims

    def build(self, input_shape: Any) -> None:
        if isinstance(input_shape, list) or len(input_shape) != len(self.dims) + 1:
            raise ValueError(
                f"Permute layer {self.name!r} with dims={self.dims} expects inputs of rank "
                f"{len(self.dims) + 1}, got input shape {input_shape}."
            )
        self.built = True

    def compute_output_shape(self, input_shape: Any) -> Any:
        input_shape = tuple(input_shape)
        return (input_shape[0], *(input_shape[d] for d in self.dims))

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "dims": list(self.dims)}
