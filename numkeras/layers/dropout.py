"""Dropout: zeroes a fraction ``rate`` of the inputs while training (inverted dropout)."""

from __future__ import annotations

from typing import Any

from numkeras.layers.layer import Layer


def check_rate(layer: str, rate: Any) -> float:
    """Validates a dropout-style ``rate`` in [0, 1] and returns it as a float.

    Raises:
        ValueError: naming ``rate`` and ``layer`` when it is not a number in range.
    """
    try:
        value = float(rate)
    except (TypeError, ValueError):
        value = -1.0
    if isinstance(rate, bool) or not 0.0 <= value <= 1.0:
        raise ValueError(
            f"{layer}: invalid value {rate!r} received for `rate`, expected a value between "
            "0 and 1."
        )
    return value


def check_seed(layer: str, seed: Any) -> int | None:
    """Validates a random ``seed`` (None or a non-negative integer).

    Raises:
        ValueError: naming ``seed`` and ``layer`` otherwise.
    """
    if seed is None:
        return None
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"{layer}: `seed` must be None or a non-negative integer, got {seed!r}.")
    return seed


def check_noise_shape(layer: str, noise_shape: Any) -> tuple | None:
    """Validates ``noise_shape``: None, or a sequence of positive ints and None.

    Raises:
        ValueError: naming ``noise_shape`` and ``layer`` otherwise.
    """
    if noise_shape is None:
        return None
    try:
        dims = tuple(None if d is None else int(d) for d in noise_shape)
    except (TypeError, ValueError):
        raise ValueError(
            f"{layer}: `noise_shape` must be a tuple of integers or None, got {noise_shape!r}."
        ) from None
    if any(d is not None and d < 1 for d in dims):
        raise ValueError(f"{layer}: `noise_shape` entries must be positive, got {noise_shape!r}.")
    return dims


class Dropout(Layer):
    """Randomly sets inputs to 0 with frequency ``rate`` while training and scales the others
    by ``1 / (1 - rate)``; the identity at inference.

    Args:
        rate: Fraction of the inputs to drop, in [0, 1].
        noise_shape: Shape of the binary mask, broadcast over the input; None entries take the
            input's size (e.g. ``(None, 1, features)`` drops the same features at every step).
        seed: Seed of the layer's random generator.
    """

    supports_masking = True

    def __init__(self, rate: float, noise_shape: Any = None, seed: int | None = None,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.rate = check_rate("Dropout", rate)
        self.noise_shape = noise_shape
        self._noise_shape = check_noise_shape("Dropout", noise_shape)
        self.seed = check_seed("Dropout", seed)
        self._generator = None

    def get_config(self) -> dict[str, Any]:
        noise_shape = None if self.noise_shape is None else list(self._noise_shape)
        return {**super().get_config(), "rate": self.rate, "noise_shape": noise_shape,
                "seed": self.seed}
