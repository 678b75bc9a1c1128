"""RMSprop: divide the gradient by a running average of its recent magnitude."""

from __future__ import annotations

from typing import Any

from numkeras.optimizers.optimizer import Optimizer


class RMSprop(Optimizer):
    """RMSprop optimizer, as tf-keras 2's ``RMSprop``.

    With ``velocity`` (mean square), ``momentum`` (only if ``momentum > 0``) and
    ``average_gradient`` (only if ``centered``)::

        velocity = rho * velocity + (1 - rho) * g**2
        average_gradient = rho * average_gradient + (1 - rho) * g         # centered
        denominator = velocity - average_gradient**2 + epsilon             # centered
        denominator = velocity + epsilon                                   # otherwise
        increment = learning_rate * g / sqrt(denominator)
        momentum_slot = momentum * momentum_slot + increment; w -= momentum_slot  # momentum > 0
        w -= increment                                                     # otherwise

    Note that ``epsilon`` is inside the square root (tf-keras 2), not outside (Keras 2.3).

    Args:
        learning_rate: Learning rate. Defaults to 0.001.
        rho: Discounting factor of the moving averages.
        momentum: Momentum factor; 0 disables the momentum slot.
        epsilon: Small constant for numerical stability.
        centered: If True, normalise by the estimated variance of the gradient.
        clipnorm: See ``Optimizer``.
        clipvalue: See ``Optimizer``.
        global_clipnorm: See ``Optimizer``.
        name: Name of the optimizer.
        **kwargs: ``lr``, ``decay``, ``weight_decay``, ``use_ema``, ... (see ``Optimizer``).
            ``ema_overwrite_frequency`` defaults to 100 here, as in tf-keras.
    """

    slot_groups = (("velocity",), ("momentum",), ("average_gradient",))

    def __init__(
        self,
        learning_rate: float = 0.001,
        rho: float = 0.9,
        momentum: float = 0.0,
        epsilon: float = 1e-7,
        centered: bool = False,
        clipnorm: float | None = None,
        clipvalue: float | None = None,
        global_clipnorm: float | None = None,
        name: str = "RMSprop",
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("ema_overwrite_frequency", 100)
        super().__init__(
            name=name,
            learning_rate=learning_rate,
            clipnorm=clipnorm,
            clipvalue=clipvalue,
            global_clipnorm=global_clipnorm,
            **kwargs,
        )
        self.rho = float(rho)
        self.momentum = float(momentum)
        self.epsilon = float(epsilon)
        self.centered = bool(centered)

    def uses_slot(self, slot_name: str) -> bool:
        if slot_name == "momentum":
            return self.momentum > 0
        if slot_name == "average_gradient":
            return self.centered
        return True

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(
            {
                "rho": self.rho,
                "momentum": self.momentum,
                "epsilon": self.epsilon,
                "centered": self.centered,
            }
        )
        return config
