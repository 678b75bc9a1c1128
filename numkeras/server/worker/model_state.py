"""A stored model as an engine Model and back: architecture, weights, compile, optimizer state.

Engine-side: imported only inside worker processes.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from numkeras import wire
from numkeras.engine import updates
from numkeras.engine.models import model_from_json
from numkeras.engine.saving import compile_args_from_training_config, restore_optimizer_state
from numkeras.engine.training import Model
from numkeras.server.storage import Storage

_NAMES = "__names__"


def build_model(config: str) -> Model:
    """The model of a Keras model JSON text (fresh initial weights)."""
    return model_from_json(config)


def _shape(shape: Any) -> Any:
    if isinstance(shape, list):
        return [_shape(s) for s in shape]
    return None if shape is None else list(shape)


def _layer_info(index: int, layer: Any) -> dict[str, Any]:
    def safe(attr: str) -> Any:
        try:
            return _shape(getattr(layer, attr))
        except (AttributeError, ValueError, RuntimeError):
            return None

    return {
        "index": index,
        "name": layer.name,
        "class_name": type(layer).__name__,
        "config": layer.get_config(),
        "input_shape": safe("input_shape"),
        "output_shape": safe("output_shape"),
        "trainable": bool(layer.trainable),
        "count_params": int(layer.count_params()),
        "weights": [{"name": w.name, "shape": list(w.shape)} for w in layer.weights],
    }


def describe(model: Model) -> dict[str, Any]:
    """What the server shows of a model without loading it: names, shapes, summary, layers."""
    lines: list[str] = []
    model.summary(print_fn=lines.append)
    trainable = {id(w) for w in model.trainable_weights}
    return {
        "input_names": list(model.input_names),
        "output_names": list(model.output_names),
        "input_shapes": [_shape(t.shape) for t in model.inputs],
        "output_shapes": [_shape(t.shape) for t in model.outputs],
        "count_params": int(model.count_params()),
        "summary": "\n".join(lines),
        "weights": [{"name": w.name, "shape": list(w.shape), "dtype": str(w.dtype),
                     "trainable": id(w) in trainable} for w in model.weights],
        "layers": [_layer_info(i, layer) for i, layer in enumerate(model.layers)],
    }


def weights_npz(weights: list[np.ndarray]) -> bytes:
    """``get_weights()`` as an npz body: ``arr_0``, ``arr_1``, ... (``np.savez`` order)."""
    return wire.encode_arrays({f"arr_{i}": w for i, w in enumerate(weights)})


def optimizer_npz(model: Model) -> bytes | None:
    """The optimizer state (tf-keras 2 order) with its names; None before the first step."""
    optimizer = model.optimizer
    if optimizer is None or optimizer.slots is None:
        return None
    arrays = updates.get_optimizer_weights(optimizer)
    names = updates.get_optimizer_weight_names(optimizer, [w.name for w in model.trainable_weights])
    body = {f"arr_{i}": a for i, a in enumerate(arrays)}
    body[_NAMES] = np.array(names)
    return wire.encode_arrays(body)


def compile_model(model: Model, training_config: dict[str, Any]) -> None:
    model.compile(**compile_args_from_training_config(training_config))


def load_model(storage: Storage, row: dict[str, Any]) -> Model:
    """The stored model with its weights, compile settings and optimizer state.

    A job finishing meanwhile may replace (and unlink) the blobs ``row`` names: then the row is
    read again and ``row`` is updated in place to the version that was loaded.
    """
    for _ in range(5):
        try:
            weights = storage.blobs.read(row["weights_blob"])
            optimizer = storage.blobs.read(row["optimizer_blob"]) if row["optimizer_blob"] \
                else None
            break
        except FileNotFoundError:
            fresh = storage.get_model(None, row["id"])
            if fresh is None:
                raise LookupError(f"model {row['id']} was deleted") from None
            row.update(fresh)
    else:
        raise RuntimeError(f"the state of model {row['id']} kept changing while being loaded")
    model = build_model(row["config"])
    arrays = wire.decode_arrays(weights)
    model.set_weights([arrays[f"arr_{i}"] for i in range(len(arrays))])
    if row["training_config"] is not None:
        compile_model(model, row["training_config"])
        if optimizer is not None:
            state = wire.decode_arrays(optimizer)
            names = [str(n) for n in state.pop(_NAMES)]
            restore_optimizer_state(model, names, [state[f"arr_{i}"] for i in range(len(names))])
    return model


def save_state(storage: Storage, model: Model) -> tuple[str, str | None]:
    """Writes weights and optimizer state as new blobs; returns their keys."""
    weights = storage.blobs.put(weights_npz(model.get_weights()))
    opt = optimizer_npz(model)
    try:
        return weights, None if opt is None else storage.blobs.put(opt)
    except BaseException:
        storage.blobs.delete([weights])
        raise


def config_json(model: Model) -> str:
    return model.to_json()


def jsonable(value: Any) -> Any:
    """Keras return values (numpy scalars, lists, dicts) as plain JSON values."""
    return json.loads(json.dumps(value, default=lambda o: o.item() if hasattr(o, "item")
                                 else o.tolist()))
