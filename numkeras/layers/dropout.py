"""Dropout: zeroes a fraction ``rate`` of the inputs while training (inverted dropout)."""

from __future__ import annotations

from typing import Any

from numkeras.layers._checks import check_noise_shape, check_rate, check_seed
from numkeras.layers.layer import Layer


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
