"""The base class of every optimizer: hyperparameters, config, slot layout.

An optimizer here is vocabulary: it holds hyperparameters and the training state (``iterations``
and the slot arrays), and says how the state is laid out. The update arithmetic lives in
``numkeras.engine.updates``, which creates the slots on the first step and applies the kernels.

Update rules are those of the tf-keras 2 optimizers (``tf_keras.optimizers``, not the legacy
ones). ``decay`` is the Keras 2 / tf-keras legacy time-based decay, kept as an extra keyword so
that Keras 2 scripts passing ``decay=...`` run: each step uses
``learning_rate / (1 + decay * iterations)``, with ``iterations`` counted before the step, and
applies the tf-keras 2 rule with that rate.
"""

from __future__ import annotations

import inspect
import numbers
from typing import Any

import numpy as np

_RESERVED_KWARGS = ("is_legacy_optimizer",)


def _check_non_negative(name: str, value: Any, allow_none: bool = True) -> float | None:
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not value >= 0:
        raise ValueError(f"`{name}` must be a number >= 0. Received: {name}={value!r}")
    return float(value)


class Optimizer:
    """Base class of the Keras optimizers.

    Args:
        name: Name of the optimizer; its slot weights are saved under it.
        learning_rate: Learning rate, a float >= 0.
        weight_decay: If set, every step first does ``w -= w * weight_decay * lr``.
        clipnorm: If set, each gradient is clipped so that its L2 norm is at most this value.
        clipvalue: If set, each gradient is clipped element-wise to ``[-clipvalue, clipvalue]``.
        global_clipnorm: If set, all gradients are scaled so that their global norm is at most
            this value. As in tf-keras, at most one of ``clipnorm`` and ``global_clipnorm`` may be
            set, and only one clipping applies: ``clipnorm``, else ``global_clipnorm``, else
            ``clipvalue``.
        use_ema: Keep an exponential moving average of the weights.
        ema_momentum: Momentum of that average.
        ema_overwrite_frequency: Every this many steps the weights are overwritten by their
            average (``None``: only at the end of ``fit``).
        jit_compile: Accepted for compatibility; stored as ``False`` (tf-keras does the same
            where there is no GPU).
        decay: Keras 2 time-based learning-rate decay (see the module docstring).
        lr: Older alias of ``learning_rate``.
        **kwargs: Anything else raises ``ValueError``.

    Attributes:
        iterations: Number of steps applied.
        slots: ``None`` until the first step, then one dict ``{slot name: array}`` per parameter.
        ema_weights: Moving averages of the parameters when ``use_ema``, else ``None``.
    """

    #: Slot names in the order tf-keras creates them: each inner tuple is one loop over the
    #: variables creating those slots for each variable in turn (e.g. Adam's ``m``, ``v``).
    slot_groups: tuple[tuple[str, ...], ...] = ()

    def __init__(
        self,
        name: str,
        learning_rate: float = 0.001,
        weight_decay: float | None = None,
        clipnorm: float | None = None,
        clipvalue: float | None = None,
        global_clipnorm: float | None = None,
        use_ema: bool = False,
        ema_momentum: float = 0.99,
        ema_overwrite_frequency: int | None = None,
        jit_compile: bool = True,
        decay: float = 0.0,
        lr: float | None = None,
        **kwargs: Any,
    ) -> None:
        for key in _RESERVED_KWARGS:
            kwargs.pop(key, None)
        if kwargs:
            unknown = next(iter(kwargs))
            raise ValueError(
                f"Unknown argument for optimizer {type(self).__name__}: "
                f"{unknown}={kwargs[unknown]!r}"
            )
        if lr is not None:
            default = inspect.signature(type(self).__init__).parameters["learning_rate"].default
            if learning_rate != default and learning_rate != lr:
                raise ValueError(
                    "`lr` is an alias of `learning_rate`; pass one of them. "
                    f"Received: learning_rate={learning_rate!r}, lr={lr!r}"
                )
            learning_rate = lr
        if not isinstance(name, str) or not name:
            raise ValueError(f"`name` must be a non-empty string. Received: name={name!r}")
        self.name = name
        self.learning_rate = learning_rate
        self.decay = _check_non_negative("decay", decay, allow_none=False)
        self.weight_decay = _check_non_negative("weight_decay", weight_decay)
        self.clipnorm = _check_non_negative("clipnorm", clipnorm)
        self.clipvalue = _check_non_negative("clipvalue", clipvalue)
        self.global_clipnorm = _check_non_negative("global_clipnorm", global_clipnorm)
        if self.clipnorm is not None and self.global_clipnorm is not None:
            raise ValueError(
                "At most one of `clipnorm` and `global_clipnorm` can be set. "
                f"Received: clipnorm={clipnorm!r}, global_clipnorm={global_clipnorm!r}"
            )
        if use_ema:
            if not 0 <= ema_momentum <= 1:
                raise ValueError(
                    f"`ema_momentum` must be in the range [0, 1]. "
                    f"Received: ema_momentum={ema_momentum!r}"
                )
            if ema_overwrite_frequency is not None and (
                not isinstance(ema_overwrite_frequency, int) or ema_overwrite_frequency < 1
            ):
                raise ValueError(
                    "`ema_overwrite_frequency` must be an integer >= 1 or None. "
                    f"Received: ema_overwrite_frequency={ema_overwrite_frequency!r}"
                )
        self.use_ema = bool(use_ema)
        self.ema_momentum = ema_momentum
        self.ema_overwrite_frequency = ema_overwrite_frequency
        # XLA never runs here; tf-keras also reports False where it has no GPU.
        self.jit_compile = False
        self.iterations = 0
        self.slots: list[dict[str, np.ndarray]] | None = None
        self.ema_weights: list[np.ndarray] | None = None

    @property
    def learning_rate(self) -> float:
        """The learning rate (before ``decay``), a plain float; settable, e.g. by callbacks."""
        return self._learning_rate

    @learning_rate.setter
    def learning_rate(self, value: float) -> None:
        if isinstance(value, dict):
            raise ValueError(
                f"Learning rate schedules are not supported; pass a float. "
                f"Received: learning_rate={value!r}"
            )
        try:
            value = float(value)
        except (TypeError, ValueError):
            raise ValueError(
                f"`learning_rate` must be a float. Received: learning_rate={value!r}"
            ) from None
        if not value >= 0:
            raise ValueError(f"`learning_rate` must be >= 0. Received: learning_rate={value!r}")
        self._learning_rate = value

    @property
    def lr(self) -> float:
        """Alias of ``learning_rate``."""
        return self.learning_rate

    @lr.setter
    def lr(self, value: float) -> None:
        self.learning_rate = value

    @property
    def current_learning_rate(self) -> float:
        """The rate the next step uses: ``learning_rate / (1 + decay * iterations)``."""
        if self.decay:
            return self.learning_rate / (1.0 + self.decay * self.iterations)
        return self.learning_rate

    def uses_slot(self, slot_name: str) -> bool:
        """Whether this instance creates ``slot_name`` (some slots depend on options)."""
        return True

    def slot_initial_value(self, slot_name: str) -> float:
        """The value a new slot is filled with."""
        return 0.0

    def active_slot_groups(self) -> tuple[tuple[str, ...], ...]:
        """``slot_groups`` restricted to the slots this instance creates."""
        groups = (tuple(s for s in group if self.uses_slot(s)) for group in self.slot_groups)
        return tuple(group for group in groups if group)

    @property
    def slot_names(self) -> tuple[str, ...]:
        """The slots each parameter has, in creation order."""
        return tuple(s for group in self.active_slot_groups() for s in group)

    def get_config(self) -> dict[str, Any]:
        """The config in tf-keras 2's format.

        ``learning_rate`` is written as tf-keras writes it, the float32 value of its variable
        (0.001 -> 0.0010000000474974513). ``decay`` is written only when it is not 0: tf-keras 2's
        optimizers refuse a ``decay`` argument, so a config without it stays loadable there.
        """
        config: dict[str, Any] = {
            "name": self.name,
            "weight_decay": self.weight_decay,
            "clipnorm": self.clipnorm,
            "global_clipnorm": self.global_clipnorm,
            "clipvalue": self.clipvalue,
            "use_ema": self.use_ema,
            "ema_momentum": self.ema_momentum,
            "ema_overwrite_frequency": self.ema_overwrite_frequency,
            "jit_compile": self.jit_compile,
            "is_legacy_optimizer": False,
            "learning_rate": float(np.float32(self.learning_rate)),
        }
        if self.decay:
            config["decay"] = self.decay
        return config

    @classmethod
    def from_config(
        cls, config: dict[str, Any], custom_objects: dict[str, Any] | None = None
    ) -> Optimizer:
        """Creates an optimizer from ``get_config()`` output (tf-keras or Keras 2, ``lr`` too)."""
        return cls(**dict(config))

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name!r} learning_rate={self.learning_rate}>"
