"""Max and average pooling over windows: MaxPooling1D/2D, AveragePooling1D/2D."""

from __future__ import annotations

from typing import Any

from numkeras.layers.conv import conv_output_length, normalize_padding, normalize_tuple
from numkeras.layers.flatten import normalize_data_format
from numkeras.layers.layer import Layer


class _Pooling(Layer):
    """Shared base: ``pool_size``, ``strides`` (None: the pool size), ``padding`` ("valid" or
    "same"; "same" windows only cover real inputs, so averages divide by that count) and
    ``data_format``."""

    def __init__(self, rank: int, pool_size: Any, strides: Any = None, padding: str = "valid",
                 data_format: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        cls = type(self).__name__
        self.rank = rank
        self.pool_size = normalize_tuple(pool_size, rank, "pool_size", cls)
        self.strides = normalize_tuple(pool_size if strides is None else strides, rank,
                                       "strides", cls)
        self.padding = normalize_padding(padding, cls)
        self.data_format = normalize_data_format(data_format)

    def build(self, input_shape: Any) -> None:
        if isinstance(input_shape, list) or len(input_shape) != self.rank + 2:
            raise ValueError(
                f"Input 0 of layer {self.name!r} ({type(self).__name__}) must have rank "
                f"{self.rank + 2}, received input_shape={input_shape}."
            )
        self.built = True

    def compute_output_shape(self, input_shape: Any) -> Any:
        shape = tuple(input_shape)
        first = self.data_format == "channels_first"
        spatial = shape[2:] if first else shape[1:-1]
        out = tuple(conv_output_length(n, p, self.padding, s)
                    for n, p, s in zip(spatial, self.pool_size, self.strides, strict=True))
        return (shape[0], shape[1], *out) if first else (shape[0], *out, shape[-1])

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "pool_size": self.pool_size, "padding": self.padding,
                "strides": self.strides, "data_format": self.data_format}


class MaxPooling1D(_Pooling):
    """Maximum over windows of ``pool_size`` steps of ``(batch, steps, features)``."""

    def __init__(self, pool_size: Any = 2, strides: Any = None, padding: str = "valid",
                 data_format: str = "channels_last", **kwargs: Any) -> None:
        super().__init__(1, pool_size, strides, padding, data_format, **kwargs)


class AveragePooling1D(_Pooling):
    """Mean over windows of ``pool_size`` steps of ``(batch, steps, features)``."""

    def __init__(self, pool_size: Any = 2, strides: Any = None, padding: str = "valid",
                 data_format: str = "channels_last", **kwargs: Any) -> None:
        super().__init__(1, pool_size, strides, padding, data_format, **kwargs)


class MaxPooling2D(_Pooling):
    """Maximum over ``pool_size`` windows of images."""

    def __init__(self, pool_size: Any = (2, 2), strides: Any = None, padding: str = "valid",
                 data_format: str | None = None, **kwargs: Any) -> None:
        super().__init__(2, pool_size, strides, padding, data_format, **kwargs)


class AveragePooling2D(_Pooling):
    """Mean over ``pool_size`` windows of images."""

    def __init__(self, pool_size: Any = (2, 2), strides: Any = None, padding: str = "valid",
                 data_format: str | None = None, **kwargs: Any) -> None:
        super().__init__(2, pool_size, strides, padding, data_format, **kwargs)


MaxPool1D = MaxPooling1D
MaxPool2D = MaxPooling2D
AvgPool1D = AveragePooling1D
AvgPool2D = AveragePooling2D
