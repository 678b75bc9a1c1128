"""Model: the Keras 2 functional Model with compile, fit, evaluate, predict and friends."""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator
from typing import Any, NamedTuple

import numpy as np

from numkeras import callbacks as callbacks_module
from numkeras import losses as losses_module
from numkeras import optimizers
from numkeras.engine import data_adapter as da
from numkeras.engine.compile_utils import CompiledLoss, CompiledMetrics, map_to_outputs
from numkeras.engine.graph_runner import GraphRunner, PreActivationGrad
from numkeras.engine.ops import activations as act_ops
from numkeras.engine.ops import loss_kernels
from numkeras.engine.updates import apply_gradients
from numkeras.graph.functional import Functional
from numkeras.graph.keras_tensor import KerasTensor
from numkeras.utils.data_utils import (
    BatchSource,
    Sequence,
    is_generator_like,
    unpack_x_y_sample_weight,
)
from numkeras.utils.generator_methods import GeneratorMethods
from numkeras.utils.method_args import (
    check_batch_size,
    check_callbacks,
    check_int,
    check_verbose,
    validation_schedule,
)

_COMPILE_EXTRAS = {"run_eagerly", "steps_per_execution", "jit_compile", "pss_evaluation_shards"}
_SPARSE_LOSSES = ("sparse_categorical_crossentropy",)


class Model(GeneratorMethods, Functional):
    """``Model(inputs=a, outputs=b)``: a functional model trained on the numkeras engine."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        if len(args) > 2:
            raise TypeError("Model(inputs, outputs, name=None): too many positional arguments.")
        if args:
            kwargs.setdefault("inputs", args[0])
        if len(args) > 1:
            kwargs.setdefault("outputs", args[1])
        super().__init__(**kwargs)
        self.optimizer: Any = None
        self.compiled_loss: CompiledLoss | None = None
        self.compiled_metrics: CompiledMetrics | None = None
        self.stop_training = False
        self.history: Any = None
        self._is_compiled = False
        self._compile_args: dict[str, Any] = {}
        # Drawn from NumPy's global state, so np.random.seed(n) makes shuffling reproducible
        # (as it makes unseeded initial weights reproducible).
        self._rng = np.random.default_rng(np.random.randint(2**31))

    # ------------------------------------------------------------------ compile
    def compile(self, optimizer: Any = "rmsprop", loss: Any = None, metrics: Any = None,
                loss_weights: Any = None, sample_weight_mode: Any = None,
                weighted_metrics: Any = None, target_tensors: Any = None,
                **kwargs: Any) -> None:
        """Configures the model for training.

        Raises:
            ValueError: for an invalid optimizer, loss, metrics, loss_weights,
                sample_weight_mode or target_tensors, naming the argument.
        """
        unknown = set(kwargs) - _COMPILE_EXTRAS
        if unknown:
            raise ValueError(f"compile: invalid keyword argument(s) {sorted(unknown)}.")
        names = self.output_names
        try:
            opt = optimizers.get(optimizer)
        except ValueError as e:
            raise ValueError(f"compile: invalid optimizer {optimizer!r}: {e}") from None
        compiled_loss = None if loss is None else CompiledLoss(loss, loss_weights, names)
        if loss is None and loss_weights is not None:
            raise ValueError("compile: loss_weights given without a loss.")
        compiled_metrics = CompiledMetrics(metrics, weighted_metrics, names)
        modes = map_to_outputs(sample_weight_mode, names, "sample_weight_mode")
        for name, mode in zip(names, modes, strict=True):
            if mode not in (None, "temporal"):
                raise ValueError(
                    f"compile: sample_weight_mode for output {name!r} must be None or "
                    f"'temporal', got {mode!r}."
                )
        targets = None
        if target_tensors is not None:
            raw = map_to_outputs(target_tensors, names, "target_tensors", broadcast_single=False)
            try:
                targets = da.standardize_y(self, raw, self._sparse_flags(compiled_loss))
            except ValueError as e:
                raise ValueError(f"compile: invalid target_tensors: {e}") from None
        self.optimizer = opt
        self.compiled_loss = compiled_loss
        self.compiled_metrics = compiled_metrics
        self._sample_weight_modes = modes
        self._target_arrays = targets
        self._is_compiled = True
        self._compile_args = {"optimizer": opt, "loss": loss, "metrics": metrics,
                              "loss_weights": loss_weights,
                              "sample_weight_mode": sample_weight_mode,
                              "weighted_metrics": weighted_metrics}

    def _sparse_flags(self, compiled_loss: CompiledLoss | None) -> list[bool]:
        if compiled_loss is None:
            return [False] * len(self.outputs)
        return [obj is not None and any(s in getattr(obj, "name", "") for s in _SPARSE_LOSSES)
                or type(obj).__name__ == "SparseCategoricalCrossentropy"
                or getattr(getattr(obj, "fn", None), "__name__", "") in _SPARSE_LOSSES
                for obj in compiled_loss.losses]

    def _assert_compiled(self, method: str) -> None:
        self._step_weights_cache = None  # each public call sees the current trainable flags
        if not self._is_compiled:
            raise RuntimeError(
                f"You must compile your model before training/testing. Use "
                f"`model.compile(optimizer, loss)` before `{method}`."
            )
        if self.compiled_loss is None and method != "predict":
            raise RuntimeError(
                f"The model was compiled without a loss; `{method}` needs one. Call "
                "`model.compile(optimizer, loss=...)`."
            )

    @property
    def metrics_names(self) -> list[str]:
        """``loss``, then ``<output>_loss`` per output (multi-output), then the metrics."""
        if not self._is_compiled or self.compiled_loss is None:
            return []
        names = [m.name for m in self.compiled_loss.metrics]
        return names + (self.compiled_metrics.names if self.compiled_metrics else [])

    @property
    def metrics(self) -> list[Any]:
        if not self._is_compiled or self.compiled_loss is None:
            return []
        objs = list(self.compiled_loss.metrics)
        for group in (self.compiled_metrics.objects or []):
            objs.extend(group)
        return objs

    def reset_metrics(self) -> None:
        """Resets the loss means and every metric's state."""
        if self.compiled_loss is not None:
            for m in self.compiled_loss.metrics:
                m.reset_state()
        if self.compiled_metrics is not None:
            self.compiled_metrics.reset()

    def reset_states(self) -> None:
        for layer in self.layers:  # as Keras: only stateful layers hold states to reset
            if getattr(layer, "stateful", False) and layer is not self:
                layer.reset_states()

    # --------------------------------------------------------------- execution
    @property
    def _runner(self) -> GraphRunner:
        runner = self.__dict__.get("_graph_runner")
        if runner is None:
            runner = self._graph_runner = GraphRunner(self)
        return runner

    def __call__(self, inputs: Any, training: bool | None = None, **kwargs: Any) -> Any:
        """Symbolic tensors connect the model as a layer; arrays run it (Keras eager call)."""
        flat = inputs if isinstance(inputs, (list, tuple)) else [inputs]
        if isinstance(inputs, dict) or any(isinstance(t, KerasTensor) for t in flat):
            if training is not None:
                kwargs["training"] = training
            return super().__call__(inputs, **kwargs)
        xs = da.standardize_x(self, inputs)
        outs, _ = self._runner.forward(xs, training=bool(training))
        return self._format_outputs(outs)

    def _format_outputs(self, outs: list[np.ndarray]) -> Any:
        if self._output_dict_keys is not None:
            return dict(zip(self._output_dict_keys, outs, strict=True))
        return outs[0] if len(outs) == 1 else list(outs)

    def _logit_losses(self) -> list[Any]:
        """Per output, the from-logits loss to use on its pre-activation values, or None.

        tf-keras computes a crossentropy on a softmax / sigmoid output from the logits (no
        clipping); so does numkeras, when the output tensor feeds nothing else.
        """
        cached = self.__dict__.get("_logit_loss_cache")
        if cached is not None and cached[0] is self.compiled_loss:
            return cached[1]
        consumed = {id(t) for node in self._execution_order for t in node.input_tensors}
        result = []
        for tensor, loss_obj in zip(self.outputs, self.compiled_loss.losses, strict=True):
            layer = tensor._keras_history[0]
            counterpart = None
            if (loss_obj is not None and hasattr(layer, "activation")
                    and layer.activity_regularizer is None and id(tensor) not in consumed
                    and sum(t is tensor for t in self.outputs) == 1):
                try:
                    name = act_ops.resolve(layer.activation)
                except ValueError:
                    name = None
                if name is not None:
                    counterpart = losses_module.logits_counterpart(loss_obj, name)
            result.append(counterpart)
        self._logit_loss_cache = (self.compiled_loss, result)
        return result

    def _loss_and_grads(self, ys: list, outs: list[np.ndarray], sws: list, masks: list,
                        tape: Any = None, with_grads: bool = True,
                        ) -> tuple[float, list[float], list[Any]]:
        """Total loss, unweighted loss per output and d(total)/d(output) per output (``None``
        each without ``with_grads``: evaluation needs only the values)."""
        assert self.compiled_loss is not None
        total = 0.0
        per_output: list[float] = []
        d_outs: list[Any] = []
        logit_losses = self._logit_losses() if tape is not None else [None] * len(outs)
        for loss_obj, weight, y_true, y_pred, sw, mask, logit_loss, tensor in zip(
            self.compiled_loss.losses, self.compiled_loss.weights, ys, outs, sws, masks,
            logit_losses, self.outputs, strict=True,
        ):
            if loss_obj is None or y_true is None:
                per_output.append(0.0)
                d_outs.append(None)
                continue
            backward = tape.backward_of(tensor) if logit_loss is not None else None
            if backward is not None and hasattr(backward, "from_preactivation"):
                loss_obj, y_pred = logit_loss, backward.preactivation.reshape(y_pred.shape)
            else:
                backward = None
            summed = getattr(loss_obj, "reduction", "auto") == "sum"
            fused = None
            if sw is None and mask is None:  # one upstream gradient for every value
                # (the fused losses give one value per row of the last axis)
                rows = y_pred.size // y_pred.shape[-1] if y_pred.ndim and y_pred.shape[-1] else 1
                fused = loss_kernels.values_and_gradient(
                    loss_obj, y_true, y_pred, weight / max(1 if summed else rows, 1), with_grads)
            values = loss_obj.call(y_true, y_pred) if fused is None else fused[0]
            w = _broadcast_weights(sw, mask, values.shape)
            denom = 1 if summed else values.size
            if w is None:
                value = float(values.sum()) / max(denom, 1)
            else:
                value = float((values * w).sum()) / max(denom, 1)
            per_output.append(value)
            total += weight * value
            if not with_grads:
                d_outs.append(None)
                continue
            if fused is not None:
                d_outs.append(fused[1] if backward is None else PreActivationGrad(fused[1]))
                continue
            if w is None:
                upstream = np.full(values.shape, weight / max(denom, 1), dtype=np.float32)
            else:
                upstream = (w * (weight / max(denom, 1))).astype(np.float32)
            grad = np.ascontiguousarray(loss_obj.gradient(y_true, y_pred, upstream),
                                        dtype=np.float32)
            d_outs.append(grad if backward is None else PreActivationGrad(grad))
        return total, per_output, d_outs

    def _step_weights(self) -> tuple[list, list]:
        """The trainable weights and the regularized ones, collected once per fit, evaluate or
        ``*_on_batch`` call rather than per batch (tf-keras, too, fixes the trainable set when
        it builds its train function)."""
        cached = self.__dict__.get("_step_weights_cache")
        if cached is None:
            cached = (self.trainable_weights,
                      [w for w in self.weights if w.regularizer is not None])
            self._step_weights_cache = cached
        return cached

    def _regularization(self, with_grads: bool) -> tuple[float, dict[int, np.ndarray]]:
        total = 0.0
        grads: dict[int, np.ndarray] = {}
        for w in self._step_weights()[1]:
            total += float(w.regularizer(w.value))
            if with_grads:
                grads[id(w)] = np.asarray(w.regularizer.gradient(w.value), dtype=np.float32)
        return total, grads

    def _output_masks(self, tape: Any) -> list[Any]:
        return [tape.masks.get(id(t)) for t in self.outputs]

    def _track(self, ys: list, outs: list, sws: list, masks: list, total: float,
               per_output: list[float], batch: int) -> None:
        assert self.compiled_loss is not None and self.compiled_metrics is not None
        self.compiled_loss.loss_metric.update_state(total, batch)
        for metric, value, y in zip(self.compiled_loss.output_metrics, per_output, ys,
                                    strict=True):
            if metric is not None and y is not None:
                metric.update_state(value, batch)
        self.compiled_metrics.build(ys, outs, self.compiled_loss.losses)
        self.compiled_metrics.update(ys, outs, sws, masks)

    def _train_step(self, xs: list, ys: list, sws: list) -> None:
        outs, tape = self._runner.forward(xs, training=True)
        masks = self._output_masks(tape)
        total, per_output, d_outs = self._loss_and_grads(ys, outs, sws, masks, tape)
        reg, reg_grads = self._regularization(with_grads=True)
        total += reg + self._runner.activity_loss(tape)
        grads, _ = self._runner.backward(tape, d_outs)
        for wid, g in reg_grads.items():
            grads[wid] = grads[wid] + g if wid in grads else g
        params, param_grads = [], []
        for w in self._step_weights()[0]:
            g = grads.get(id(w))
            if g is not None:
                params.append(w)
                param_grads.append(np.ascontiguousarray(g, dtype=w.value.dtype))
        apply_gradients(self.optimizer, [w.value for w in params], param_grads)
        for w in params:
            if w.constraint is not None:
                w.value[...] = w.constraint(w.value)
        self._track(ys, outs, sws, masks, total, per_output, len(xs[0]))

    def _test_step(self, xs: list, ys: list, sws: list) -> None:
        outs, tape = self._runner.forward(xs, training=False)
        masks = self._output_masks(tape)
        total, per_output, _ = self._loss_and_grads(ys, outs, sws, masks, tape,
                                                    with_grads=False)
        total += self._regularization(with_grads=False)[0] + self._runner.activity_loss(tape)
        self._track(ys, outs, sws, masks, total, per_output, len(xs[0]))

    def _logs(self) -> dict[str, float]:
        logs = {m.name: float(m.result()) for m in self.compiled_loss.metrics}
        logs.update(self.compiled_metrics.results())
        return logs

    def _results(self, logs: dict[str, float]) -> Any:
        values = [logs[name] for name in self.metrics_names if name in logs]
        return values[0] if len(values) == 1 else values

    # --------------------------------------------------------------- data prep
    def _prepare_arrays(self, x: Any, y: Any, sample_weight: Any, class_weight: Any,
                        method: str) -> tuple[list, list, list, int]:
        if x is None:
            raise ValueError(f"{method}: `x` (the input data) is required.")
        xs = da.standardize_x(self, x)
        sparse = self._sparse_flags(self.compiled_loss)
        if y is None:
            if self._target_arrays is None:
                raise ValueError(
                    f"{method}: `y` (the targets) is required: the model was compiled without "
                    "target_tensors."
                )
            ys = list(self._target_arrays)
        else:
            ys = da.standardize_y(self, y, sparse)
        if self.compiled_loss is not None:
            for name, obj, yv in zip(self.output_names, self.compiled_loss.losses, ys,
                                     strict=True):
                if obj is not None and yv is None:
                    raise ValueError(f"{method}: no target given for output {name!r}, which has "
                                     "a loss.")
        sws = da.standardize_sample_weights(self, sample_weight, self._sample_weight_modes, ys)
        sws = da.apply_class_weight(class_weight, ys, sws)
        n = da.check_cardinality([xs, ys, sws])
        return xs, ys, sws, n

    def _standardize_batch(self, batch: Any, class_weight: Any, where: str
                           ) -> tuple[list, list, list]:
        try:
            x, y, sw = unpack_x_y_sample_weight(batch)
            xs, ys, sws, _ = self._prepare_arrays(x, y, sw, class_weight, where)
        except ValueError as e:
            raise ValueError(f"Invalid batch from the generator in {where}: {e}") from None
        return xs, ys, sws

    def _array_batches(self, arrays: tuple[list, list, list], n: int, batch_size: int,
                       shuffle: Any, steps: int | None) -> Iterator[tuple[list, list, list]]:
        """One pass over the data in batches, stopping after ``steps`` batches if given.

        As in tf-keras, ``steps`` beyond the data do not wrap around: the pass just ends.
        """
        xs, ys, sws = arrays
        order = da.batch_order(n, batch_size, shuffle, self._rng)
        for k, start in enumerate(range(0, n, batch_size)):
            if steps is not None and k >= steps:
                return
            idx = order[start:start + batch_size] if shuffle else slice(start, start + batch_size)
            yield da.take(xs, idx), da.take(ys, idx), da.take(sws, idx)

    def _array_stream(self, arrays: tuple[list, list, list], n: int, batch_size: int,
                      shuffle: Any) -> Iterator[tuple[list, list, list]]:
        """Pass after pass over the data (reshuffled per pass): fit with ``steps_per_epoch``.

        The stream goes on across epochs, as tf-keras's does, so an epoch of
        ``steps_per_epoch`` batches starts where the previous one stopped.
        """
        while True:
            yield from self._array_batches(arrays, n, batch_size, shuffle, None)

    # --------------------------------------------------------------------- fit
    def fit(self, x: Any = None, y: Any = None, batch_size: int | None = None,
            epochs: int = 1, verbose: Any = 1, callbacks: Any = None,
            validation_split: float = 0.0, validation_data: Any = None, shuffle: Any = True,
            class_weight: Any = None, sample_weight: Any = None, initial_epoch: int = 0,
            steps_per_epoch: int | None = None, validation_steps: int | None = None,
            validation_freq: Any = 1, max_queue_size: int = 10, workers: int = 1,
            use_multiprocessing: bool = False, **kwargs: Any) -> Any:
        """Trains the model for ``epochs`` epochs and returns its History.

        Raises:
            RuntimeError: if the model was never compiled.
            ValueError: for arguments or data that do not fit the model.
        """
        if "nb_epoch" in kwargs:
            epochs = kwargs.pop("nb_epoch")
        if kwargs:
            raise TypeError(f"fit: unrecognized keyword arguments: {sorted(kwargs)}")
        self._assert_compiled("fit")
        verbose = check_verbose(verbose, "fit")
        epochs = check_int(epochs, "epochs", minimum=0)
        initial_epoch = check_int(initial_epoch, "initial_epoch", minimum=0)
        batch_size = check_batch_size(batch_size)
        max_queue_size, workers, use_multiprocessing = _check_queue_args(
            max_queue_size, workers, use_multiprocessing)
        if steps_per_epoch is not None:
            steps_per_epoch = check_int(steps_per_epoch, "steps_per_epoch", minimum=1)
        if validation_steps is not None:
            validation_steps = check_int(validation_steps, "validation_steps", minimum=1)
        if isinstance(validation_split, bool) or not isinstance(
                validation_split, (int, float, np.integer, np.floating)):
            raise ValueError(f"fit: validation_split must be a float in [0, 1), got "
                             f"{validation_split!r}.")
        if shuffle not in (True, False, "batch") and not isinstance(shuffle, (bool, np.bool_)):
            raise ValueError(f"fit: shuffle must be True, False or 'batch', got {shuffle!r}.")
        validate_on = validation_schedule(validation_freq)
        source = None
        if is_generator_like(x):
            if y is not None:
                raise ValueError("fit: `y` argument is not supported when using a generator or "
                                 "Sequence as input (the targets come from it).")
            if sample_weight is not None:
                raise ValueError("fit: `sample_weight` argument is not supported when using a "
                                 "generator or Sequence as input.")
            if validation_split:
                raise ValueError("fit: `validation_split` is not supported when using a "
                                 "generator or Sequence as input; use validation_data.")
            source = BatchSource(x, workers=workers, use_multiprocessing=use_multiprocessing,
                                 max_queue_size=max_queue_size, shuffle=bool(shuffle),
                                 steps=steps_per_epoch,
                                 epochs_hint=max(epochs - initial_epoch, 1))
            steps = source.steps_per_epoch
            n_samples = None

            def epoch_batches() -> Iterator[tuple[list, list, list]]:
                for batch in source.epoch(steps):
                    yield self._standardize_batch(batch, class_weight, "fit")
        else:
            # class_weight weighs the training samples only, not those split off to validate.
            xs, ys, sws, n = self._prepare_arrays(x, y, sample_weight, None, "fit")
            if validation_split and validation_data is None:
                at = da.split_at(float(validation_split), n)
                validation_data = (da.take(xs, slice(at, None)), da.take(ys, slice(at, None)),
                                   da.take(sws, slice(at, None)))
                xs, ys, sws = (da.take(xs, slice(0, at)), da.take(ys, slice(0, at)),
                               da.take(sws, slice(0, at)))
                validation_data = _Prepared(*validation_data)
                n = at
            elif validation_split:
                da.split_at(float(validation_split), n)
            sws = da.apply_class_weight(class_weight, ys, sws)
            if n == 0:
                raise ValueError("fit: the training data is empty (0 samples).")
            bs = batch_size or 32
            steps = steps_per_epoch or math.ceil(n / bs)
            n_samples = n
            stream = (None if steps_per_epoch is None
                      else self._array_stream((xs, ys, sws), n, bs, shuffle))

            def epoch_batches() -> Iterator[tuple[list, list, list]]:
                if stream is None:
                    return self._array_batches((xs, ys, sws), n, bs, shuffle, None)
                return itertools.islice(stream, steps_per_epoch)

        do_validation = validation_data is not None
        val_run = self._validation_runner(validation_data, validation_steps, batch_size,
                                          workers, use_multiprocessing, max_queue_size)
        cbks = callbacks_module.CallbackList(
            check_callbacks(callbacks), add_history=True, add_progbar=verbose != 0, model=self,
            verbose=verbose, epochs=epochs, steps=steps, samples=n_samples,
            batch_size=batch_size or (32 if n_samples else None), do_validation=do_validation,
            metrics=self.metrics_names + [f"val_{m}" for m in self.metrics_names]
            if do_validation else self.metrics_names,
        )
        self.stop_training = False
        logs: dict[str, float] = {}
        try:
            cbks.on_train_begin()
            for epoch in range(initial_epoch, epochs):
                self.reset_metrics()
                cbks.on_epoch_begin(epoch)
                batch_logs: dict[str, float] = {}
                for step, (bx, by, bsw) in enumerate(epoch_batches()):
                    cbks.on_train_batch_begin(step, {"batch": step, "size": len(bx[0])})
                    self._train_step(bx, by, bsw)
                    batch_logs = self._logs()
                    cbks.on_train_batch_end(step, batch_logs)
                    if self.stop_training:
                        break
                logs = dict(batch_logs)
                if source is not None and source.exhausted:
                    self.stop_training = True
                if do_validation and validate_on(epoch + 1):
                    val_logs = val_run(cbks)
                    logs.update({f"val_{k}": v for k, v in val_logs.items()})
                cbks.on_epoch_end(epoch, logs)
                if self.stop_training:
                    break
            cbks.on_train_end(logs)
        finally:
            if source is not None:
                source.close()
            if hasattr(val_run, "close"):
                val_run.close()
        return self.history

    def _validation_runner(self, validation_data: Any, validation_steps: int | None,
                           batch_size: int | None, workers: int, use_multiprocessing: bool,
                           max_queue_size: int) -> Any:
        if validation_data is None:
            return None
        if is_generator_like(validation_data):
            _check_generator_steps(validation_data, validation_steps, "validation_steps", "fit")
            source = BatchSource(validation_data, workers=workers,
                                 use_multiprocessing=use_multiprocessing,
                                 max_queue_size=max_queue_size, shuffle=False,
                                 steps=validation_steps)

            def run_generator(cbks: Any) -> dict[str, float]:
                batches = (self._standardize_batch(b, None, "validation")
                           for b in source.epoch(source.steps_per_epoch))
                return self._test_loop(batches, cbks, source.steps_per_epoch)

            run_generator.close = source.close
            return run_generator
        if isinstance(validation_data, _Prepared):
            vx, vy, vsw = validation_data
        else:
            if not isinstance(validation_data, (tuple, list)) or len(validation_data) not in (2, 3):
                raise ValueError(
                    "fit: validation_data should be a tuple `(x_val, y_val)` or "
                    "`(x_val, y_val, val_sample_weights)`, or a generator / Sequence; got "
                    f"{type(validation_data).__name__}"
                    + (f" of length {len(validation_data)}" if hasattr(validation_data, "__len__")
                       else "") + "."
                )
            vsw_raw = validation_data[2] if len(validation_data) == 3 else None
            try:
                vx, vy, vsw, _ = self._prepare_arrays(validation_data[0], validation_data[1],
                                                      vsw_raw, None, "fit")
            except ValueError as e:
                raise ValueError(f"fit: invalid validation_data: {e}") from None
        n = len(vx[0])
        bs = batch_size or 32

        def run_arrays(cbks: Any) -> dict[str, float]:
            batches = self._array_batches((vx, vy, vsw), n, bs, False, validation_steps)
            return self._test_loop(batches, cbks, _pass_steps(n, bs, validation_steps))

        return run_arrays

    def _test_loop(self, batches: Any, cbks: Any, steps: int | None) -> dict[str, float]:
        self.reset_metrics()
        cbks.on_test_begin()
        logs: dict[str, float] = {}
        for step, (bx, by, bsw) in enumerate(batches):
            cbks.on_test_batch_begin(step, {"batch": step, "size": len(bx[0])})
            self._test_step(bx, by, bsw)
            logs = self._logs()
            cbks.on_test_batch_end(step, logs)
        if not logs:
            logs = self._logs()
        cbks.on_test_end(logs)
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
        batch_size = check_batch_size(batch_size)
        max_queue_size, workers, use_multiprocessing = _check_queue_args(
            max_queue_size, workers, use_multiprocessing)
        if steps is not None:
            steps = check_int(steps, "steps", minimum=1)
        source = None
        if is_generator_like(x):
            if y is not None or sample_weight is not None:
                raise ValueError("evaluate: `y` and `sample_weight` are not supported when using "
                                 "a generator or Sequence as input.")
            _check_generator_steps(x, steps, "steps", "evaluate")
            source = BatchSource(x, workers=workers, use_multiprocessing=use_multiprocessing,
                                 max_queue_size=max_queue_size, shuffle=False, steps=steps,
                                 epochs_hint=1)
            n_steps = source.steps_per_epoch
            batches: Any = (self._standardize_batch(b, None, "evaluate")
                            for b in source.epoch(n_steps))
        else:
            xs, ys, sws, n = self._prepare_arrays(x, y, sample_weight, None, "evaluate")
            bs = batch_size or 32
            n_steps = _pass_steps(n, bs, steps)
            batches = self._array_batches((xs, ys, sws), n, bs, False, steps)
        cbks = callbacks_module.CallbackList(
            check_callbacks(callbacks), add_progbar=verbose != 0, model=self, verbose=verbose,
            epochs=1, steps=n_steps)
        try:
            logs = self._test_loop(batches, cbks, n_steps)
        finally:
            if source is not None:
                source.close()
        if return_dict:
            return logs
        return self._results(logs)

    # ----------------------------------------------------------------- predict
    def predict(self, x: Any, batch_size: int | None = None, verbose: Any = 0,
                steps: int | None = None, callbacks: Any = None, max_queue_size: int = 10,
                workers: int = 1, use_multiprocessing: bool = False) -> Any:
        """Outputs for the input samples, computed in batches, in input order.

        Raises:
            ValueError: for data that does not fit the model.
        """
        verbose = check_verbose(verbose, "predict")
        batch_size = check_batch_size(batch_size)
        max_queue_size, workers, use_multiprocessing = _check_queue_args(
            max_queue_size, workers, use_multiprocessing)
        if steps is not None:
            steps = check_int(steps, "steps", minimum=1)
        source = None
        if is_generator_like(x):
            _check_generator_steps(x, steps, "steps", "predict")
            source = BatchSource(x, workers=workers, use_multiprocessing=use_multiprocessing,
                                 max_queue_size=max_queue_size, shuffle=False, steps=steps,
                                 epochs_hint=1)
            n_steps = source.steps_per_epoch
            batches: Any = (da.standardize_x(self, unpack_x_y_sample_weight(b)[0])
                            for b in source.epoch(n_steps))
        else:
            if x is None:
                raise ValueError("predict: `x` (the input data) is required.")
            xs = da.standardize_x(self, x)
            n = da.check_cardinality([xs])
            bs = batch_size or 32
            n_steps = _pass_steps(n, bs, steps)
            batches = (b[0] for b in self._array_batches((xs, [], []), n, bs, False, steps))
        cbks = callbacks_module.CallbackList(
            check_callbacks(callbacks), add_progbar=verbose != 0, model=self, verbose=verbose,
            epochs=1, steps=n_steps)
        chunks: list[list[np.ndarray]] = []
        try:
            cbks.on_predict_begin()
            for step, bx in enumerate(batches):
                cbks.on_predict_batch_begin(step, {"batch": step, "size": len(bx[0])})
                outs, _ = self._runner.forward(bx, training=False)
                chunks.append(outs)
                cbks.on_predict_batch_end(step, {"outputs": self._format_outputs(outs)})
            cbks.on_predict_end()
        finally:
            if source is not None:
                source.close()
        if not chunks:
            raise ValueError("predict: no batches to predict on (the data is empty).")
        merged = [np.concatenate([c[i] for c in chunks]) for i in range(len(self.outputs))]
        return self._format_outputs(merged)

    # ---------------------------------------------------------------- on batch
    def train_on_batch(self, x: Any, y: Any = None, sample_weight: Any = None,
                       class_weight: Any = None, reset_metrics: bool = True,
                       return_dict: bool = False) -> Any:
        """One gradient update on one batch; returns the loss (and metrics) of that batch."""
        self._assert_compiled("train_on_batch")
        xs, ys, sws, n = self._prepare_arrays(x, y, sample_weight, class_weight,
                                              "train_on_batch")
        if n == 0:
            raise ValueError("train_on_batch: the batch is empty.")
        if reset_metrics:
            self.reset_metrics()
        self._train_step(xs, ys, sws)
        logs = self._logs()
        return logs if return_dict else self._results(logs)

    def test_on_batch(self, x: Any, y: Any = None, sample_weight: Any = None,
                      reset_metrics: bool = True, return_dict: bool = False) -> Any:
        """Loss (and metrics) of the model on one batch, in test mode."""
        self._assert_compiled("test_on_batch")
        xs, ys, sws, n = self._prepare_arrays(x, y, sample_weight, None, "test_on_batch")
        if n == 0:
            raise ValueError("test_on_batch: the batch is empty.")
        if reset_metrics:
            self.reset_metrics()
        self._test_step(xs, ys, sws)
        logs = self._logs()
        return logs if return_dict else self._results(logs)

    def predict_on_batch(self, x: Any) -> Any:
        """Outputs for one batch of samples.

        Raises:
            ValueError: for input data that does not fit the model.
        """
        if x is None:
            raise ValueError("predict_on_batch: `x` (the input data) is required.")
        xs = da.standardize_x(self, x)
        outs, _ = self._runner.forward(xs, training=False)
        return self._format_outputs(outs)




    # ------------------------------------------------------------------ saving
    def _training_config(self) -> dict[str, Any] | None:
        if not self._is_compiled:
            return None
        from numkeras import losses, metrics

        def ser(value: Any, module: Any) -> Any:
            if isinstance(value, dict):
                return {k: ser(v, module) for k, v in value.items()}
            if isinstance(value, (list, tuple)):
                return [ser(v, module) for v in value]
            if value is None or isinstance(value, str):
                return value
            return module.serialize(value)

        def ser_metrics(weighted: bool) -> Any:
            # Once resolved, tf-keras's form: per output, metric configs under their final
            # names (so Keras names them as we do when it loads the file).
            cm = self.compiled_metrics
            if cm.objects is None:
                return ser(args["weighted_metrics" if weighted else "metrics"], metrics)
            out = []
            for specs, objs in zip(cm.specs, cm.objects, strict=True):
                items = []
                for (name, _, is_weighted), metric in zip(specs, objs, strict=True):
                    if is_weighted == weighted:
                        config = metrics.serialize(metric)
                        config["config"]["name"] = name
                        items.append(config)
                out.append(items)
            return out if any(out) else None

        args = self._compile_args
        return {
            "optimizer_config": optimizers.serialize(self.optimizer),
            "loss": ser(args["loss"], losses),
            "metrics": ser_metrics(weighted=False),
            "weighted_metrics": ser_metrics(weighted=True),
            "loss_weights": args["loss_weights"],
            "sample_weight_mode": args["sample_weight_mode"],
        }

    def save(self, filepath: Any, overwrite: bool = True, include_optimizer: bool = True,
             save_format: str | None = None, **kwargs: Any) -> None:
        """Saves architecture, weights, training config and optimizer state to HDF5."""
        from numkeras.engine import saving

        saving.save_model(self, filepath, overwrite=overwrite,
                          include_optimizer=include_optimizer, save_format=save_format)

    def save_weights(self, filepath: Any, overwrite: bool = True,
                     save_format: str | None = None, **kwargs: Any) -> None:
        """Saves the weights in Keras 2's HDF5 layout."""
        from numkeras.engine import saving

        saving.save_weights(self, filepath, overwrite=overwrite, save_format=save_format)

    def load_weights(self, filepath: Any, by_name: bool = False, skip_mismatch: bool = False,
                     **kwargs: Any) -> None:
        """Loads weights from a Keras 2 HDF5 file, by topology or ``by_name``."""
        from numkeras.engine import saving

        saving.load_weights(self, filepath, by_name=by_name, skip_mismatch=skip_mismatch)

    @classmethod
    def from_config(cls, config: dict[str, Any], custom_objects: Any = None) -> Model:
        custom = dict(custom_objects or {})
        custom.setdefault("Model", cls)
        custom.setdefault("Functional", cls)
        return super().from_config(config, custom_objects=custom)


class _Prepared(NamedTuple):
    """Validation arrays already standardized (split off the training data)."""

    xs: list
    ys: list
    sws: list


def _broadcast_weights(sw: np.ndarray | None, mask: np.ndarray | None,
                       shape: tuple) -> np.ndarray | None:
    """Sample weights (and an output mask) broadcast to the per-sample loss shape."""
    w = None
    if sw is not None:
        w = sw.reshape(sw.shape + (1,) * (len(shape) - sw.ndim)) if sw.ndim < len(shape) else sw
        w = np.broadcast_to(w, shape).astype(np.float32)
    if mask is not None:
        m = np.broadcast_to(mask.reshape(mask.shape + (1,) * (len(shape) - mask.ndim))
                            if mask.ndim < len(shape) else mask, shape).astype(np.float32)
        valid = m.sum()
        m = m * (m.size / valid) if valid else m
        w = m if w is None else w * m
    return w



def _pass_steps(n: int, batch_size: int, steps: int | None) -> int:
    """Batches in one pass over ``n`` samples, capped by ``steps``."""
    batches = math.ceil(n / batch_size)
    return batches if steps is None else min(steps, batches)


def _check_queue_args(max_queue_size: Any, workers: Any,
                      use_multiprocessing: Any) -> tuple[int, int, bool]:
    max_queue_size = check_int(max_queue_size, "max_queue_size", minimum=1)
    workers = check_int(workers, "workers", minimum=0)
    if not isinstance(use_multiprocessing, (bool, np.bool_)) and not (
            isinstance(use_multiprocessing, int) and use_multiprocessing in (0, 1)):
        raise ValueError(f"`use_multiprocessing` must be True or False, got "
                         f"{use_multiprocessing!r}.")
    return max_queue_size, workers, bool(use_multiprocessing)


def _check_generator_steps(data: Any, steps: int | None, name: str, method: str) -> None:
    """A plain generator has no length: ``steps`` must say how many batches to draw."""
    is_sequence = isinstance(data, Sequence) or (hasattr(data, "__len__")
                                                 and hasattr(data, "__getitem__"))
    if steps is None and not is_sequence:
        raise ValueError(
            f"{method}: `{name}=None` is only valid for a generator based on the "
            f"`keras.utils.Sequence` class. Please specify `{name}` or use the "
            "`keras.utils.Sequence` class."
        )



