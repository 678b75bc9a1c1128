"""Adadelta: adaptive learning rates from moving windows of gradient updates."""

from __future__ import annotations

from typing import Any

from numkeras.optimizers.optimizer import Optimizer


class Adadelta(Optimizer):
    """Adadelta optimizer, as tf-keras 2's ``Adadelta``.

    With ``accumulated_grad`` and ``accumulated_delta_var``::

        accumulated_grad = rho * accumulated_grad + (1 - rho) * g**2
        delta = -sqrt(accumulated_delta_var + epsilon) * g / sqrt(accumulated_grad + epsilon)
        accumulated_delta_var = rho * accumulated_delta_var + (1 - rho) * delta**2
        w += learning_rate * delta

    Args:
        learning_rate: Learning rate. Defaults to 0.001 (Keras 2.3 used 1.0).
        rho: Decay rate of the moving averages.
        epsilon: Small constant for numerical stability.
        clipnorm: See ``Optimizer``.
        clipvalue: See ``Optimizer``.
        global_clipnorm: See ``Optimizer``.
        name: Name of the optimizer.
        **kwargs: ``lr``, ``decay``, ``weight_decay``, ``use_ema``, ... (see ``Optimizer``).
    """

    slot_groups = (("accumulated_grad", "accumulated_delta_var"),)

    def __init__(
        self,
        learning_rate: float = 0.001,
        rho: float = 0.95,
        epsilon: float = 1e-7,
        clipnorm: float | None = None,
        clipvalue: float | None = None,
        global_clipnorm: float | None = None,
        name: str = "Adadelta",
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
        self.rho = float(rho)
        self.epsilon = float(epsilon)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update({"rho": self.rho, "epsilon": self.epsilon})
        return config
