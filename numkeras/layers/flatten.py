"""Flatten: collapses every axis but the batch axis into one."""

from __future__ import annotations

import math
from typing import Any

from numkeras import backend
from numkeras.layers.layer import Layer


def normalize_data_format(value: Any) -> str:
    """``None`` -> the backend's image data format; otherwise checks the name.

    Raises:
        ValueError: naming ``data_format`` if it is neither channels_first nor channels_last.
    """
    if value is None:
        value = backend.image_data_format()
    data_format = str(value).lower()
    if data_format not in ("channels_first", "channels_last"):
        raise ValueError(
            'The `data_format` argument must be one of "channels_first", "channels_last". '
            f"Received: {value!r}"
        )
    return data_format


class Flatten(Layer):
    """Flattens the input to ``(batch, features)``.

    Args:
        data_format: ``"channels_last"`` (default) or ``"channels_first"``; with channels
            first, the channel axis is moved last before flattening, so the order of the
            features matches a channels-last model.
    """

    def __init__(self, data_format: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.data_format = normalize_data_format(data_format)

    def build(self, input_shape: Any) -> None:
        if isinstance(input_shape, list) or len(input_shape) < 1:
            raise ValueError(
                f"Flatten layer {self.name!r} expects one input of rank >= 1, got input shape "
                f"{input_shape}."
            )
        self.built = True

    def compute_output_shape(self, input_shape: Any) -> Any:
        input_shape = tuple(input_shape)
        rest = input_shape[1:]
        features = math.prod(rest) if all(d is not None for d in rest) else None
        return (input_shape[0] if input_shape else None, features)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "data_format": self.data_format}
