"""UpSampling1D / UpSampling2D: repeats steps, or rows and columns, ``size`` times."""

from __future__ import annotations

from typing import Any

from numkeras.layers.conv import normalize_tuple
from numkeras.layers.zero_padding import _Spatial

INTERPOLATIONS = ("nearest", "bilinear")


class UpSampling1D(_Spatial):
    """Repeats each step of ``(batch, steps, features)`` ``size`` times."""

    def __init__(self, size: int = 2, **kwargs: Any) -> None:
        super().__init__(1, "channels_last", **kwargs)
        self.size = normalize_tuple(size, 1, "size", "UpSampling1D")[0]

    def sizes(self) -> tuple[int, ...]:
        return (self.size,)

    def compute_output_shape(self, input_shape: Any) -> Any:
        shape = tuple(input_shape)
        return (shape[0], None if shape[1] is None else shape[1] * self.size, shape[2])

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "size": self.size}


class UpSampling2D(_Spatial):
    """Upsamples images by ``size`` (rows, columns).

    Args:
        size: int or ``(rows, cols)``.
        data_format: ``"channels_last"`` or ``"channels_first"``.
        interpolation: ``"nearest"`` (repeat) or ``"bilinear"`` (TensorFlow's resize with
            half-pixel centres).
    """

    def __init__(self, size: Any = (2, 2), data_format: str | None = None,
                 interpolation: str = "nearest", **kwargs: Any) -> None:
        super().__init__(2, data_format, **kwargs)
        self.size = normalize_tuple(size, 2, "size", "UpSampling2D")
        if interpolation not in INTERPOLATIONS:
            raise ValueError(
                f"UpSampling2D: `interpolation` must be one of {', '.join(INTERPOLATIONS)}. "
                f"Received interpolation={interpolation!r}"
            )
        self.interpolation = interpolation

    def sizes(self) -> tuple[int, ...]:
        return self.size

    def compute_output_shape(self, input_shape: Any) -> Any:
        shape = list(input_shape)
        for axis, s in zip(self.spatial_axes(), self.size, strict=True):
            if shape[axis] is not None:
                shape[axis] *= s
        return tuple(shape)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "size": self.size, "data_format": self.data_format,
                "interpolation": self.interpolation}
