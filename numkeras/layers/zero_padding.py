"""ZeroPadding1D / ZeroPadding2D: zeros added before and after the spatial axes."""

from __future__ import annotations

from typing import Any

from numkeras.layers.conv import is_int
from numkeras.layers.flatten import normalize_data_format
from numkeras.layers.layer import Layer


def normalize_pairs(value: Any, rank: int, name: str, layer: str) -> tuple:
    """``(before, after)`` per spatial axis from an int, ``rank`` ints (symmetric) or ``rank``
    pairs; a 1D layer also takes one pair. Returns a pair for rank 1, a tuple of pairs
    otherwise.

    Raises:
        ValueError: naming ``name`` and ``layer`` for anything else or negative values.
    """
    pairs = None
    if is_int(value):
        pairs = ((int(value), int(value)),) * rank
    elif isinstance(value, (tuple, list)):
        items = tuple(value)
        if rank == 1 and len(items) == 2 and all(map(is_int, items)):
            pairs = (tuple(int(v) for v in items),)
        elif len(items) == rank and all(map(is_int, items)):
            pairs = tuple((int(v), int(v)) for v in items)
        elif len(items) == rank and all(
            isinstance(p, (tuple, list)) and len(p) == 2 and all(map(is_int, p)) for p in items
        ):
            pairs = tuple(tuple(int(v) for v in p) for p in items)
    if pairs is None or any(v < 0 for p in pairs for v in p):
        raise ValueError(
            f"{layer}: `{name}` should be a non-negative int, a tuple of {rank} ints or a tuple "
            f"of {rank} tuples of 2 ints. Received: {name}={value!r}"
        )
    return pairs[0] if rank == 1 else pairs


class _Spatial(Layer):
    """Shared shape bookkeeping of the padding and cropping layers (rank 1 or 2)."""

    def __init__(self, rank: int, data_format: str | None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.rank = rank
        self.data_format = normalize_data_format(data_format)

    def spatial_axes(self) -> tuple[int, ...]:
        start = 2 if self.data_format == "channels_first" else 1
        return tuple(range(start, start + self.rank))

    def pairs(self) -> tuple[tuple[int, int], ...]:
        raise NotImplementedError

    def build(self, input_shape: Any) -> None:
        if isinstance(input_shape, list) or len(input_shape) != self.rank + 2:
            raise ValueError(
                f"Input 0 of layer {self.name!r} ({type(self).__name__}) must have rank "
                f"{self.rank + 2}, received input_shape={input_shape}."
            )
        self.built = True


class _ZeroPadding(_Spatial):
    def pairs(self) -> tuple[tuple[int, int], ...]:
        return (self.padding,) if self.rank == 1 else self.padding

    def compute_output_shape(self, input_shape: Any) -> Any:
        shape = list(input_shape)
        for axis, (a, b) in zip(self.spatial_axes(), self.pairs(), strict=True):
            if shape[axis] is not None:
                shape[axis] += a + b
        return tuple(shape)


class ZeroPadding1D(_ZeroPadding):
    """Pads the steps of ``(batch, steps, features)`` with zeros.

    Args:
        padding: int (both sides) or ``(before, after)``.
    """

    def __init__(self, padding: Any = 1, **kwargs: Any) -> None:
        super().__init__(1, "channels_last", **kwargs)
        self.padding = normalize_pairs(padding, 1, "padding", "ZeroPadding1D")

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "padding": self.padding}


class ZeroPadding2D(_ZeroPadding):
    """Pads the rows and columns of images with zeros.

    Args:
        padding: int, ``(rows, cols)`` (symmetric) or ``((top, bottom), (left, right))``.
        data_format: ``"channels_last"`` or ``"channels_first"``.
    """

    def __init__(self, padding: Any = (1, 1), data_format: str | None = None,
                 **kwargs: Any) -> None:
        super().__init__(2, data_format, **kwargs)
        self.padding = normalize_pairs(padding, 2, "padding", "ZeroPadding2D")

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "padding": self.padding, "data_format": self.data_format}
