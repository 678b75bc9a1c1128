"""``keras.models`` over the service: a Model that lives on a numkeras server.

A client ``Model`` is the vocabulary's functional graph; on its first method call it creates
itself on the server from ``to_json()`` (with its initial weights), and every Keras method then
runs there: ``fit`` / ``evaluate`` / ``predict`` as jobs whose events drive the callbacks and the
progress bar here, ``*_on_batch`` as synchronous calls.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
import threading
from collections.abc import Callable
from typing import Any

import numpy as np

from numkeras import activations, losses, metrics, optimizers, wire
from numkeras import callbacks as callbacks_module
from numkeras.client.connection import Connection, error_for, get_connection
from numkeras.client.data import GeneratorFeed, batch_arrays, finite, num_samples
from numkeras.graph.functional import Functional
from numkeras.graph.keras_tensor import KerasTensor
from numkeras.layers.layer import Layer
from numkeras.utils.data_utils import is_generator_like
from numkeras.utils.generator_methods import GeneratorMethods
from numkeras.utils.method_args import check_callbacks, check_verbose, validation_schedule

__all__ = ["Model", "get_model", "load_model", "model_from_config", "model_from_json",
           "save_model"]

_COMPILE_EXTRAS = {"run_eagerly", "steps_per_execution", "jit_compile", "pss_evaluation_shards"}
# Callbacks that only watch a fit: a fit with no others runs as one job.
_PASSIVE_CALLBACKS = (callbacks_module.History, callbacks_module.ProgbarLogger,
                      callbacks_module.BaseLogger)
_TERMINAL = ("succeeded", "failed", "cancelled")
# Built-in callbacks that are pure configuration: a fit with no other active callback sends
# them to the server, which runs them in the job (one job, not one per epoch).
_SERVER_CALLBACKS = (callbacks_module.EarlyStopping, callbacks_module.ReduceLROnPlateau,
                     callbacks_module.TerminateOnNaN)


class Model(GeneratorMethods, Functional):
    """``Model(inputs=a, outputs=b)``: a functional model trained on a numkeras server.

    Attributes:
        id: The model's id on the server (it is created there on first use).
        optimizer: The optimizer given to ``compile`` (its ``learning_rate`` is what the
            ``LearningRateScheduler`` and ``ReduceLROnPlateau`` callbacks change).
        history: The ``History`` of the last ``fit``.
        stop_training: Set by a callback to stop ``fit`` after the current epoch.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        if len(args) > 2:
            raise TypeError("Model(inputs, outputs, name=None): too many positional arguments.")
        if args:
            kwargs.setdefault("inputs", args[0])
        if len(args) > 1:
            kwargs.setdefault("outputs", args[1])
        super().__init__(**kwargs)
        self.optimizer: Any = None
        self.stop_training = False
        self.history: Any = None
        self._conn: Connection | None = None
        self._id: str | None = None
        self._is_compiled = False
        self._metrics_names: list[str] = []
        self._server_lr: float | None = None

    # -------------------------------------------------------------- the server
    @property
    def id(self) -> str:
        """The model's id on the server; creates the model there if it is not yet."""
        return self._ensure()

    @property
    def connection(self) -> Connection:
        if self._conn is None:
            self._conn = get_connection()
        return self._conn

    def _ensure(self) -> str:
        if self._id is None:
            _check_activations(self)
            conn = self.connection
            info = conn.json("POST", "/models", json={"config": json.loads(self.to_json())})
            self._id = info["id"]
            self._put_weights([w.numpy() for w in super().weights])
        return self._id

    def _path(self, suffix: str = "") -> str:
        return f"/models/{self._ensure()}{suffix}"

    def _attach(self, info: dict[str, Any], conn: Connection) -> Model:
        """Binds this (rebuilt) model to an existing server model."""
        self._conn, self._id = conn, info["id"]
        if info.get("compiled"):
            self._is_compiled = True
            self._metrics_names = list(info["metrics_names"])
            config = info["training_config"] or {}
            self.optimizer = optimizers.get(config.get("optimizer_config", "rmsprop"))
            self._server_lr = _learning_rate(self.optimizer)
        return self

    # ----------------------------------------------------------------- compile
    def compile(self, optimizer: Any = "rmsprop", loss: Any = None, metrics: Any = None,
                loss_weights: Any = None, sample_weight_mode: Any = None,
                weighted_metrics: Any = None, target_tensors: Any = None,
                **kwargs: Any) -> None:
        """Configures the model for training (checked on the server).

        Raises:
            ValueError: for an invalid argument, naming it, and for a custom Python loss or
                metric (no code is shipped to the server).
        """
        unknown = set(kwargs) - _COMPILE_EXTRAS
        if unknown:
            raise ValueError(f"compile: invalid keyword argument(s) {sorted(unknown)}.")
        if target_tensors is not None:
            raise ValueError("compile: target_tensors is not supported by numkeras.client; pass "
                             "the targets as `y` to fit / evaluate.")
        try:
            opt = optimizers.get(optimizer)
        except ValueError as e:
            raise ValueError(f"compile: invalid optimizer {optimizer!r}: {e}") from None
        if type(opt).__module__.split(".")[0] != "numkeras":
            raise ValueError(f"compile: optimizer {type(opt).__name__} is custom Python code; "
                             "numkeras.client ships no code to the server. Use one of: "
                             + ", ".join(sorted(optimizers._CLASSES)) + ".")
        request = {
            "optimizer": optimizers.serialize(opt),
            "loss": _as_json(loss, "loss"),
            "metrics": _as_json(metrics, "metric"),
            "loss_weights": _plain_weights(loss_weights),
            "sample_weight_mode": sample_weight_mode,
            "weighted_metrics": _as_json(weighted_metrics, "metric"),
        }
        result = self.connection.json("PUT", self._path("/compile"), json=request)
        self.optimizer = opt
        self._server_lr = _learning_rate(opt)
        self._metrics_names = list(result["metrics_names"])
        self._is_compiled = True

    @property
    def metrics_names(self) -> list[str]:
        """``loss``, then ``<output>_loss`` per output (multi-output), then the metrics."""
        return list(self._metrics_names)

    def reset_metrics(self) -> None:
        """Nothing to reset: every server call starts its metrics afresh."""

    def _assert_compiled(self, method: str) -> None:
        if not self._is_compiled:
            raise RuntimeError("You must compile your model before training/testing. Use "
                               f"`model.compile(optimizer, loss)` before `{method}`.")

    def _sync_learning_rate(self) -> None:
        """Sends a learning rate a callback changed; the optimizer keeps its state (momenta
        and iterations), as in Keras."""
        lr = _learning_rate(self.optimizer)
        if lr is None or lr == self._server_lr:
            return
        self.connection.json("PATCH", self._path("/optimizer"), json={"learning_rate": lr})
        self._server_lr = lr

    def _fetch_learning_rate(self) -> None:
        """Takes the learning rate a server-side callback left (``ReduceLROnPlateau``)."""
        config = self.connection.json("GET", self._path())["training_config"] or {}
        lr = config.get("optimizer_config", {}).get("config", {}).get("learning_rate")
        if lr is not None and self.optimizer is not None:
            self.optimizer.learning_rate = float(lr)
            self._server_lr = _learning_rate(self.optimizer)

    # ------------------------------------------------------------------ jobs
    def _run_job(self, spec: dict[str, Any], on_event: Callable[[str, dict], None],
                 push: Callable[[str, threading.Event], None] | None = None) -> str:
        """Creates a job, feeds its events to ``on_event`` until it ends; returns its id.

        ``push`` (a streamed job's batches) runs in a thread while the events are read.
        Ctrl-C (or an error in a callback or the generator) cancels the remote job and is
        re-raised."""
        conn = self.connection
        job_id = conn.json("POST", "/jobs", json={"model_id": self._ensure(), **spec})["id"]

        def cancel() -> None:
            try:
                conn.request("POST", f"/jobs/{job_id}/cancel")
            except (ConnectionError, ValueError, RuntimeError):
                pass

        stop, failure = threading.Event(), []
        pusher = None
        if push is not None:
            def run_push() -> None:
                try:
                    push(job_id, stop)
                except BaseException as e:  # the generator's or the server's error
                    if not stop.is_set():
                        failure.append(e)
                        cancel()

            pusher = threading.Thread(target=run_push, name="numkeras-batches", daemon=True)
            pusher.start()
        final: dict[str, Any] = {}
        try:
            for _, kind, data in conn.stream_events(job_id):
                if kind == "status":
                    if data.get("status") in _TERMINAL:
                        final = data
                else:
                    on_event(kind, data)
        except BaseException:
            stop.set()
            cancel()
            raise
        finally:
            stop.set()
        if pusher is not None:
            pusher.join()
        if not final:
            final = conn.json("GET", f"/jobs/{job_id}")
        if final.get("status") == "failed" or not failure:
            if final.get("status") != "succeeded":
                raise error_for(final.get("error") or f"the {spec['kind']} job was "
                                f"{final.get('status')}")
        if failure:
            raise failure[0]
        return job_id

    def _refs(self, x: Any, y: Any, sample_weight: Any, verbose: int) -> dict[str, Any]:
        conn = self.connection
        return {"x": conn.data_ref(x, verbose),
                "y": conn.data_ref(self._by_output(y), verbose),
                "sample_weight": conn.data_ref(self._by_output(sample_weight), verbose)}

    def _by_output(self, data: Any) -> Any:
        """A per-output list with None entries as a dict by output name (what a dataset
        reference can express)."""
        if isinstance(data, (list, tuple)) and any(d is None for d in data):
            if len(data) != len(self.output_names):
                raise ValueError(f"The model has {len(self.output_names)} outputs "
                                 f"{self.output_names}, but {len(data)} arrays were given.")
            return {n: d for n, d in zip(self.output_names, data, strict=True) if d is not None}
        return data

    # --------------------------------------------------------------------- fit
    def fit(self, x: Any = None, y: Any = None, batch_size: int | None = None,
            epochs: int = 1, verbose: Any = 1, callbacks: Any = None,
            validation_split: float = 0.0, validation_data: Any = None, shuffle: Any = True,
            class_weight: Any = None, sample_weight: Any = None, initial_epoch: int = 0,
            steps_per_epoch: int | None = None, validation_steps: int | None = None,
            validation_freq: Any = 1, max_queue_size: int = 10, workers: int = 1,
            use_multiprocessing: bool = False, **kwargs: Any) -> Any:
        """Trains the model on the server for ``epochs`` epochs and returns its History.

        Callbacks run here on the job's events. A fit with callbacks other than History and
        the progress bar, or fed by a generator, runs as one job per epoch, so that a callback
        sees the model after each epoch and ``stop_training`` stops before the next one.

        Raises:
            RuntimeError: if the model was never compiled.
            ValueError: for arguments or data that do not fit the model.
        """
        if "nb_epoch" in kwargs:
            epochs = kwargs.pop("nb_epoch")
        if kwargs:
            raise TypeError(f"fit: unrecognized keyword arguments: {sorted(kwargs)}")
        self._assert_compiled("fit")
        self._sync_learning_rate()
        verbose = check_verbose(verbose, "fit")
        cb_list = check_callbacks(callbacks)
        conn = self.connection
        feed = val_feed = None
        args: dict[str, Any] = {"kind": "fit", "shuffle": shuffle,
                                "class_weight": _class_weight(class_weight),
                                "validation_steps": validation_steps,
                                "validation_freq": validation_freq}
        try:
            if is_generator_like(x):
                if y is not None or sample_weight is not None:
                    raise ValueError("fit: `y` and `sample_weight` are not supported when using "
                                     "a generator or Sequence as input (they come from it).")
                if validation_split:
                    raise ValueError("fit: `validation_split` is not supported when using a "
                                     "generator or Sequence as input; use validation_data.")
                feed = GeneratorFeed(conn, x, steps_per_epoch, workers, use_multiprocessing,
                                     max_queue_size, bool(shuffle), epochs - initial_epoch, "fit",
                                     (self.input_names, self.output_names))
                steps, samples = feed.steps_per_epoch, None
                args["shuffle"] = None  # the client orders the batches
            else:
                if x is None:
                    raise ValueError("fit: `x` (the input data) is required.")
                args.update(self._refs(x, y, sample_weight, verbose),
                            batch_size=batch_size, steps_per_epoch=steps_per_epoch,
                            validation_split=validation_split or None)
                n = num_samples(x)
                if validation_split and validation_data is None:
                    n = int(math.floor(n * (1.0 - validation_split)))
                steps = steps_per_epoch or math.ceil(n / (batch_size or 32))
                samples = n
            if validation_data is not None:
                if is_generator_like(validation_data):
                    # Read epoch by epoch (a plain generator goes on where it stopped).
                    val_feed = GeneratorFeed(conn, validation_data, validation_steps, workers,
                                             use_multiprocessing, max_queue_size, False, None,
                                             "fit validation_data")
                    refs = {}
                    args["validation_steps"] = None
                else:
                    if (not isinstance(validation_data, (tuple, list))
                            or len(validation_data) not in (2, 3)):
                        raise ValueError("fit: validation_data should be a tuple `(x_val, "
                                         "y_val)` or `(x_val, y_val, val_sample_weights)`, or a "
                                         "generator / Sequence.")
                    refs = self._refs(validation_data[0], validation_data[1],
                                      validation_data[2] if len(validation_data) == 3 else None,
                                      verbose)
                if refs:
                    args["validation_data"] = {k: v for k, v in refs.items()
                                               if k in ("x", "y", "sample_weight")}
                args["validation_split"] = None
            do_validation = validation_data is not None or bool(validation_split)
            names = self.metrics_names
            cbks = callbacks_module.CallbackList(
                cb_list, add_history=True, add_progbar=verbose != 0, model=self,
                verbose=verbose, epochs=epochs, steps=steps, samples=samples,
                batch_size=batch_size or (32 if samples else None), do_validation=do_validation,
                metrics=names + [f"val_{m}" for m in names] if do_validation else names)
            on_server = [cb for cb in cb_list if type(cb) in _SERVER_CALLBACKS]
            stepwise = (feed is not None or val_feed is not None
                        or any(not isinstance(cb, (*_PASSIVE_CALLBACKS, *_SERVER_CALLBACKS))
                               for cb in cb_list))
            if stepwise:
                on_server = []
            elif on_server:
                args["callbacks"] = [_callback_config(cb) for cb in on_server]
                # Here they only follow the events (attributes such as ``stopped_epoch`` and
                # their messages); the server's run is the one that acts on the model.
                shadow = _ShadowModel(self.optimizer)
                for cb in on_server:
                    cb.set_model(shadow)
            self.stop_training = False
            cbks.on_train_begin()
            logs = (self._fit_by_epoch(args, cbks, feed, val_feed, initial_epoch, epochs, verbose)
                    if stepwise else self._fit_one_job(args, cbks, initial_epoch, epochs,
                                                       eager_begin=not on_server))
            cbks.on_train_end(logs)
            if on_server:
                for cb in on_server:
                    cb.set_model(self)
                stored = self.history.epoch if self.history is not None else []
                self.stop_training = len(stored) < epochs - initial_epoch
                if any(isinstance(cb, callbacks_module.ReduceLROnPlateau) for cb in on_server):
                    self._fetch_learning_rate()
        finally:
            for f in (feed, val_feed):
                if f is not None:
                    f.close()
        return self.history

    def _fit_events(self, cbks: Any, state: dict[str, Any], defer: bool = False,
                    eager_begin: bool = True) -> Callable[[str, dict], None]:
        """Drives the callbacks from a fit job's events. Batch events come throttled (the
        server sends a few per second); with ``defer`` an epoch's end waits for the job to
        end, so that callbacks see the model with that epoch's weights. Without
        ``eager_begin`` (a server-side callback may stop the fit) an epoch begins here at its
        first event rather than at the previous epoch's end."""
        def on_event(kind: str, data: dict[str, Any]) -> None:
            if kind == "batch" and data.get("phase") == "fit":
                epoch = data.get("epoch")
                if epoch is not None and state.get("epoch") != epoch:
                    state["epoch"] = epoch
                    cbks.on_epoch_begin(epoch)
                state["last_batch"] = data["batch"]
                cbks.on_train_batch_begin(data["batch"], {"batch": data["batch"]})
                cbks.on_train_batch_end(data["batch"], finite(data.get("logs") or {}))
            elif kind == "epoch_end":
                if state.get("epoch") != data["epoch"]:
                    state["epoch"] = data["epoch"]
                    cbks.on_epoch_begin(data["epoch"])
                state["pending"] = (data["epoch"], finite(data["logs"]))
                if not defer:
                    self._end_epoch(cbks, state)
                    # The next epoch starts now on the server: its progress bar too.
                    if eager_begin and data["epoch"] + 1 < (cbks.params.get("epochs") or 0):
                        state["epoch"] = data["epoch"] + 1
                        cbks.on_epoch_begin(data["epoch"] + 1)
        return on_event

    def _end_epoch(self, cbks: Any, state: dict[str, Any]) -> None:
        epoch, logs = state.pop("pending")
        last = (cbks.params.get("steps") or 0) - 1
        if state.get("last_batch", -1) < last:
            # The epoch's last batch, which the throttled events may have skipped: its logs
            # are the epoch's training logs (TerminateOnNaN and friends look at them).
            train_logs = {k: v for k, v in logs.items() if not k.startswith("val_")}
            cbks.on_train_batch_begin(last, {"batch": last})
            cbks.on_train_batch_end(last, train_logs)
        state["last_batch"] = -1
        state["logs"] = logs
        cbks.on_epoch_end(epoch, logs)

    def _fit_one_job(self, args: dict[str, Any], cbks: Any, initial_epoch: int,
                     epochs: int, eager_begin: bool = True) -> dict[str, Any]:
        state: dict[str, Any] = {"epoch": initial_epoch}
        cbks.on_epoch_begin(initial_epoch)
        job_id = self._run_job({**_drop_none(args), "epochs": epochs,
                                "initial_epoch": initial_epoch},
                               self._fit_events(cbks, state, eager_begin=eager_begin))
        stored = self.connection.json("GET", f"/jobs/{job_id}/history")
        if self.history is not None:
            self.history.history = finite(stored["history"])
            self.history.epoch = list(stored["epoch"])
        return state.get("logs", {})

    def _fit_by_epoch(self, args: dict[str, Any], cbks: Any, feed: GeneratorFeed | None,
                      val_feed: GeneratorFeed | None, initial_epoch: int, epochs: int,
                      verbose: int) -> dict[str, Any]:
        validate_on = validation_schedule(args.get("validation_freq", 1))
        logs: dict[str, Any] = {}
        for epoch in range(initial_epoch, epochs):
            state: dict[str, Any] = {"epoch": epoch}
            cbks.on_epoch_begin(epoch)
            self._sync_learning_rate()
            spec = dict(args, epochs=epoch + 1, initial_epoch=epoch)
            push = None
            if feed is not None:
                data, push = feed.job_data("fit", verbose)
                spec.update(data)
            if val_feed is not None:
                spec.pop("validation_data", None)
                if validate_on(epoch + 1):
                    refs = val_feed.epoch(verbose)
                    spec["validation_data"] = {k: refs[k] for k in ("x", "y", "sample_weight")}
            self._run_job(_drop_none(spec), self._fit_events(cbks, state, defer=True), push)
            if "pending" in state:
                self._end_epoch(cbks, state)
            logs = state.get("logs", logs)
            if feed is not None and feed.exhausted:
                self.stop_training = True
            if self.stop_training:
                break
        return logs

    # ---------------------------------------------------------------- evaluate
    def evaluate(self, x: Any = None, y: Any = None, batch_size: int | None = None,
                 verbose: Any = 1, sample_weight: Any = None, steps: int | None = None,
                 callbacks: Any = None, max_queue_size: int = 10, workers: int = 1,
                 use_multiprocessing: bool = False, return_dict: bool = False,
                 **kwargs: Any) -> Any:
        """Loss and metrics in test mode: a scalar, or a list in ``metrics_names`` order.

        Raises:
            RuntimeError: if the model was never compiled.
            ValueError: for arguments or data that do not fit the model.
        """
        if kwargs:
            raise TypeError(f"evaluate: unrecognized keyword arguments: {sorted(kwargs)}")
        self._assert_compiled("evaluate")
        verbose = check_verbose(verbose, "evaluate")
        spec: dict[str, Any] = {"kind": "evaluate"}
        feed, push = None, None
        if is_generator_like(x):
            if y is not None or sample_weight is not None:
                raise ValueError("evaluate: `y` and `sample_weight` are not supported when using "
                                 "a generator or Sequence as input.")
            feed = GeneratorFeed(self.connection, x, steps, workers, use_multiprocessing,
                                 max_queue_size, False, 1, "evaluate",
                                 (self.input_names, self.output_names))
            data, push = feed.job_data("evaluate", verbose)
            spec.update(data)
            n_steps = feed.steps_per_epoch
        else:
            if x is None:
                raise ValueError("evaluate: `x` (the input data) is required.")
            spec.update(self._refs(x, y, sample_weight, verbose), batch_size=batch_size,
                        steps=steps)
            n_steps = steps or math.ceil(num_samples(x) / (batch_size or 32))
        cbks = callbacks_module.CallbackList(
            check_callbacks(callbacks), add_progbar=verbose != 0, model=self, verbose=verbose,
            epochs=1, steps=n_steps)
        cbks.on_test_begin()

        def on_event(kind: str, data: dict[str, Any]) -> None:
            if kind == "batch" and data.get("phase") == "evaluate":
                cbks.on_test_batch_begin(data["batch"], {"batch": data["batch"]})
                cbks.on_test_batch_end(data["batch"], finite(data.get("logs") or {}))

        try:
            job_id = self._run_job(_drop_none(spec), on_event, push)
        finally:
            if feed is not None:
                feed.close()
        result = self.connection.json("GET", f"/jobs/{job_id}/result")
        logs = finite(result["logs"])
        cbks.on_test_end(logs)
        return logs if return_dict else finite(result["result"])

    # ----------------------------------------------------------------- predict
    def predict(self, x: Any, batch_size: int | None = None, verbose: Any = 0,
                steps: int | None = None, callbacks: Any = None, max_queue_size: int = 10,
                workers: int = 1, use_multiprocessing: bool = False) -> Any:
        """Outputs for the input samples, computed on the server in batches, in input order.

        Raises:
            ValueError: for data that does not fit the model.
        """
        verbose = check_verbose(verbose, "predict")
        spec: dict[str, Any] = {"kind": "predict"}
        feed, push = None, None
        if is_generator_like(x):
            feed = GeneratorFeed(self.connection, x, steps, workers, use_multiprocessing,
                                 max_queue_size, False, 1, "predict",
                                 (self.input_names, self.output_names))
            data, push = feed.job_data("predict", verbose)
            spec.update(x=data.get("x"), batch_size=data.get("batch_size"),
                        **{k: data[k] for k in ("stream", "steps", "max_queue_size")
                           if k in data})
            n_steps = feed.steps_per_epoch
        else:
            if x is None:
                raise ValueError("predict: `x` (the input data) is required.")
            spec.update(x=self.connection.data_ref(x, verbose), batch_size=batch_size,
                        steps=steps)
            n_steps = steps or math.ceil(num_samples(x) / (batch_size or 32))
        cbks = callbacks_module.CallbackList(
            check_callbacks(callbacks), add_progbar=verbose != 0, model=self, verbose=verbose,
            epochs=1, steps=n_steps)
        cbks.on_predict_begin()

        def on_event(kind: str, data: dict[str, Any]) -> None:
            if kind == "batch" and data.get("phase") == "predict":
                cbks.on_predict_batch_begin(data["batch"], {"batch": data["batch"]})
                cbks.on_predict_batch_end(data["batch"], {})

        try:
            job_id = self._run_job(_drop_none(spec), on_event, push)
        finally:
            if feed is not None:
                feed.close()
        body = self.connection.request("GET", f"/jobs/{job_id}/result").content
        cbks.on_predict_end()
        return self._format_outputs(wire.decode_arrays(body))

    def _format_outputs(self, by_name: dict[str, np.ndarray]) -> Any:
        if self._output_dict_keys is not None:
            return {k: by_name[k] for k in self._output_dict_keys}
        outs = [by_name[n] for n in self.output_names]
        return outs[0] if len(outs) == 1 else outs

    # ---------------------------------------------------------------- on batch
    def _on_batch(self, method: str, x: Any, y: Any, sample_weight: Any,
                  params: dict[str, str] | None = None) -> Any:
        arrays = {**batch_arrays("x", x, self.input_names),
                  **batch_arrays("y", y, self.output_names),
                  **batch_arrays("sample_weight", sample_weight, self.output_names)}
        if not any(k == "x" or k.startswith("x:") for k in arrays):
            raise ValueError(f"{method}: `x` (the input data) is required.")
        return self.connection.request(
            "POST", self._path(f"/{method}"), content=wire.encode_arrays(arrays),
            headers={"Content-Type": wire.NPZ_MEDIA_TYPE}, params=params or None)

    def train_on_batch(self, x: Any, y: Any = None, sample_weight: Any = None,
                       class_weight: Any = None, reset_metrics: bool = True,
                       return_dict: bool = False) -> Any:
        """One gradient update on the server; returns the loss (and metrics) of the batch.

        Raises:
            ValueError: for ``reset_metrics=False`` (every server call starts its metrics
                afresh), or data that does not fit the model.
        """
        self._assert_compiled("train_on_batch")
        _check_reset_metrics(reset_metrics, "train_on_batch")
        self._sync_learning_rate()
        cw = _class_weight(class_weight)
        result = self._on_batch("train_on_batch", x, y, sample_weight,
                                {"class_weight": json.dumps(cw)} if cw else None).json()
        return finite(result["logs"] if return_dict else result["result"])

    def test_on_batch(self, x: Any, y: Any = None, sample_weight: Any = None,
                      reset_metrics: bool = True, return_dict: bool = False) -> Any:
        """Loss (and metrics) of the model on one batch, in test mode."""
        self._assert_compiled("test_on_batch")
        _check_reset_metrics(reset_metrics, "test_on_batch")
        result = self._on_batch("test_on_batch", x, y, sample_weight).json()
        return finite(result["logs"] if return_dict else result["result"])

    def predict_on_batch(self, x: Any) -> Any:
        """Outputs for one batch of samples."""
        body = self._on_batch("predict_on_batch", x, None, None).content
        return self._format_outputs(wire.decode_arrays(body))

    def __call__(self, inputs: Any, training: bool | None = None, **kwargs: Any) -> Any:
        """Symbolic tensors connect the model as a layer; arrays run it on the server."""
        flat = inputs if isinstance(inputs, (list, tuple)) else [inputs]
        if isinstance(inputs, dict) or any(isinstance(t, KerasTensor) for t in flat):
            if training is not None:
                kwargs["training"] = training
            return super().__call__(inputs, **kwargs)
        return self.predict_on_batch(inputs)




    # ----------------------------------------------------------------- weights
    def get_weights(self) -> list[np.ndarray]:
        """The model's weights on the server, in Keras's order."""
        arrays = wire.decode_arrays(self.connection.request("GET", self._path("/weights"))
                                    .content)
        return [arrays[f"arr_{i}"] for i in range(len(arrays))]

    def set_weights(self, weights: list[Any]) -> None:
        """Sets the weights on the server (numpy arrays, in ``get_weights`` order).

        Raises:
            ValueError: for a wrong number of arrays or a wrong shape.
        """
        weights = [np.asarray(w) for w in weights]
        super().set_weights(weights)
        if self._id is None:
            self._ensure()  # creates the model with these weights
        else:
            self._put_weights(weights)

    def _put_weights(self, weights: list[np.ndarray]) -> None:
        body = wire.encode_arrays({f"arr_{i}": w for i, w in enumerate(weights)})
        self.connection.request("PUT", self._path("/weights"), content=body,
                                headers={"Content-Type": wire.NPZ_MEDIA_TYPE})

    @property
    def layers(self) -> list[Layer]:
        """Every layer, in Keras's order; their ``get_weights`` / ``set_weights`` read and
        write the server's weights."""
        return [self._bind(layer) for layer in super().layers]

    def get_layer(self, name: str | None = None, index: int | None = None) -> Layer:
        """The layer by ``index`` or ``name``; its ``get_weights`` / ``set_weights`` read and
        write the server's weights.

        Raises:
            ValueError: for an index out of range, an unknown name, or neither argument.
        """
        return self._bind(super().get_layer(name=name, index=index))

    def _bind(self, layer: Layer) -> Layer:
        """Points the layer's ``get_weights`` / ``set_weights`` at this model on the server
        (the vocabulary layer holds the weights it was built with, not the trained ones)."""
        if vars(layer).get("_client_model") is not self and layer.weights:
            layer._client_model = self
            layer.get_weights = lambda: self._layer_weights(layer)
            layer.set_weights = lambda weights: self._set_layer_weights(layer, weights)
        return layer

    def _weight_slots(self, layer: Layer) -> list[int]:
        ids = [id(w) for w in super().weights]
        return [ids.index(id(w)) for w in layer.weights]

    def _layer_weights(self, layer: Layer) -> list[np.ndarray]:
        weights = self.get_weights()
        return [weights[i] for i in self._weight_slots(layer)]

    def _set_layer_weights(self, layer: Layer, weights: list[Any]) -> None:
        type(layer).set_weights(layer, weights)  # checks the count and the shapes
        all_weights = self.get_weights()
        for i, w in zip(self._weight_slots(layer), weights, strict=True):
            all_weights[i] = np.asarray(w)
        self._put_weights(all_weights)

    # ------------------------------------------------------------------ saving
    def save(self, filepath: Any, overwrite: bool = True, include_optimizer: bool = True,
             save_format: str | None = None, **kwargs: Any) -> None:
        """Writes the Keras 2 HDF5 file of the server's model (architecture, weights,
        compile settings and optimizer state) to the local ``filepath``."""
        body = self.connection.request("GET", self._path("/hdf5")).content
        _write(filepath, body, overwrite)
        if not include_optimizer:
            import h5py

            with h5py.File(filepath, "a") as f:
                if "optimizer_weights" in f:
                    del f["optimizer_weights"]

    def save_weights(self, filepath: Any, overwrite: bool = True,
                     save_format: str | None = None, **kwargs: Any) -> None:
        """Writes the server's weights to a local file in Keras 2's HDF5 weights layout."""
        import h5py

        if not overwrite and os.path.exists(filepath):
            raise ValueError(f"save_weights: {filepath!r} exists and overwrite=False.")
        with tempfile.TemporaryDirectory() as tmp:
            full = os.path.join(tmp, "model.h5")
            self.save(full)
            with h5py.File(full, "r") as src, h5py.File(filepath, "w") as dst:
                group = src["model_weights"]
                for key, value in group.attrs.items():
                    dst.attrs[key] = value
                for name in group:
                    src.copy(group[name], dst, name=name)

    def load_weights(self, filepath: Any, by_name: bool = False, skip_mismatch: bool = False,
                     **kwargs: Any) -> None:
        """Loads weights from a local Keras 2 HDF5 file (weights or whole model), by
        topology or ``by_name``, and sets them on the server.

        Raises:
            ValueError: when the file's layers or shapes do not fit the model.
        """
        weights = self.get_weights()
        slots = {layer.name: self._weight_slots(layer) for layer in super().layers
                 if layer.weights}
        for name, values in _read_h5_weights(filepath, list(slots), by_name):
            positions = slots[name]
            if len(values) != len(positions):
                if skip_mismatch:
                    continue
                raise ValueError(f"load_weights: layer {name!r} expects {len(positions)} "
                                 f"weights, but the file has {len(values)}.")
            if any(weights[p].shape != v.shape for p, v in zip(positions, values, strict=True)):
                if skip_mismatch:
                    continue
                raise ValueError(f"load_weights: layer {name!r} expects weights of shapes "
                                 f"{[weights[p].shape for p in positions]}, the file has "
                                 f"{[v.shape for v in values]}.")
            for p, v in zip(positions, values, strict=True):
                weights[p] = v
        self.set_weights(weights)

    @classmethod
    def from_config(cls, config: dict[str, Any], custom_objects: Any = None) -> Model:
        custom = dict(custom_objects or {})
        custom.setdefault("Model", cls)
        custom.setdefault("Functional", cls)
        return super().from_config(config, custom_objects=custom)


# ------------------------------------------------------------------------ keras.models
def model_from_config(config: dict[str, Any], custom_objects: dict[str, Any] | None = None
                      ) -> Model:
    """Builds a client model from ``{"class_name": "Model" | "Functional", "config": ...}``."""
    return Model.from_model_config(config, custom_objects=custom_objects)


def model_from_json(json_string: str, custom_objects: dict[str, Any] | None = None) -> Model:
    """Parses a Keras JSON model configuration and returns a client Model."""
    return Model.from_json(json_string, custom_objects=custom_objects)


def save_model(model: Model, filepath: Any, overwrite: bool = True,
               include_optimizer: bool = True, **kwargs: Any) -> None:
    """``model.save(filepath)``."""
    model.save(filepath, overwrite=overwrite, include_optimizer=include_optimizer, **kwargs)


def load_model(filepath: Any, custom_objects: dict[str, Any] | None = None,
               compile: bool = True, **kwargs: Any) -> Model:
    """Uploads a local Keras 2 HDF5 model file; returns the new server model.

    Raises:
        ValueError: for a file the server cannot read as a Keras model.
    """
    conn = get_connection()
    with open(filepath, "rb") as f:
        body = f.read()
    info = conn.json("POST", "/models/hdf5", content=body,
                     headers={"Content-Type": "application/x-hdf5"})
    model = model_from_config(info["config"], custom_objects=custom_objects)._attach(info, conn)
    if not compile:
        model._is_compiled, model._metrics_names = False, []
    return model


def get_model(id_or_name: str) -> Model:
    """The server's model with this id, or the newest one with this name.

    Raises:
        ValueError: when the server has no such model for this API key.
    """
    conn = get_connection()
    try:
        info = conn.json("GET", f"/models/{id_or_name}")
    except ValueError:
        named = [m for m in conn.json("GET", "/models") if m["name"] == id_or_name]
        if not named:
            raise ValueError(f"get_model: no model with id or name {id_or_name!r} on "
                             f"{conn.url} (for this API key).") from None
        info = conn.json("GET", f"/models/{named[-1]['id']}")
    return model_from_config(info["config"])._attach(info, conn)


# ----------------------------------------------------------------------------- helpers
def _write(filepath: Any, body: bytes, overwrite: bool) -> None:
    if not overwrite and os.path.exists(filepath):
        raise ValueError(f"save: {filepath!r} exists and overwrite=False.")
    with open(filepath, "wb") as f:
        f.write(body)


def _decode(value: Any) -> str:
    return value.decode("utf8") if isinstance(value, bytes) else str(value)


def _read_h5_weights(filepath: Any, layer_names: list[str], by_name: bool
                     ) -> list[tuple[str, list[np.ndarray]]]:
    """``(model layer name, arrays)`` pairs of a Keras 2 HDF5 weights (or model) file."""
    import h5py

    with h5py.File(filepath, "r") as f:
        group = f["model_weights"] if "model_weights" in f else f
        stored = []
        for name in (_decode(n) for n in group.attrs["layer_names"]):
            weight_names = [_decode(n) for n in group[name].attrs["weight_names"]]
            if weight_names:
                stored.append((name, [np.asarray(group[name][w]) for w in weight_names]))
    if by_name:
        return [(name, values) for name, values in stored if name in layer_names]
    if len(stored) != len(layer_names):
        raise ValueError(f"load_weights: the file has weights for {len(stored)} layers, but the "
                         f"model has {len(layer_names)} layers with weights.")
    return [(model_name, values) for model_name, (_, values)
            in zip(layer_names, stored, strict=True)]


class _ShadowModel:
    """What a server-side callback sees in the client while it follows a job's events: the
    learning rate (a copy) and ``stop_training``; weights stay on the server."""

    def __init__(self, optimizer: Any) -> None:
        lr = _learning_rate(optimizer)
        self.optimizer = type("Optimizer", (), {"learning_rate": lr})()
        self.stop_training = False

    def get_weights(self) -> list[np.ndarray]:
        return []

    def set_weights(self, weights: list[np.ndarray]) -> None:
        pass


def _number(value: Any) -> Any:
    if value is None or isinstance(value, (bool, str)):
        return value
    value = float(value)
    return int(value) if value.is_integer() else value


def _callback_config(cb: Any) -> dict[str, Any]:
    """A built-in callback as the server's ``{"class_name", "config"}``. ``verbose`` is 0
    there: its messages are printed here, where the callback follows the events."""
    name = type(cb).__name__
    if isinstance(cb, callbacks_module.EarlyStopping):
        maximize = cb.monitor_op is np.greater
        config = {"monitor": cb.monitor, "min_delta": abs(float(cb.min_delta)),
                  "patience": _number(cb.patience), "mode": "max" if maximize else "min",
                  "baseline": None if cb.baseline is None else float(cb.baseline),
                  "restore_best_weights": bool(cb.restore_best_weights),
                  "start_from_epoch": _number(cb.start_from_epoch)}
    elif isinstance(cb, callbacks_module.ReduceLROnPlateau):
        config = {"monitor": cb.monitor, "factor": float(cb.factor),
                  "patience": _number(cb.patience), "mode": cb.mode,
                  "min_delta": float(cb.min_delta), "cooldown": _number(cb.cooldown),
                  "min_lr": float(cb.min_lr)}
    else:
        config = {}
    return {"class_name": name, "config": {**config, **({"verbose": 0} if config else {})}}


def _learning_rate(optimizer: Any) -> float | None:
    lr = getattr(optimizer, "learning_rate", None)
    return None if lr is None else float(lr)


def _drop_none(spec: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in spec.items() if v is not None}


def _class_weight(class_weight: Any) -> dict[str, float] | None:
    if class_weight is None:
        return None
    if not isinstance(class_weight, dict):
        raise ValueError(f"class_weight must be a dict of class index -> weight, got "
                         f"{class_weight!r}.")
    return {str(int(k)): float(v) for k, v in class_weight.items()}


def _plain_weights(loss_weights: Any) -> Any:
    if isinstance(loss_weights, dict):
        return {k: float(v) for k, v in loss_weights.items()}
    if isinstance(loss_weights, (list, tuple)):
        return [float(v) for v in loss_weights]
    return loss_weights







def _check_reset_metrics(reset_metrics: bool, method: str) -> None:
    if not reset_metrics:
        raise ValueError(f"{method}: reset_metrics=False is not supported by numkeras.client: "
                         "every server call computes the metrics of its own batch.")


def _builtin(obj: Any, module: Any) -> bool:
    """Whether ``obj`` is one of the vocabulary's own functions or classes' instances."""
    if isinstance(obj, type):
        return False
    if callable(obj) and not hasattr(obj, "get_config"):
        return any(obj is v for v in module._MODULE_OBJECTS.values())
    return type(obj).__module__ == module.__name__


def _builtin_names(module: Any) -> list[str]:
    return sorted(k for k, v in module._MODULE_OBJECTS.items()
                  if not (isinstance(v, type) and v.__name__ in
                          ("Loss", "LossFunctionWrapper", "Metric", "Reduce", "MeanMetricWrapper")))


def _as_json(value: Any, kind: str) -> Any:
    """A loss or metric argument as Keras JSON; custom Python code is refused."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, dict):
        return {k: _as_json(v, kind) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_as_json(v, kind) for v in value]
    module, plural = (losses, "losses") if kind == "loss" else (metrics, "metrics")
    if not _builtin(value, module):
        name = getattr(value, "__name__", None) or type(value).__name__
        raise ValueError(
            f"compile: {kind} {name!r} is custom Python code: numkeras.client ships no code to "
            f"the server, which runs the built-in {plural} only. Use one of: "
            + ", ".join(_builtin_names(module)) + ".")
    return module.serialize(value)


def _check_activations(model: Model) -> None:
    builtins = list(activations._ACTIVATIONS.values())
    for layer in model.layers:
        for attr in ("activation", "recurrent_activation"):
            fn = getattr(layer, attr, None)
            if fn is None or not callable(fn) or hasattr(fn, "get_config"):
                continue
            if not any(fn is b for b in builtins):
                raise ValueError(
                    f"Layer {layer.name!r}: {attr} {getattr(fn, '__name__', fn)!r} is custom "
                    "Python code: numkeras.client ships no code to the server, which runs the "
                    "built-in activations only. Use one of: "
                    + ", ".join(sorted(activations._ACTIVATIONS)) + ".")
