"""Running one job in a worker process: fit, evaluate or predict on stored data.

Engine-side: imported only inside worker processes.
"""

from __future__ import annotations

import errno
import os
import sqlite3
import time
import traceback
from collections.abc import Iterator
from typing import Any

import numpy as np

from numkeras import callbacks as callbacks_module
from numkeras import wire
from numkeras.callbacks import Callback
from numkeras.server.storage import Storage
from numkeras.server.worker import model_state
from numkeras.server.worker.calls import keras_result, named_outputs, split_arrays


class JobCancelled(Exception):
    """Raised from the progress callback when the job's cancel flag is set."""


class ServerGone(Exception):
    """Raised when the server that started this worker has died."""


class BatchTimeout(RuntimeError):
    """A streamed job waited longer than its ``batch_timeout`` for the next batch."""


class JobProgress(Callback):
    """Writes a job's progress and events to the database and watches its cancel flag.

    Every batch the cancel flag is read (one indexed SQLite read); batch events are written
    at most every ``throttle`` seconds, epoch ends always.
    """

    def __init__(self, storage: Storage, job_id: str, parent_pid: int,
                 throttle: float = 0.5) -> None:
        super().__init__()
        self.storage, self.job_id, self.parent_pid = storage, job_id, parent_pid
        self.throttle = throttle
        self.progress: dict[str, Any] = {}
        self._last = 0.0

    def check(self) -> None:
        if os.getppid() != self.parent_pid:
            raise ServerGone()
        if self.storage.cancel_requested(self.job_id):
            raise JobCancelled()

    def _batch(self, phase: str, batch: int, logs: Any) -> None:
        self.check()
        now = time.monotonic()
        if now - self._last >= self.throttle:
            self._last = now
            self.progress.update(phase=phase, batch=batch + 1)
            data = {"phase": phase, "epoch": self.progress.get("epoch"), "batch": batch,
                    "logs": _plain_logs(logs)}
            self.storage.set_progress(self.job_id, self.progress, ("batch", data))

    def on_train_begin(self, logs: Any = None) -> None:
        params = dict(self.params or {})
        self.progress = {"phase": "fit", "epoch": 0, "epochs": params.get("epochs"),
                         "batch": 0, "steps": params.get("steps")}
        self.storage.set_progress(self.job_id, self.progress,
                                  ("train_begin", {"params": model_state.jsonable(params)}))

    def on_epoch_begin(self, epoch: int, logs: Any = None) -> None:
        self.progress.update(epoch=epoch, batch=0)

    def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
        self.check()
        self.progress.update(epoch=epoch + 1, phase="fit")
        self.storage.set_progress(self.job_id, self.progress,
                                  ("epoch_end", {"epoch": epoch, "logs": _plain_logs(logs)}))

    def on_test_begin(self, logs: Any = None) -> None:
        if not self.progress:
            params = dict(self.params or {})
            self.progress = {"phase": "evaluate", "batch": 0, "steps": params.get("steps")}

    def on_predict_begin(self, logs: Any = None) -> None:
        params = dict(self.params or {})
        self.progress = {"phase": "predict", "batch": 0, "steps": params.get("steps")}

    def on_train_batch_end(self, batch: int, logs: Any = None) -> None:
        self._batch("fit", batch, logs)

    def on_test_batch_end(self, batch: int, logs: Any = None) -> None:
        self._batch("validation" if self.progress.get("phase") == "fit" else "evaluate",
                    batch, logs)

    def on_predict_batch_end(self, batch: int, logs: Any = None) -> None:
        self._batch("predict", batch, None)


def _plain_logs(logs: Any) -> dict[str, Any]:
    return {k: float(v) for k, v in (logs or {}).items()
            if isinstance(v, (int, float, np.floating, np.integer))}


class _Datasets:
    """Arrays of the job's datasets; each array is read once, and only if the job uses it."""

    def __init__(self, storage: Storage) -> None:
        self.storage = storage
        self.arrays: dict[tuple[str, str], np.ndarray] = {}

    def _array(self, dataset_id: str, name: str) -> np.ndarray:
        if (dataset_id, name) not in self.arrays:
            row = self.storage.get_dataset(None, dataset_id)
            if row is None:
                raise ValueError(f"dataset {dataset_id!r} was deleted")
            path = self.storage.blobs.path(row["blob"])
            self.arrays[dataset_id, name] = wire.read_npz_array(path, name)
        return self.arrays[dataset_id, name]

    def resolve(self, ref: dict[str, Any] | None) -> Any:
        if ref is None:
            return None
        names = ref["arrays"]
        if isinstance(names, str):
            return self._array(ref["dataset_id"], names)
        if isinstance(names, list):
            return [self._array(ref["dataset_id"], n) for n in names]
        return {key: self._array(ref["dataset_id"], n) for key, n in names.items()}


def _fit_kwargs(spec: dict[str, Any], data: _Datasets) -> dict[str, Any]:
    kwargs = dict(spec["arguments"])
    if "class_weight" in kwargs and kwargs["class_weight"] is not None:
        kwargs["class_weight"] = {int(k): v for k, v in kwargs["class_weight"].items()}
    val = spec.get("validation_data")
    if val is not None:
        parts = [data.resolve(val["x"]), data.resolve(val["y"])]
        if val.get("sample_weight") is not None:
            parts.append(data.resolve(val["sample_weight"]))
        kwargs["validation_data"] = tuple(parts)
    return kwargs


def pushed_batches(storage: Storage, job: dict[str, Any], progress: JobProgress,
                   poll_interval: float = 0.05) -> Iterator[tuple[Any, ...]]:
    """The batches a client pushes to a streamed job, as a Keras generator yields them:
    ``(x,)``, ``(x, y)`` or ``(x, y, sample_weight)``. It stops at the client's end of data.

    Raises:
        BatchTimeout: when no batch came for the job's ``batch_timeout`` seconds.
    """
    job_id, timeout = job["id"], float(job["spec"]["batch_timeout"])
    while True:
        deadline = time.monotonic() + timeout
        delay = 0.001
        while True:
            blob, ended = storage.take_batch(job_id)
            if blob is not None or ended:
                break
            progress.check()
            if time.monotonic() >= deadline:
                raise BatchTimeout(
                    f"batch_timeout: no batch arrived for {timeout:g} s (the client stopped "
                    "pushing batches without signalling the end of its data)")
            time.sleep(delay)
            delay = min(delay * 2, poll_interval)
        if blob is None:
            return
        try:
            arrays = wire.decode_arrays(storage.blobs.read(blob))
        finally:
            storage.blobs.delete([blob])
        parts = [split_arrays(arrays, "x")]
        if job["kind"] != "predict":
            parts.append(split_arrays(arrays, "y"))
            sw = split_arrays(arrays, "sample_weight")
            if sw is not None:
                parts.append(sw)
        yield tuple(parts)


def server_callbacks(spec: dict[str, Any]) -> list[Callback]:
    """The job's built-in callbacks (checked when the job was created), run before the
    progress callback so that its events carry what they add to the logs (``lr``)."""
    return [getattr(callbacks_module, c["class_name"])(**c["config"])
            for c in spec.get("callbacks") or []]


def _learning_rate(model: Any) -> float | None:
    lr = getattr(model.optimizer, "learning_rate", None)
    return None if lr is None else float(lr)


def _changed_learning_rate(model: Any, before: float | None) -> float | None:
    """The learning rate a callback set during the fit, to store with the model."""
    after = _learning_rate(model)
    return after if after != before else None


def _run_streamed(storage: Storage, job: dict[str, Any], model: Any, progress: JobProgress,
                  kwargs: dict[str, Any], lr: float | None = None) -> None:
    job_id, kind = job["id"], job["kind"]
    batches = pushed_batches(storage, job, progress)
    # workers=0: the batches are already queued on the server; read them in this thread.
    if kind == "fit":
        history = model.fit(batches, verbose=0, workers=0, **kwargs,
                            callbacks=[*server_callbacks(job["spec"]), progress])
        state = model_state.save_state(storage, model)
        storage.finish_job(job_id, "succeeded", history=_history(history), state=state,
                           learning_rate=_changed_learning_rate(model, lr))
    elif kind == "evaluate":
        logs = model.evaluate(batches, verbose=0, callbacks=[progress], workers=0,
                              return_dict=True, **kwargs)
        storage.finish_job(job_id, "succeeded", result=keras_result(model, logs))
    else:
        outputs = model.predict(batches, verbose=0, callbacks=[progress], workers=0, **kwargs)
        blob = storage.blobs.put(wire.encode_arrays(named_outputs(model, outputs)))
        storage.finish_job(job_id, "succeeded", result_blob=blob)


def run_job(storage: Storage, job: dict[str, Any], parent_pid: int) -> None:
    """Runs a claimed job to its end and records the outcome in the database."""
    job_id, spec, kind = job["id"], job["spec"], job["kind"]
    progress = JobProgress(storage, job_id, parent_pid)
    model = None
    try:
        row = storage.get_model(None, job["model_id"])
        if row is None:
            raise ValueError(f"model {job['model_id']!r} was deleted")
        model = model_state.load_model(storage, row)
        data = _Datasets(storage)
        x, y = data.resolve(spec["x"]), data.resolve(spec.get("y"))
        sw = data.resolve(spec.get("sample_weight"))
        kwargs = _fit_kwargs(spec, data)
        lr = _learning_rate(model) if model.optimizer is not None else None
        if spec.get("stream"):
            _run_streamed(storage, job, model, progress, kwargs, lr)
        elif kind == "fit":
            history = model.fit(x, y, sample_weight=sw, verbose=0,
                                callbacks=[*server_callbacks(spec), progress], **kwargs)
            state = model_state.save_state(storage, model)
            storage.finish_job(job_id, "succeeded", history=_history(history), state=state,
                               learning_rate=_changed_learning_rate(model, lr))
        elif kind == "evaluate":
            logs = model.evaluate(x, y, sample_weight=sw, verbose=0, callbacks=[progress],
                                  return_dict=True, **kwargs)
            storage.finish_job(job_id, "succeeded", result=keras_result(model, logs))
        else:
            outputs = model.predict(x, verbose=0, callbacks=[progress], **kwargs)
            blob = storage.blobs.put(wire.encode_arrays(named_outputs(model, outputs)))
            storage.finish_job(job_id, "succeeded", result_blob=blob)
    except ServerGone:
        raise
    except JobCancelled:
        storage.finish_job(job_id, "cancelled", "cancelled at the client's request",
                           history=_history(getattr(model, "history", None)))
    except BatchTimeout as e:
        storage.finish_job(job_id, "failed", str(e),
                           history=_history(getattr(model, "history", None)))
    except Exception as e:
        full = _storage_full(e)
        if not full and not isinstance(e, (ValueError, RuntimeError, TypeError)):
            traceback.print_exc()
        reason = (f"storage is full ({getattr(e, 'strerror', None) or e}): nothing of this job "
                  "was stored and the model keeps the state it had before the job; free space "
                  "(delete datasets or models) and run it again") if full else (
                      f"{type(e).__name__}: {e}")
        storage.finish_job(job_id, "failed", reason,
                           history=_history(getattr(model, "history", None)))
    finally:
        if spec.get("stream"):
            storage.drop_batches(job_id)


def _storage_full(exc: BaseException) -> bool:
    """A write failed because the data dir's disk (or the file size limit) is full."""
    if isinstance(exc, OSError):
        return exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)
    return isinstance(exc, sqlite3.OperationalError) and "full" in str(exc)


def _history(history: Any) -> dict[str, Any] | None:
    if history is None or not hasattr(history, "history"):
        return None
    return model_state.jsonable({"history": history.history, "epoch": history.epoch,
                                 "params": history.params})
