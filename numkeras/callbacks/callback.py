"""The ``Callback`` base class: hooks into fit, evaluate and predict."""

from __future__ import annotations

from typing import Any

Logs = dict[str, Any] | None

_TRAIN_BATCH_HOOKS = (
    "on_batch_begin",
    "on_batch_end",
    "on_train_batch_begin",
    "on_train_batch_end",
)
_TEST_BATCH_HOOKS = ("on_test_batch_begin", "on_test_batch_end")
_PREDICT_BATCH_HOOKS = ("on_predict_batch_begin", "on_predict_batch_end")


class Callback:
    """Base class of callbacks: override the hooks you need.

    Attributes:
        model: The model being trained, evaluated or predicted with (None until set).
        params: The loop's parameters (``verbose``, ``epochs``, ``steps``...), None until set.
        validation_data: Kept for Keras 2 compatibility; always None.
    """

    def __init__(self) -> None:
        self.model: Any = None
        self.params: dict[str, Any] | None = None
        self.validation_data: Any = None

    def set_params(self, params: dict[str, Any]) -> None:
        self.params = params

    def set_model(self, model: Any) -> None:
        self.model = model

    def on_batch_begin(self, batch: int, logs: Logs = None) -> None:
        """Keras 2 alias of ``on_train_batch_begin``."""

    def on_batch_end(self, batch: int, logs: Logs = None) -> None:
        """Keras 2 alias of ``on_train_batch_end``."""

    def on_epoch_begin(self, epoch: int, logs: Logs = None) -> None:
        """Called at the start of an epoch (0-based ``epoch``) of ``fit``."""

    def on_epoch_end(self, epoch: int, logs: Logs = None) -> None:
        """Called at the end of an epoch; ``logs`` holds the epoch's metrics and ``val_*``."""

    def on_train_batch_begin(self, batch: int, logs: Logs = None) -> None:
        """Called before a training batch; by default calls ``on_batch_begin``."""
        self.on_batch_begin(batch, logs)

    def on_train_batch_end(self, batch: int, logs: Logs = None) -> None:
        """Called after a training batch with the epoch's running metrics;
        by default calls ``on_batch_end``."""
        self.on_batch_end(batch, logs)

    def on_test_batch_begin(self, batch: int, logs: Logs = None) -> None:
        """Called before a batch of ``evaluate`` or of validation."""

    def on_test_batch_end(self, batch: int, logs: Logs = None) -> None:
        """Called after a batch of ``evaluate`` or of validation."""

    def on_predict_batch_begin(self, batch: int, logs: Logs = None) -> None:
        """Called before a batch of ``predict``."""

    def on_predict_batch_end(self, batch: int, logs: Logs = None) -> None:
        """Called after a batch of ``predict``."""

    def on_train_begin(self, logs: Logs = None) -> None:
        """Called at the start of ``fit``."""

    def on_train_end(self, logs: Logs = None) -> None:
        """Called at the end of ``fit``."""

    def on_test_begin(self, logs: Logs = None) -> None:
        """Called at the start of ``evaluate`` or of validation."""

    def on_test_end(self, logs: Logs = None) -> None:
        """Called at the end of ``evaluate`` or of validation."""

    def on_predict_begin(self, logs: Logs = None) -> None:
        """Called at the start of ``predict``."""

    def on_predict_end(self, logs: Logs = None) -> None:
        """Called at the end of ``predict``."""

    def _overrides(self, hooks: tuple[str, ...]) -> bool:
        return any(
            name in vars(self) or getattr(type(self), name) is not getattr(Callback, name)
            for name in hooks
        )

    def _implements_train_batch_hooks(self) -> bool:
        """Whether this callback needs the training batch hooks (else the loop may skip them)."""
        return self._overrides(_TRAIN_BATCH_HOOKS)

    def _implements_test_batch_hooks(self) -> bool:
        return self._overrides(_TEST_BATCH_HOOKS)

    def _implements_predict_batch_hooks(self) -> bool:
        return self._overrides(_PREDICT_BATCH_HOOKS)
