"""Adamax: Adam with the infinity norm."""

from __future__ import annotations

from typing import Any

from numkeras.optimizers.optimizer import Optimizer


class Adamax(Optimizer):
    """Adamax optimizer, as tf-keras 2's ``Adamax``.

    At step ``t`` (1 for the first step)::

        m = m + (g - m) * (1 - beta_1)
        u = max(beta_2 * u, abs(g))
        w -= learning_rate * m / ((1 - beta_1**t) * (u + epsilon))

    Args:
        learning_rate: Learning rate. Defaults to 0.001.
        beta_1: Decay rate of the first moment.
        beta_2: Decay rate of the exponentially weighted infinity norm.
        epsilon: Small constant for numerical stability.
        clipnorm: See ``Optimizer``.
        clipvalue: See ``Optimizer``.
        global_clipnorm: See ``Optimizer``.
        name: Name of the optimizer.
        **kwargs: ``lr``, ``decay``, ``weight_decay``, ``use_ema``, ... (see ``Optimizer``).
    """

    slot_groups = (("m", "u"),)

    def __init__(
        self,
        learning_rate: float = 0.001,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-7,
        clipnorm: float | None = None,
        clipvalue: float | None = None,
        global_clipnorm: float | None = None,
        name: str = "Adamax",
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
        self.beta_1 = float(beta_1)
        self.beta_2 = float(beta_2)
        self.epsilon = float(epsilon)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update({"beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon})
        return config
