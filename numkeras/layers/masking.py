"""Masking: marks the time steps whose features all equal ``mask_value`` as padding."""

from __future__ import annotations

from typing import Any

import numpy as np

from numkeras.layers.layer import Layer


class Masking(Layer):
    """Masks a sequence: a step whose features all equal ``mask_value`` is skipped by the
    layers downstream that support masking (e.g. LSTM), and its output is zeroed.

    Args:
        mask_value: The padding value.
    """

    supports_masking = True

    def __init__(self, mask_value: float = 0.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        try:
            self.mask_value = float(mask_value)
        except (TypeError, ValueError):
            raise ValueError(
                f"Masking: `mask_value` must be a number, got {mask_value!r}."
            ) from None

    def compute_mask(self, inputs: Any, mask: Any = None) -> Any:
        """``any(inputs != mask_value)`` over the last axis."""
        return np.any(np.not_equal(inputs, self.mask_value), axis=-1)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "mask_value": self.mask_value}
