"""SpatialDropout1D / SpatialDropout2D: Dropout of whole feature maps.

They are Dropout with a noise shape that keeps or drops a channel for every step or pixel at
once, so the engine's Dropout kernel runs them.
"""

from __future__ import annotations

from typing import Any

from numkeras.layers.dropout import Dropout
from numkeras.layers.flatten import normalize_data_format


class SpatialDropout1D(Dropout):
    """Drops entire channels of ``(batch, steps, channels)`` with probability ``rate``."""

    def __init__(self, rate: float, **kwargs: Any) -> None:
        kwargs.pop("noise_shape", None)
        super().__init__(rate, **kwargs)
        self._noise_shape = (None, 1, None)

    def build(self, input_shape: Any) -> None:
        if isinstance(input_shape, list) or len(input_shape) != 3:
            raise ValueError(
                f"Input 0 of layer {self.name!r} (SpatialDropout1D) must have rank 3, "
                f"received input_shape={input_shape}."
            )
        self.built = True


class SpatialDropout2D(Dropout):
    """Drops entire channels of images with probability ``rate``."""

    def __init__(self, rate: float, data_format: str | None = None, **kwargs: Any) -> None:
        kwargs.pop("noise_shape", None)
        super().__init__(rate, **kwargs)
        self.data_format = normalize_data_format(data_format)
        self._noise_shape = ((None, None, 1, 1) if self.data_format == "channels_first"
                             else (None, 1, 1, None))

    def build(self, input_shape: Any) -> None:
        if isinstance(input_shape, list) or len(input_shape) != 4:
            raise ValueError(
                f"Input 0 of layer {self.name!r} (SpatialDropout2D) must have rank 4, "
                f"received input_shape={input_shape}."
            )
        self.built = True

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "data_format": self.data_format}
