"""Adagrad: per-parameter learning rates scaled by the accumulated squared gradients."""

from __future__ import annotations

from typing import Any

from numkeras.optimizers.optimizer import Optimizer


class Adagrad(Optimizer):
    """Adagrad optimizer, as tf-keras 2's ``Adagrad``.

    With ``accumulator`` starting at ``initial_accumulator_value``::

        accumulator += g**2
        w -= learning_rate * g / sqrt(accumulator + epsilon)

    Args:
        learning_rate: Learning rate. Defaults to 0.001.
        initial_accumulator_value: Starting value of the accumulators, >= 0.
        epsilon: Small constant for numerical stability.
        clipnorm: See ``Optimizer``.
        clipvalue: See ``Optimizer``.
        global_clipnorm: See ``Optimizer``.
        name: Name of the optimizer.
        **kwargs: ``lr``, ``decay``, ``weight_decay``, ``use_ema``, ... (see ``Optimizer``).
    """

    slot_groups = (("accumulator",),)

    def __init__(
        self,
        learning_rate: float = 0.001,
        initial_accumulator_value: float = 0.1,
        epsilon: float = 1e-7,
        clipnorm: float | None = None,
        clipvalue: float | None = None,
        global_clipnorm: float | None = None,
        name: str = "Adagrad",
        **kwargs: Any,
    ) -> None:
        super().__init__(
            name=name,
            learning_rate=learning_rate,
            clipnorm=clipnorm,
            clipvalue=clipvalue,
            global_clipnorm=global_clipnorm,
            **kwargs,
        )
        if isinstance(initial_accumulator_value, bool) or not initial_accumulator_value >= 0:
            raise ValueError(
                "`initial_accumulator_value` must be >= 0. "
                f"Received: initial_accumulator_value={initial_accumulator_value!r}"
            )
        self.initial_accumulator_value = float(initial_accumulator_value)
        self.epsilon = float(epsilon)

    def slot_initial_value(self, slot_name: str) -> float:
        return self.initial_accumulator_value

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(
            {
                "initial_accumulator_value": self.initial_accumulator_value,
                "epsilon": self.epsilon,
            }
        )
        return config
