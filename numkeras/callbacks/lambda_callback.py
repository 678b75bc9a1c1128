"""``LambdaCallback``: a callback made of plain functions."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from numkeras.callbacks.callback import Callback


class LambdaCallback(Callback):
    """Calls the given functions from the matching hooks, with positional arguments.

    ``on_epoch_*(epoch, logs)``, ``on_batch_*(batch, logs)``, ``on_train_*(logs)``.
    Other hooks (``on_test_batch_end=...``, ``on_predict_begin=...``) go through ``kwargs``.

    Args:
        on_epoch_begin: Called at the start of every epoch.
        on_epoch_end: Called at the end of every epoch.
        on_batch_begin: Called before every training batch.
        on_batch_end: Called after every training batch.
        on_train_begin: Called at the start of training.
        on_train_end: Called at the end of training.
        **kwargs: Any other hook, by name.
    """

    def __init__(
        self,
        on_epoch_begin: Callable[..., Any] | None = None,
        on_epoch_end: Callable[..., Any] | None = None,
        on_batch_begin: Callable[..., Any] | None = None,
        on_batch_end: Callable[..., Any] | None = None,
        on_train_begin: Callable[..., Any] | None = None,
        on_train_end: Callable[..., Any] | None = None,
        **kwargs: Callable[..., Any],
    ) -> None:
        super().__init__()
        self.__dict__.update(kwargs)
        hooks = {
            "on_epoch_begin": on_epoch_begin,
            "on_epoch_end": on_epoch_end,
            "on_batch_begin": on_batch_begin,
            "on_batch_end": on_batch_end,
            "on_train_begin": on_train_begin,
            "on_train_end": on_train_end,
        }
        for name, function in hooks.items():
            if function is not None:
                setattr(self, name, function)
