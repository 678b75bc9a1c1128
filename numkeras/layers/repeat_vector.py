"""RepeatVector: repeats a ``(batch, features)`` input ``n`` times along a new axis 1."""

from __future__ import annotations

import operator
from typing import Any

from numkeras.layers.layer import Layer


class RepeatVector(Layer):
    """Turns ``(batch, features)`` into ``(batch, n, features)``.

    Args:
        n: Number of repetitions, a positive integer.
    """

    def __init__(self, n: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        try:
            value = operator.index(n)
        except TypeError:
            value = 0
        if isinstance(n, bool) or value < 1:
            raise ValueError(f"RepeatVector: `n` must be a positive integer, got {n!r}.")
        self.n = value

    def build(self, input_shape: Any) -> None:
        if isinstance(input_shape, list) or len(input_shape) != 2:
            raise ValueError(
                f"Input 0 of layer {self.name!r} is incompatible with the layer: expected "
                f"ndim=2, found ndim={len(input_shape)}. Full shape received: {input_shape}"
            )
        self.built = True

    def compute_output_shape(self, input_shape: Any) -> Any:
        return (input_shape[0], self.n, input_shape[1])

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "n": self.n}
