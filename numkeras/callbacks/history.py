"""``History``: the per-epoch logs that ``fit`` returns."""

from __future__ import annotations

from typing import Any

from numkeras.callbacks.callback import Callback, Logs


class History(Callback):
    """Records every epoch's logs; ``fit`` returns it and sets it as ``model.history``.

    Attributes:
        history: ``{name: [value per epoch]}`` (``loss``, metrics, ``val_*``, ``lr``...).
        epoch: The 0-based indices of the recorded epochs.
        params: The loop's parameters.
    """

    def __init__(self) -> None:
        super().__init__()
        self.history: dict[str, list[Any]] = {}
        self.epoch: list[int] = []

    def on_train_begin(self, logs: Logs = None) -> None:
        self.epoch = []
        if self.model is not None:
            self.model.history = self

    def on_epoch_end(self, epoch: int, logs: Logs = None) -> None:
        self.epoch.append(epoch)
        for name, value in (logs or {}).items():
            self.history.setdefault(name, []).append(value)
        if self.model is not None:
            self.model.history = self
