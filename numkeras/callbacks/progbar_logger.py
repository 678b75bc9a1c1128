"""``ProgbarLogger``: prints progress and metrics to stdout."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from numkeras.callbacks.callback import Callback, Logs
from numkeras.utils.progbar import Progbar

# Keys of Keras 2 batch logs that describe the batch rather than measure the model.
_BATCH_KEYS = ("batch", "size", "num_steps")


class ProgbarLogger(Callback):
    """Prints ``Epoch i/n`` and a progress bar (``verbose=1``) or one line per epoch (``2``).

    The logs hold the epoch's running averages already, so every value is shown as given.

    Args:
        count_mode: ``"steps"`` (batches) or ``"samples"`` (the batch logs' ``size``).
        stateful_metrics: Kept for Keras 2 compatibility: every metric is shown as given.

    Raises:
        ValueError: If ``count_mode`` is neither ``"steps"`` nor ``"samples"``.
    """

    def __init__(
        self, count_mode: str = "steps", stateful_metrics: Iterable[str] | None = None
    ) -> None:
        super().__init__()
        if count_mode not in ("steps", "samples"):
            raise ValueError(f"Unknown count_mode: {count_mode!r}. Expected 'steps' or 'samples'.")
        self.use_steps = count_mode == "steps"
        self.stateful_metrics = set(stateful_metrics or ())
        self.seen = 0
        self.progbar: Progbar | None = None
        self.target: int | None = None
        self.verbose = 1
        self.epochs = 1
        self._called_in_fit = False

    def set_params(self, params: dict[str, Any]) -> None:
        super().set_params(params)
        self.verbose = params.get("verbose", 1)
        self.epochs = params.get("epochs", 1)
        # Unknown (None) until the first epoch has ended: then it is the count seen.
        self.target = params.get("steps" if self.use_steps else "samples")

    def on_train_begin(self, logs: Logs = None) -> None:
        # Inside fit, validation runs silently.
        self._called_in_fit = True

    def on_epoch_begin(self, epoch: int, logs: Logs = None) -> None:
        self._reset_progbar()
        if self.verbose and self.epochs > 1:
            print(f"Epoch {epoch + 1}/{self.epochs}")

    def on_train_batch_end(self, batch: int, logs: Logs = None) -> None:
        self._batch_update(batch, logs)

    def on_epoch_end(self, epoch: int, logs: Logs = None) -> None:
        self._finalize(logs)

    def on_test_begin(self, logs: Logs = None) -> None:
        if not self._called_in_fit:
            self._reset_progbar()

    def on_test_batch_end(self, batch: int, logs: Logs = None) -> None:
        if not self._called_in_fit:
            self._batch_update(batch, logs)

    def on_test_end(self, logs: Logs = None) -> None:
        if not self._called_in_fit:
            self._finalize(logs)

    def on_predict_begin(self, logs: Logs = None) -> None:
        self._reset_progbar()

    def on_predict_batch_end(self, batch: int, logs: Logs = None) -> None:
        self._batch_update(batch, None)  # never display the predictions

    def on_predict_end(self, logs: Logs = None) -> None:
        self._finalize(None)

    def _implements_train_batch_hooks(self) -> bool:
        return self.verbose == 1 or self.target is None

    def _implements_test_batch_hooks(self) -> bool:
        return self._implements_train_batch_hooks()

    def _implements_predict_batch_hooks(self) -> bool:
        return self._implements_train_batch_hooks()

    def _reset_progbar(self) -> None:
        self.seen = 0
        self.progbar = Progbar(
            target=self.target,
            verbose=self.verbose,
            stateful_metrics=self.stateful_metrics,
            unit_name="step" if self.use_steps else "sample",
        )

    def _metric_items(self, logs: Logs) -> list[tuple[str, Any]]:
        items = [(k, v) for k, v in (logs or {}).items() if k not in _BATCH_KEYS]
        self.progbar.stateful_metrics.update(k for k, _ in items)
        return items

    def _batch_update(self, batch: int, logs: Logs) -> None:
        if self.progbar is None:
            self._reset_progbar()
        if self.use_steps:
            self.seen = batch + 1
        else:
            logs = logs or {}
            self.seen += logs.get("size", 0) * logs.get("num_steps", 1)
        if self.verbose == 1:
            self.progbar.update(self.seen, self._metric_items(logs), finalize=False)

    def _finalize(self, logs: Logs) -> None:
        if self.progbar is None:
            self._reset_progbar()
        if self.target is None:
            self.target = self.seen
            self.progbar.target = self.target
        self.progbar.update(self.target, self._metric_items(logs), finalize=True)
