"""``ReduceLROnPlateau``: lowers the learning rate when a metric stops improving."""

from __future__ import annotations

import warnings

import numpy as np

from numkeras.callbacks.callback import Callback, Logs


class ReduceLROnPlateau(Callback):
    """Multiplies the learning rate by ``factor`` after ``patience`` epochs without improvement.

    Every epoch it also puts the current learning rate in the logs as ``lr``.

    Args:
        monitor: The epoch log to watch.
        factor: ``new_lr = lr * factor``; must be below 1.
        patience: Epochs without improvement before the learning rate is reduced.
        verbose: 1 prints a message at each reduction.
        mode: ``"min"``, ``"max"`` or ``"auto"`` (``max`` when ``monitor`` contains ``acc``).
        min_delta: An improvement must exceed this amount.
        cooldown: Epochs after a reduction during which no patience is counted.
        min_lr: The learning rate is never reduced below this.
        epsilon: Keras 2's old name of ``min_delta``; overrides it when given.

    Raises:
        ValueError: If ``factor >= 1``.
    """

    def __init__(
        self,
        monitor: str = "val_loss",
        factor: float = 0.1,
        patience: int = 10,
        verbose: int = 0,
        mode: str = "auto",
        min_delta: float = 1e-4,
        cooldown: int = 0,
        min_lr: float = 0,
        epsilon: float | None = None,
    ) -> None:
        super().__init__()
        if factor >= 1.0:
            raise ValueError(f"ReduceLROnPlateau does not support a factor >= 1.0. Got {factor}")
        if epsilon is not None:
            warnings.warn(
                "`epsilon` argument is deprecated and will be removed, use `min_delta` instead.",
                DeprecationWarning,
            )
            min_delta = epsilon
        if mode not in ("auto", "min", "max"):
            warnings.warn(
                f"Learning rate reduction mode {mode!r} is unknown, fallback to auto mode."
            )
            mode = "auto"
        self.monitor = monitor
        self.factor = factor
        self.patience = patience
        self.verbose = verbose
        self.mode = mode
        self.min_delta = min_delta
        self.cooldown = cooldown
        self.min_lr = min_lr
        self._maximize = mode == "max" or (mode == "auto" and "acc" in monitor)
        self.best = 0.0
        self.wait = 0
        self.cooldown_counter = 0
        self._reset()

    def _reset(self) -> None:
        self.best = -np.inf if self._maximize else np.inf
        self.wait = 0
        self.cooldown_counter = 0

    def monitor_op(self, current: float, best: float) -> bool:
        """Whether ``current`` improves on ``best`` by more than ``min_delta``."""
        if self._maximize:
            return bool(np.greater(current, best + self.min_delta))
        return bool(np.less(current, best - self.min_delta))

    def in_cooldown(self) -> bool:
        return self.cooldown_counter > 0

    def on_train_begin(self, logs: Logs = None) -> None:
        self._reset()

    def on_epoch_end(self, epoch: int, logs: Logs = None) -> None:
        logs = {} if logs is None else logs
        optimizer = self.model.optimizer
        logs["lr"] = float(optimizer.learning_rate)
        current = logs.get(self.monitor)
        if current is None:
            warnings.warn(
                f"Learning rate reduction is conditioned on metric `{self.monitor}` which is "
                f"not available. Available metrics are: {','.join(logs)}",
                RuntimeWarning,
            )
            return
        if self.in_cooldown():
            self.cooldown_counter -= 1
            self.wait = 0
        if self.monitor_op(current, self.best):
            self.best = current
            self.wait = 0
        elif not self.in_cooldown():
            self.wait += 1
            if self.wait >= self.patience:
                old_lr = float(optimizer.learning_rate)
                # tf-keras compares with the float32 learning-rate variable's precision.
                if old_lr > np.float32(self.min_lr):
                    new_lr = max(old_lr * self.factor, self.min_lr)
                    optimizer.learning_rate = new_lr
                    if self.verbose > 0:
                        print(
                            f"\nEpoch {epoch + 1}: ReduceLROnPlateau reducing "
                            f"learning rate to {new_lr}."
                        )
                    self.cooldown_counter = self.cooldown
                    self.wait = 0
