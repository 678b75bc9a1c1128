"""``CallbackList``: calls one hook on every callback, in order."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from numkeras.callbacks.callback import Callback, Logs
from numkeras.callbacks.history import History
from numkeras.callbacks.progbar_logger import ProgbarLogger


def _flatten(callbacks: Any) -> list[Any]:
    if callbacks is None:
        return []
    if isinstance(callbacks, (list, tuple)):
        return [cb for item in callbacks for cb in _flatten(item)]
    return [callbacks]


def _needs(callback: Any, query: str) -> bool:
    # A duck-typed callback (not a Callback subclass) may use any hook.
    method = getattr(callback, query, None)
    return True if method is None else bool(method())


class CallbackList:
    """A list of callbacks driven as one: ``callbacks.on_epoch_end(epoch, logs)`` calls them all.

    Args:
        callbacks: Callbacks (a list, possibly nested, or one callback).
        add_history: Append a ``History`` unless the list already has one.
        add_progbar: Append a ``ProgbarLogger(count_mode="steps")`` unless the list already
            has one. As in tf-keras, both go after the user's callbacks, the progress bar
            last, so that it prints what the others (e.g. ``ReduceLROnPlateau``'s ``lr``)
            added to the epoch logs.
        model: The model, passed to every callback's ``set_model``.
        **params: The loop's parameters, passed to every callback's ``set_params``.
    """

    def __init__(
        self,
        callbacks: Callback | Iterable[Callback] | None = None,
        add_history: bool = False,
        add_progbar: bool = False,
        model: Any = None,
        **params: Any,
    ) -> None:
        self.callbacks: list[Callback] = _flatten(callbacks)
        self.model: Any = None
        self.params: dict[str, Any] = {}
        self._history = next((cb for cb in self.callbacks if isinstance(cb, History)), None)
        self._progbar = next((cb for cb in self.callbacks if isinstance(cb, ProgbarLogger)), None)
        if self._history is None and add_history:
            self._history = History()
            self.callbacks.append(self._history)
        if self._progbar is None and add_progbar:
            self._progbar = ProgbarLogger(count_mode="steps")
            self.callbacks.append(self._progbar)
        if model is not None:
            self.set_model(model)
        if params:
            self.set_params(params)

    def append(self, callback: Callback) -> None:
        self.callbacks.append(callback)

    def set_params(self, params: dict[str, Any]) -> None:
        self.params = params
        for callback in self.callbacks:
            callback.set_params(params)

    def set_model(self, model: Any) -> None:
        self.model = model
        if self._history is not None:
            model.history = self._history
        for callback in self.callbacks:
            callback.set_model(model)

    def __iter__(self) -> Iterator[Callback]:
        return iter(self.callbacks)

    def __len__(self) -> int:
        return len(self.callbacks)

    def _call(self, hook: str, *args: Any) -> None:
        for callback in self.callbacks:
            getattr(callback, hook)(*args)

    def on_batch_begin(self, batch: int, logs: Logs = None) -> None:
        self._call("on_train_batch_begin", batch, {} if logs is None else logs)

    def on_batch_end(self, batch: int, logs: Logs = None) -> None:
        self._call("on_train_batch_end", batch, {} if logs is None else logs)

    def on_epoch_begin(self, epoch: int, logs: Logs = None) -> None:
        self._call("on_epoch_begin", epoch, {} if logs is None else logs)

    def on_epoch_end(self, epoch: int, logs: Logs = None) -> None:
        # The same dict goes to every callback: what one adds (``lr``) the next ones see.
        self._call("on_epoch_end", epoch, {} if logs is None else logs)

    def on_train_batch_begin(self, batch: int, logs: Logs = None) -> None:
        self._call("on_train_batch_begin", batch, {} if logs is None else logs)

    def on_train_batch_end(self, batch: int, logs: Logs = None) -> None:
        self._call("on_train_batch_end", batch, {} if logs is None else logs)

    def on_test_batch_begin(self, batch: int, logs: Logs = None) -> None:
        self._call("on_test_batch_begin", batch, {} if logs is None else logs)

    def on_test_batch_end(self, batch: int, logs: Logs = None) -> None:
        self._call("on_test_batch_end", batch, {} if logs is None else logs)

    def on_predict_batch_begin(self, batch: int, logs: Logs = None) -> None:
        self._call("on_predict_batch_begin", batch, {} if logs is None else logs)

    def on_predict_batch_end(self, batch: int, logs: Logs = None) -> None:
        self._call("on_predict_batch_end", batch, {} if logs is None else logs)

    def on_train_begin(self, logs: Logs = None) -> None:
        self._call("on_train_begin", {} if logs is None else logs)

    def on_train_end(self, logs: Logs = None) -> None:
        self._call("on_train_end", {} if logs is None else logs)

    def on_test_begin(self, logs: Logs = None) -> None:
        self._call("on_test_begin", {} if logs is None else logs)

    def on_test_end(self, logs: Logs = None) -> None:
        self._call("on_test_end", {} if logs is None else logs)

    def on_predict_begin(self, logs: Logs = None) -> None:
        self._call("on_predict_begin", {} if logs is None else logs)

    def on_predict_end(self, logs: Logs = None) -> None:
        self._call("on_predict_end", {} if logs is None else logs)

    def _implements_train_batch_hooks(self) -> bool:
        """Whether any callback needs per-batch training events (else a loop may skip them)."""
        return any(_needs(cb, "_implements_train_batch_hooks") for cb in self.callbacks)

    def _implements_test_batch_hooks(self) -> bool:
        return any(_needs(cb, "_implements_test_batch_hooks") for cb in self.callbacks)

    def _implements_predict_batch_hooks(self) -> bool:
        return any(_needs(cb, "_implements_predict_batch_hooks") for cb in self.callbacks)
