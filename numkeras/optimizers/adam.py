"""Adam: adaptive moment estimation."""

from __future__ import annotations

from typing import Any

from numkeras.optimizers.optimizer import Optimizer


class Adam(Optimizer):
    """Adam optimizer, as tf-keras 2's ``Adam``.

    At step ``t`` (1 for the first step)::

        m = m + (g - m) * (1 - beta_1)
        v = v + (g**2 - v) * (1 - beta_2)
        vhat = max(vhat, v); v_used = vhat        # amsgrad; otherwise v_used = v
        alpha = learning_rate * sqrt(1 - beta_2**t) / (1 - beta_1**t)
        w -= alpha * m / (sqrt(v_used) + epsilon)

    ``epsilon`` is the paper's "epsilon hat" (added after the bias correction is folded into
    ``alpha``), unless ``adaptive_epsilon=True``, which uses ``epsilon * sqrt(1 - beta_2**t)``.

    Args:
        learning_rate: Learning rate. Defaults to 0.001.
        beta_1: Decay rate of the first moment.
        beta_2: Decay rate of the second moment.
        epsilon: Small constant for numerical stability.
        amsgrad: Whether to apply the AMSGrad variant.
        clipnorm: See ``Optimizer``.
        clipvalue: See ``Optimizer``.
        global_clipnorm: See ``Optimizer``.
        name: Name of the optimizer.
        **kwargs: ``adaptive_epsilon``, ``lr``, ``decay``, ``weight_decay``, ``use_ema``, ...
            (see ``Optimizer``).
    """

    slot_groups = (("m", "v"), ("vhat",))

    def __init__(
        self,
        learning_rate: float = 0.001,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-7,
        amsgrad: bool = False,
        clipnorm: float | None = None,
        clipvalue: float | None = None,
        global_clipnorm: float | None = None,
        name: str = "Adam",
        **kwargs: Any,
    ) -> None:
        adaptive_epsilon = kwargs.pop("adaptive_epsilon", False)
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
        self.amsgrad = bool(amsgrad)
        self.adaptive_epsilon = bool(adaptive_epsilon)

    def uses_slot(self, slot_name: str) -> bool:
        return slot_name != "vhat" or self.amsgrad

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(
            {
                "beta_1": self.beta_1,
                "beta_2": self.beta_2,
                "epsilon": self.epsilon,
                "amsgrad": self.amsgrad,
            }
        )
        # tf-keras leaves it out of its config; written only when it changes the rule.
        if self.adaptive_epsilon:
            config["adaptive_epsilon"] = True
        return config
