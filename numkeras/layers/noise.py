"""Noise layers, active only while training: GaussianNoise, GaussianDropout, AlphaDropout."""

from __future__ import annotations

from typing import Any

from numkeras.layers._checks import check_noise_shape, check_number, check_rate, check_seed
from numkeras.layers.layer import Layer


class GaussianNoise(Layer):
    """Adds zero-centred Gaussian noise of standard deviation ``stddev`` while training.

    Args:
        stddev: Standard deviation of the noise, >= 0.
        seed: Seed of the layer's random generator.
    """

    supports_masking = True

    def __init__(self, stddev: float, seed: int | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.stddev = check_number("GaussianNoise", "stddev", stddev, 0.0)
        self.seed = check_seed("GaussianNoise", seed)
        self._generator = None

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "stddev": self.stddev, "seed": self.seed}


class GaussianDropout(Layer):
    """Multiplies the inputs by Gaussian noise of mean 1 and standard deviation
    ``sqrt(rate / (1 - rate))`` while training (a no-op unless ``0 < rate < 1``).

    Args:
        rate: Drop probability of the equivalent dropout, in [0, 1].
        seed: Seed of the layer's random generator.
    """

    supports_masking = True

    def __init__(self, rate: float, seed: int | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.rate = check_rate("GaussianDropout", rate)
        self.seed = check_seed("GaussianDropout", seed)
        self._generator = None

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "rate": self.rate, "seed": self.seed}


class AlphaDropout(Layer):
    """Dropout for SELU networks: dropped inputs take SELU's negative saturation value and an
    affine map keeps the mean and variance, while training (a no-op unless ``0 < rate < 1``).

    Args:
        rate: Drop probability, in [0, 1].
        noise_shape: Shape of the random keep/drop mask (default: the input's shape).
        seed: Seed of the layer's random generator.

    As in tf-keras, ``noise_shape`` is not part of the config.
    """

    supports_masking = True

    def __init__(self, rate: float, noise_shape: Any = None, seed: int | None = None,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.rate = check_rate("AlphaDropout", rate)
        self.noise_shape = check_noise_shape("AlphaDropout", noise_shape)
        self.seed = check_seed("AlphaDropout", seed)
        self._generator = None

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "rate": self.rate, "seed": self.seed}
