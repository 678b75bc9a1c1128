"""Synchronous engine calls run in the call-worker processes: describing a new model, checking
a compile, ``train_on_batch`` / ``test_on_batch`` / ``predict_on_batch``.

The web process imports this module only to name these functions; the engine is imported
inside them, so it is loaded in the worker processes alone.
"""

from __future__ import annotations

import os
import threading
import time
from typing import Any

import numpy as np

from numkeras.server.errors import ApiError

_STORAGE: dict[str, Any] = {}

# Which compile argument an engine error message is about, most specific words first.
_MESSAGE_ARGUMENTS = (("loss_weights", "loss_weights"),
                      ("sample_weight_mode", "sample_weight_mode"),
                      ("target_tensors", "target_tensors"), ("weighted_metric", "weighted_metrics"),
                      ("metric", "metrics"), ("loss", "loss"), ("optimizer", "optimizer"))



def _storage(data_dir: str) -> Any:
    from numkeras.server.storage import Storage

    if data_dir not in _STORAGE:
        _STORAGE[data_dir] = Storage(data_dir)
    return _STORAGE[data_dir]


def init_call_process(parent_pid: int) -> None:
    """Initializer of a call process: it exits when the server that started it is gone."""

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(0.5)
        os._exit(0)

    threading.Thread(target=watch, name="numkeras-parent-watch", daemon=True).start()


def warm_up() -> bool:
    """Imports the engine so that the first real call does not pay for it."""
    import numkeras.server.worker.model_state  # noqa: F401

    return True


def _user_error(what: str, e: Exception) -> ApiError:
    return ApiError(422, f"{what}: {type(e).__name__}: {e}" if not isinstance(e, ValueError)
                    else f"{what}: {e}")


def create_model(data_dir: str, config: str) -> dict[str, Any]:
    """Builds the model of a Keras JSON config, stores its initial weights.

    Returns:
        ``{"config", "name", "info", "weights_blob"}``.
    """
    from numkeras.server.worker import model_state

    try:
        model = model_state.build_model(config)
        info = model_state.describe(model)
        canonical = model_state.config_json(model)
    except Exception as e:  # any failure here comes from the config the client sent
        raise _user_error("Invalid model config", e) from None
    blob = _storage(data_dir).blobs.put(model_state.weights_npz(model.get_weights()))
    return {"config": canonical, "name": model.name, "info": info, "weights_blob": blob}


def export_hdf5(data_dir: str, model_id: str) -> str:
    """Writes the stored model (architecture, weights, compile, optimizer state) as a Keras 2
    HDF5 file in the data dir's temp space; returns its path (the caller deletes it)."""
    from numkeras.server.worker import model_state

    storage = _storage(data_dir)
    row = storage.get_model(None, model_id)
    if row is None:
        raise ApiError(404, f"No model with id {model_id!r}.")
    model = model_state.load_model(storage, row)
    with storage.blobs.new_temp() as f:
        path = f.name
    model.save(path, include_optimizer=True)
    return path


def import_hdf5(data_dir: str, path: str) -> dict[str, Any]:
    """Reads a Keras 2 HDF5 model file (``model.save("m.h5")``) and stores its weights and
    optimizer state.

    Returns:
        ``create_model``'s fields plus ``training_config``, ``metrics_names`` and
        ``optimizer_blob`` (None when the file has no compile or no optimizer state).
    """
    from numkeras.engine.saving import load_model
    from numkeras.server.worker import model_state

    try:
        model = load_model(path, compile=True)
        info = model_state.describe(model)
        canonical = model_state.config_json(model)
        training_config = model._training_config()
    except Exception as e:  # the file is the client's
        raise _user_error("Invalid Keras HDF5 model file", e) from None
    storage = _storage(data_dir)
    weights, optimizer = model_state.save_state(storage, model)
    return {"config": canonical, "name": model.name, "info": info, "weights_blob": weights,
            "training_config": training_config,
            "metrics_names": model.metrics_names if training_config else None,
            "optimizer_blob": optimizer if training_config else None}


def _nested(value: Any, deserialize: Any) -> Any:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, dict) and "class_name" in value:
        return deserialize(value)
    if isinstance(value, dict):
        return {k: _nested(v, deserialize) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_nested(v, deserialize) for v in value]
    raise ValueError(f"expected a name, a {{'class_name', 'config'}} dict, or a list or dict "
                     f"of those; got {value!r}")


def check_compile(config: str, args: dict[str, Any]) -> dict[str, Any]:
    """Compiles the model with ``args`` (Keras JSON values) to validate them.

    Returns:
        ``{"training_config", "metrics_names"}``.

    Raises:
        ApiError: 422 naming the argument that is not valid.
    """
    from numkeras import losses, metrics, optimizers
    from numkeras.server.worker import model_state

    model = model_state.build_model(config)
    resolved = dict(args)
    for name, deserialize in (("optimizer", optimizers.get), ("loss", losses.deserialize),
                              ("metrics", metrics.deserialize),
                              ("weighted_metrics", metrics.deserialize)):
        try:
            if name == "optimizer":
                resolved[name] = deserialize(args.get(name, "rmsprop"))
            else:
                resolved[name] = _nested(args.get(name), deserialize)
        except Exception as e:
            raise ApiError(422, f"compile: invalid {name} {args.get(name)!r}: {e}", name) from None
    try:
        model.compile(**resolved)
    except Exception as e:
        message = str(e)
        argument = next((a for key, a in _MESSAGE_ARGUMENTS if key in message), None)
        raise ApiError(422, message if message.startswith("compile") else f"compile: {message}",
                       argument) from None
    return {"training_config": model._training_config(), "metrics_names": model.metrics_names}


def split_arrays(arrays: dict[str, np.ndarray], prefix: str) -> Any:
    """``x`` -> one array; ``x:<name>`` members -> a dict by input/output name; else None."""
    if prefix in arrays:
        return arrays[prefix]
    named = {k.split(":", 1)[1]: v for k, v in arrays.items() if k.startswith(prefix + ":")}
    return named or None


def on_batch(data_dir: str, model_id: str, method: str, arrays: dict[str, np.ndarray],
             class_weight: dict[int, float] | None) -> dict[str, Any]:
    """Runs ``model.<method>`` on one batch; a train step stores the new state.

    Returns:
        ``{"outputs": {name: array}}`` for predict, else ``{"result", "metrics_names", "logs"}``.

    Raises:
        ApiError: 404 if the model is gone, 409 if its state changed during the step, 422 for
            data that does not fit the model or a model that is not compiled.
    """
    from numkeras.server.worker import model_state

    storage = _storage(data_dir)
    row = storage.get_model(None, model_id)
    if row is None:
        raise ApiError(404, f"No model with id {model_id!r}.")
    model = model_state.load_model(storage, row)
    x = split_arrays(arrays, "x")
    if x is None:
        raise ApiError(422, f"{method}: the body has no array 'x' (or 'x:<input name>').", "x")
    y, sw = split_arrays(arrays, "y"), split_arrays(arrays, "sample_weight")
    try:
        if method == "predict_on_batch":
            outputs = model.predict_on_batch(x)
            return {"outputs": named_outputs(model, outputs)}
        if method == "train_on_batch":
            logs = model.train_on_batch(x, y, sample_weight=sw, class_weight=class_weight,
                                        return_dict=True)
        else:
            logs = model.test_on_batch(x, y, sample_weight=sw, return_dict=True)
    except RuntimeError as e:
        raise ApiError(422, str(e)) from None
    except (ValueError, TypeError) as e:
        raise ApiError(422, f"{method}: {e}") from None
    if method == "train_on_batch":
        weights, opt = model_state.save_state(storage, model)
        if not storage.set_model_state(model_id, weights, opt, expected_version=row["version"]):
            raise ApiError(409, "train_on_batch: the model's state changed (or the model was "
                                "deleted) while this batch ran; its update was not stored. "
                                "Retry the call.")
    return keras_result(model, logs)


def keras_result(model: Any, logs: dict[str, Any]) -> dict[str, Any]:
    """What Keras returns (a scalar, or a list in ``metrics_names`` order) and the logs."""
    from numkeras.server.worker.model_state import jsonable

    values = [logs[n] for n in model.metrics_names if n in logs]
    result = values[0] if len(values) == 1 else values
    return jsonable({"result": result, "metrics_names": model.metrics_names, "logs": logs})


def named_outputs(model: Any, outputs: Any) -> dict[str, np.ndarray]:
    if isinstance(outputs, dict):
        return {str(k): np.asarray(v) for k, v in outputs.items()}
    if isinstance(outputs, list):
        return dict(zip(model.output_names, (np.asarray(o) for o in outputs), strict=True))
    return {model.output_names[0]: np.asarray(outputs)}
