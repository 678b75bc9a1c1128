"""Cropping1D / Cropping2D: removes steps or rows and columns at both ends."""

from __future__ import annotations

from typing import Any

from numkeras.layers.zero_padding import _Spatial, normalize_pairs


class _Cropping(_Spatial):
    def pairs(self) -> tuple[tuple[int, int], ...]:
        return (self.cropping,) if self.rank == 1 else self.cropping

    def build(self, input_shape: Any) -> None:
        super().build(input_shape)
        self.compute_output_shape(input_shape)

    def compute_output_shape(self, input_shape: Any) -> Any:
        shape = list(input_shape)
        for axis, (a, b) in zip(self.spatial_axes(), self.pairs(), strict=True):
            if shape[axis] is not None:
                if a + b >= shape[axis]:
                    raise ValueError(
                        f"Layer {self.name!r}: `cropping` {self.cropping} removes all of axis "
                        f"{axis} (size {shape[axis]}) of the input shape {tuple(input_shape)}."
                    )
                shape[axis] -= a + b
        return tuple(shape)


class Cropping1D(_Cropping):
    """Crops the steps of ``(batch, steps, features)``.

    Args:
        cropping: int (both ends) or ``(start, end)``.
    """

    def __init__(self, cropping: Any = (1, 1), **kwargs: Any) -> None:
        super().__init__(1, "channels_last", **kwargs)
        self.cropping = normalize_pairs(cropping, 1, "cropping", "Cropping1D")

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "cropping": self.cropping}


class Cropping2D(_Cropping):
    """Crops the rows and columns of images.

    Args:
        cropping: int, ``(rows, cols)`` (symmetric) or ``((top, bottom), (left, right))``.
        data_format: ``"channels_last"`` or ``"channels_first"``.
    """

    def __init__(self, cropping: Any = ((0, 0), (0, 0)), data_format: str | None = None,
                 **kwargs: Any) -> None:
        super().__init__(2, data_format, **kwargs)
        self.cropping = normalize_pairs(cropping, 2, "cropping", "Cropping2D")

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "cropping": self.cropping,
                "data_format": self.data_format}
