"""ActivityRegularization: the identity, with an L1/L2 penalty on its output."""

from __future__ import annotations

from typing import Any

from numkeras import regularizers
from numkeras.layers.layer import Layer


class ActivityRegularization(Layer):
    """Passes its input through; the engine adds ``l1 * sum|y| + l2 * sum(y^2)`` to the loss.

    Args:
        l1: L1 factor, >= 0.
        l2: L2 factor, >= 0.
    """

    supports_masking = True

    def __init__(self, l1: float = 0.0, l2: float = 0.0, **kwargs: Any) -> None:
        kwargs.pop("activity_regularizer", None)
        for name, value in (("l1", l1), ("l2", l2)):
            if isinstance(value, (int, float)) and not isinstance(value, bool) and value < 0:
                raise ValueError(
                    f"ActivityRegularization: `{name}` must be >= 0, got {value!r}."
                )
        super().__init__(activity_regularizer=regularizers.L1L2(l1=l1, l2=l2), **kwargs)
        self.l1 = l1
        self.l2 = l2

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "l1": self.l1, "l2": self.l2}
