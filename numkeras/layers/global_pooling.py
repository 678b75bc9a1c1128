"""Global pooling: the maximum or mean over every step or pixel, per channel."""

from __future__ import annotations

from typing import Any

from numkeras.layers.flatten import normalize_data_format
from numkeras.layers.layer import Layer


class _GlobalPooling(Layer):
    """Shared base: ``data_format`` and ``keepdims`` (keep the reduced axes with size 1)."""

    def __init__(self, rank: int, data_format: str | None = None, keepdims: bool = False,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.rank = rank
        self.data_format = normalize_data_format(data_format)
        if not isinstance(keepdims, bool):
            raise ValueError(
                f"{type(self).__name__}: `keepdims` must be a bool, received keepdims={keepdims!r}"
            )
        self.keepdims = keepdims

    def spatial_axes(self) -> tuple[int, ...]:
        start = 2 if self.data_format == "channels_first" else 1
        return tuple(range(start, start + self.rank))

    def build(self, input_shape: Any) -> None:
        if isinstance(input_shape, list) or len(input_shape) != self.rank + 2:
            raise ValueError(
                f"Input 0 of layer {self.name!r} ({type(self).__name__}) must have rank "
                f"{self.rank + 2}, received input_shape={input_shape}."
            )
        self.built = True

    def compute_output_shape(self, input_shape: Any) -> Any:
        shape = tuple(input_shape)
        axes = self.spatial_axes()
        if self.keepdims:
            return tuple(1 if i in axes else d for i, d in enumerate(shape))
        return tuple(d for i, d in enumerate(shape) if i not in axes)

    def compute_mask(self, inputs: Any, mask: Any = None) -> Any:
        return None

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "data_format": self.data_format,
                "keepdims": self.keepdims}


class GlobalMaxPooling1D(_GlobalPooling):
    """Maximum over the steps of ``(batch, steps, features)``."""

    def __init__(self, data_format: str = "channels_last", keepdims: bool = False,
                 **kwargs: Any) -> None:
        super().__init__(1, data_format, keepdims, **kwargs)


class GlobalAveragePooling1D(_GlobalPooling):
    """Mean over the steps of ``(batch, steps, features)``; masked steps (from a mask-producing
    layer such as ``Embedding(mask_zero=True)``) are left out of the mean."""

    supports_masking = True

    def __init__(self, data_format: str = "channels_last", keepdims: bool = False,
                 **kwargs: Any) -> None:
        super().__init__(1, data_format, keepdims, **kwargs)


class GlobalMaxPooling2D(_GlobalPooling):
    """Maximum over the pixels of each channel."""

    def __init__(self, data_format: str | None = None, keepdims: bool = False,
                 **kwargs: Any) -> None:
        super().__init__(2, data_format, keepdims, **kwargs)


class GlobalAveragePooling2D(_GlobalPooling):
    """Mean over the pixels of each channel."""

    def __init__(self, data_format: str | None = None, keepdims: bool = False,
                 **kwargs: Any) -> None:
        super().__init__(2, data_format, keepdims, **kwargs)


GlobalMaxPool1D = GlobalMaxPooling1D
GlobalMaxPool2D = GlobalMaxPooling2D
GlobalAvgPool1D = GlobalAveragePooling1D
GlobalAvgPool2D = GlobalAveragePooling2D
