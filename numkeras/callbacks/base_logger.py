"""``BaseLogger``: Keras 2.3's epoch averages of per-batch logs."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from numkeras.callbacks.callback import Callback, Logs

# Keys of Keras 2 batch logs that describe the batch rather than measure the model.
_BATCH_KEYS = ("batch", "size", "num_steps")


class BaseLogger(Callback):
    """Averages per-batch values over the epoch, weighted by each batch's ``size``.

    Kept for Keras 2.3 scripts. numkeras's batch logs already hold the epoch's running
    averages (as tf-keras's), so ``fit`` does not add this callback itself.

    Args:
        stateful_metrics: Names whose last batch value is kept instead of averaged.
    """

    def __init__(self, stateful_metrics: Iterable[str] | None = None) -> None:
        super().__init__()
        self.stateful_metrics = set(stateful_metrics or ())
        self.seen = 0
        self.totals: dict[str, Any] = {}

    def on_epoch_begin(self, epoch: int, logs: Logs = None) -> None:
        self.seen = 0
        self.totals = {}

    def on_batch_end(self, batch: int, logs: Logs = None) -> None:
        logs = logs or {}
        size = logs.get("size", 1) * logs.get("num_steps", 1)
        self.seen += size
        for name, value in logs.items():
            if name in _BATCH_KEYS:
                continue
            if name in self.stateful_metrics:
                self.totals[name] = value
            else:
                self.totals[name] = self.totals.get(name, 0) + value * size

    def on_epoch_end(self, epoch: int, logs: Logs = None) -> None:
        if logs is None:
            return
        names = (self.params or {}).get("metrics") or list(self.totals)
        for name in names:
            if name not in self.totals:
                continue
            if name in self.stateful_metrics:
                logs[name] = self.totals[name]
            elif self.seen:
                logs[name] = self.totals[name] / self.seen
