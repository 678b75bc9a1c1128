"""Gradient descent with optional (Nesterov) momentum."""

from __future__ import annotations

from typing import Any

from numkeras.optimizers.optimizer import Optimizer


class SGD(Optimizer):
    """Gradient descent (with momentum) optimizer, as tf-keras 2's ``SGD``.

    With velocity ``m`` (created for every variable, even when ``momentum`` is 0)::

        m = -learning_rate * g + momentum * m
        w = w + m                                   # nesterov=False
        w = w - learning_rate * g + momentum * m    # nesterov=True

    Args:
        learning_rate: Learning rate. Defaults to 0.01.
        momentum: Float in [0, 1] that accelerates descent in the relevant direction.
        nesterov: Whether to apply Nesterov momentum.
        clipnorm: See ``Optimizer``.
        clipvalue: See ``Optimizer``.
        global_clipnorm: See ``Optimizer``.
        name: Name of the optimizer.
        **kwargs: ``lr``, ``decay``, ``weight_decay``, ``use_ema``, ... (see ``Optimizer``).
    """

    slot_groups = (("m",),)

    def __init__(
        self,
        learning_rate: float = 0.01,
        momentum: float = 0.0,
        nesterov: bool = False,
        clipnorm: float | None = None,
        clipvalue: float | None = None,
        global_clipnorm: float | None = None,
        name: str = "SGD",
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
        if isinstance(momentum, bool) or not 0 <= momentum <= 1:
            raise ValueError(f"`momentum` must be between [0, 1]. Received: momentum={momentum!r}")
        self.momentum = float(momentum)
        self.nesterov = bool(nesterov)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update({"momentum": self.momentum, "nesterov": self.nesterov})
        return config
