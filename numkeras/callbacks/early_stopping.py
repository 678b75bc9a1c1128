"""``EarlyStopping``: stops training when a monitored quantity stops improving."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from numkeras.callbacks.callback import Callback, Logs


class EarlyStopping(Callback):
    """Stops training after ``patience`` epochs without improvement of ``monitor``.

    Args:
        monitor: The epoch log to watch, e.g. ``"val_loss"``.
        min_delta: An improvement must exceed this (absolute) amount.
        patience: Epochs without improvement before training stops.
        verbose: 1 prints a message when training stops and when weights are restored.
        mode: ``"min"``, ``"max"`` or ``"auto"`` (``max`` when ``monitor`` ends with
            ``acc``, ``accuracy`` or ``auc``, else ``min``).
        baseline: The patience counter only resets on epochs that beat this value too.
        restore_best_weights: At the end of training, set the weights of the best epoch.
        start_from_epoch: Epochs of warm-up during which nothing is monitored.

    Attributes:
        stopped_epoch: The 0-based epoch at which training was stopped (0 if it was not).
        best_epoch: The 0-based epoch with the best value.
    """

    def __init__(
        self,
        monitor: str = "val_loss",
        min_delta: float = 0,
        patience: int = 0,
        verbose: int = 0,
        mode: str = "auto",
        baseline: float | None = None,
        restore_best_weights: bool = False,
        start_from_epoch: int = 0,
    ) -> None:
        super().__init__()
        self.monitor = monitor
        self.patience = patience
        self.verbose = verbose
        self.baseline = baseline
        self.restore_best_weights = restore_best_weights
        self.start_from_epoch = start_from_epoch
        if mode not in ("auto", "min", "max"):
            warnings.warn(f"EarlyStopping mode {mode!r} is unknown, fallback to auto mode.")
            mode = "auto"
        if mode == "auto":
            maximize = monitor.endswith(("acc", "accuracy", "auc"))
        else:
            maximize = mode == "max"
        self.monitor_op = np.greater if maximize else np.less
        # Signed so that ``monitor_op(current - min_delta, best)`` asks for a real gain.
        self.min_delta = abs(min_delta) if maximize else -abs(min_delta)
        self.wait = 0
        self.stopped_epoch = 0
        self.best: float = -np.inf if maximize else np.inf
        self.best_weights: list[np.ndarray] | None = None
        self.best_epoch = 0

    def on_train_begin(self, logs: Logs = None) -> None:
        self.wait = 0
        self.stopped_epoch = 0
        self.best = -np.inf if self.monitor_op is np.greater else np.inf
        self.best_weights = None
        self.best_epoch = 0

    def on_epoch_end(self, epoch: int, logs: Logs = None) -> None:
        current = self.get_monitor_value(logs)
        if current is None or epoch < self.start_from_epoch:
            return
        if self.restore_best_weights and self.best_weights is None:
            # Restore something even if no epoch ever beats the baseline.
            self.best_weights = self._copy_weights()
            self.best_epoch = epoch
        self.wait += 1
        if self._is_improvement(current, self.best):
            self.best = current
            self.best_epoch = epoch
            if self.restore_best_weights:
                self.best_weights = self._copy_weights()
            if self.baseline is None or self._is_improvement(current, self.baseline):
                self.wait = 0
            return
        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def on_train_end(self, logs: Logs = None) -> None:
        if self.stopped_epoch > 0 and self.verbose > 0:
            print(f"Epoch {self.stopped_epoch + 1}: early stopping")
        if self.restore_best_weights and self.best_weights is not None:
            if self.verbose > 0:
                print(
                    "Restoring model weights from the end of the best epoch: "
                    f"{self.best_epoch + 1}."
                )
            self.model.set_weights(self.best_weights)

    def get_monitor_value(self, logs: Logs) -> Any:
        """The monitored value from ``logs``, or None (with a warning) when it is missing."""
        logs = logs or {}
        value = logs.get(self.monitor)
        if value is None:
            warnings.warn(
                f"Early stopping conditioned on metric `{self.monitor}` which is not "
                f"available. Available metrics are: {','.join(logs)}",
                RuntimeWarning,
            )
        return value

    def _is_improvement(self, value: Any, reference: Any) -> bool:
        return bool(self.monitor_op(value - self.min_delta, reference))

    def _copy_weights(self) -> list[np.ndarray]:
        # The engine may update its arrays in place: keep copies, not views.
        return [np.array(w, copy=True) for w in self.model.get_weights()]
