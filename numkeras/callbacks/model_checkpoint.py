"""``ModelCheckpoint``: saves the model or its weights during training."""

from __future__ import annotations

import os
import warnings
from typing import Any

import numpy as np

from numkeras.callbacks.callback import Callback, Logs


class ModelCheckpoint(Callback):
    """Saves the model (``model.save``) or its weights (``model.save_weights``).

    Args:
        filepath: Where to save; formatted with ``epoch`` (1-based), ``batch`` (1-based, when
            saving every ``save_freq`` batches) and the logs, e.g.
            ``"weights.{epoch:02d}-{val_loss:.2f}.h5"``.
        monitor: The log compared when ``save_best_only``.
        verbose: 1 prints a message at each save decision.
        save_best_only: Save only when ``monitor`` improves on the best value so far.
        save_weights_only: ``model.save_weights`` instead of ``model.save``.
        mode: ``"min"``, ``"max"`` or ``"auto"`` (``max`` when ``monitor`` contains ``acc``
            or starts with ``fmeasure``, else ``min``).
        save_freq: ``"epoch"``, or an integer: save every this many batches.
        period: Keras 2's argument: with ``save_freq="epoch"``, save every ``period`` epochs.
        options: Accepted for compatibility; numkeras has no save options.
        initial_value_threshold: The best value to beat at the start (``save_best_only``).

    Raises:
        ValueError: If ``save_freq`` is neither ``"epoch"`` nor a positive integer, or
            ``period`` is not a positive integer.
    """

    def __init__(
        self,
        filepath: str | os.PathLike[str],
        monitor: str = "val_loss",
        verbose: int = 0,
        save_best_only: bool = False,
        save_weights_only: bool = False,
        mode: str = "auto",
        save_freq: str | int = "epoch",
        period: int | None = None,
        options: Any = None,
        initial_value_threshold: float | None = None,
    ) -> None:
        super().__init__()
        if save_freq != "epoch" and (
            not isinstance(save_freq, int) or isinstance(save_freq, bool) or save_freq < 1
        ):
            raise ValueError(
                f"Unrecognized save_freq: {save_freq!r}. Expected 'epoch' or a positive integer."
            )
        if period is not None and (not isinstance(period, int) or period < 1):
            raise ValueError(f"Invalid period: {period!r}. Expected a positive integer.")
        self.filepath = os.fspath(filepath)
        self.monitor = monitor
        self.verbose = verbose
        self.save_best_only = save_best_only
        self.save_weights_only = save_weights_only
        self.save_freq = save_freq
        self.period = 1 if period is None else period
        self.options = options
        if mode not in ("auto", "min", "max"):
            warnings.warn(f"ModelCheckpoint mode {mode!r} is unknown, fallback to auto mode.")
            mode = "auto"
        if mode == "auto":
            maximize = "acc" in monitor or monitor.startswith("fmeasure")
        else:
            maximize = mode == "max"
        self.monitor_op = np.greater if maximize else np.less
        if initial_value_threshold is not None:
            self.best: float = initial_value_threshold
        else:
            self.best = -np.inf if maximize else np.inf
        self.epochs_since_last_save = 0
        self._batches_seen_since_last_saving = 0
        self._last_batch_seen = -1
        self._current_epoch = 0

    def on_epoch_begin(self, epoch: int, logs: Logs = None) -> None:
        self._current_epoch = epoch

    def on_train_batch_end(self, batch: int, logs: Logs = None) -> None:
        if self.save_freq == "epoch":
            return
        # A batch index that did not grow means a new epoch began.
        if batch <= self._last_batch_seen:
            self._batches_seen_since_last_saving += batch + 1
        else:
            self._batches_seen_since_last_saving += batch - self._last_batch_seen
        self._last_batch_seen = batch
        if self._batches_seen_since_last_saving >= self.save_freq:
            self._batches_seen_since_last_saving = 0
            self._save_model(self._current_epoch, batch, logs)

    def on_epoch_end(self, epoch: int, logs: Logs = None) -> None:
        self.epochs_since_last_save += 1
        if self.save_freq == "epoch" and self.epochs_since_last_save >= self.period:
            self.epochs_since_last_save = 0
            self._save_model(epoch, None, logs)

    def _implements_train_batch_hooks(self) -> bool:
        return self.save_freq != "epoch"

    def _save_model(self, epoch: int, batch: int | None, logs: Logs) -> None:
        logs = logs or {}
        filepath = self._get_file_path(epoch, batch, logs)
        dirname = os.path.dirname(filepath)
        if dirname:
            os.makedirs(dirname, exist_ok=True)
        if os.path.isdir(filepath):
            raise OSError(
                "Please specify a non-directory filepath for ModelCheckpoint. "
                f"Filepath used is an existing directory: {filepath}"
            )
        if not self.save_best_only:
            if self.verbose > 0:
                print(f"\nEpoch {epoch + 1}: saving model to {filepath}")
            self._save(filepath)
            return
        current = logs.get(self.monitor)
        if current is None:
            warnings.warn(
                f"Can save best model only with {self.monitor} available, skipping.",
                RuntimeWarning,
            )
        elif self.monitor_op(current, self.best):
            if self.verbose > 0:
                print(
                    f"\nEpoch {epoch + 1}: {self.monitor} improved from {self.best:.5f} "
                    f"to {current:.5f}, saving model to {filepath}"
                )
            self.best = current
            self._save(filepath)
        elif self.verbose > 0:
            print(f"\nEpoch {epoch + 1}: {self.monitor} did not improve from {self.best:.5f}")

    def _save(self, filepath: str) -> None:
        if self.save_weights_only:
            self.model.save_weights(filepath, overwrite=True)
        else:
            self.model.save(filepath, overwrite=True)

    def _get_file_path(self, epoch: int, batch: int | None, logs: dict[str, Any]) -> str:
        fields = dict(logs, epoch=epoch + 1)
        if batch is not None:
            fields["batch"] = batch + 1
        try:
            return self.filepath.format(**fields)
        except KeyError as e:
            raise KeyError(
                f'Failed to format this callback filepath: "{self.filepath}". '
                f"Reason: {e} is not in the logs (available: {', '.join(sorted(fields))})"
            ) from e
