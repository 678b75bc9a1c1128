"""Nadam: Adam with Nesterov momentum."""

from __future__ import annotations

from typing import Any

from numkeras.optimizers.optimizer import Optimizer, _check_non_negative


class Nadam(Optimizer):
    """Nadam optimizer, as tf-keras 2's ``Nadam``.

    At step ``t`` (1 for the first step), with the momentum schedule
    ``u_t = beta_1 * (1 - 0.5 * 0.96**t)`` and ``P_t = u_1 * ... * u_t``::

        m = m + (g - m) * (1 - beta_1)
        v = v + (g**2 - v) * (1 - beta_2)
        m_hat = u_{t+1} * m / (1 - P_{t+1}) + (1 - u_t) * g / (1 - P_t)
        v_hat = v / (1 - beta_2**t)
        w -= learning_rate * m_hat / (sqrt(v_hat) + epsilon)

    ``decay`` (and Keras 2.3's ``schedule_decay``) are accepted and ignored: for Nadam they set
    the old momentum schedule (Keras 2 / tf-keras legacy, whose Nadam never decayed the learning
    rate), which tf-keras 2 replaced by the fixed ``0.96**t`` above.

    tf-keras keeps ``P_t`` in a variable that is not saved and, inside a compiled train step with
    several variables, can multiply it more than once per step; here ``P_t`` is the product above,
    derived from ``iterations``, so it also survives saving and loading.

    Args:
        learning_rate: Learning rate. Defaults to 0.001.
        beta_1: Decay rate of the first moment.
        beta_2: Decay rate of the second moment.
        epsilon: Small constant for numerical stability.
        clipnorm: See ``Optimizer``.
        clipvalue: See ``Optimizer``.
        global_clipnorm: See ``Optimizer``.
        name: Name of the optimizer.
        **kwargs: ``lr``, ``decay``, ``weight_decay``, ``use_ema``, ... (see ``Optimizer``).
    """

    slot_groups = (("m", "v"),)

    def __init__(
        self,
        learning_rate: float = 0.001,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-7,
        clipnorm: float | None = None,
        clipvalue: float | None = None,
        global_clipnorm: float | None = None,
        name: str = "Nadam",
        **kwargs: Any,
    ) -> None:
        for key in ("decay", "schedule_decay"):
            _check_non_negative(key, kwargs.pop(key, None))
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
