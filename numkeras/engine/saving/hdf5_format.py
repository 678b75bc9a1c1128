"""Keras 2 HDF5 files: ``model.save`` / ``load_model`` and ``save_weights`` / ``load_weights``.

The layout is tf-keras 2's HDF5 format, names and attribute types included, so that files move
both ways between numkeras and Keras 2::

    /                          @keras_version, @backend (str), @model_config, @training_config
                               (JSON, bytes); the last only for a compiled model saved with its
                               optimizer
    /model_weights             @layer_names (bytes, one per layer of ``model.layers``),
                               @backend, @keras_version (bytes)
    /model_weights/<layer>     @weight_names: the layer's weight names, trainable ones first
                               (an empty float64 array for a layer without weights)
    /model_weights/<layer>/<weight name>      e.g. dense/dense/kernel:0, a float32 dataset
    /model_weights/top_level_model_weights    weights owned by the model itself (none here)
    /optimizer_weights         @weight_names; iteration:0 (int64 scalar), then the slots, e.g.
                               Adam/m/dense/kernel:0, Adam/v/dense/kernel:0, ...

A weights file (``save_weights``) is the ``model_weights`` group at the root. A nested model is one
layer group holding all its weights. Attribute lists longer than HDF5's object header allows are
split into ``name0``, ``name1``, ... as Keras does.

Every path is written as HDF5 whatever its suffix (``.h5``, ``.hdf5``, ``.keras`` or none):
numkeras has neither the TensorFlow checkpoint / SavedModel formats nor Keras 3's zip format, and
``save_format="tf"`` raises ``ValueError``. Files are written to a temporary file in the same
directory and renamed over the target, so a failed save never leaves a half-written file.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import uuid
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import h5py
import numpy as np

from numkeras.layers.layer import Weight
from numkeras.utils.generic_utils import CustomObjectScope

HDF5_OBJECT_HEADER_LIMIT = 64512
#: The Keras version numkeras files declare (the one ``Functional.to_json`` writes).
KERAS_VERSION = "2.15.0"
BACKEND = "tensorflow"

_HDF5_FORMATS = ("h5", "hdf5", "keras")
_TF_FORMATS = ("tf", "tensorflow")
_IGNORED_SAVE_KWARGS = ("signatures", "options", "save_traces")

# tf.keras < 2.11 ("legacy") optimizers name their slots '<opt>/<variable>/<slot>:0' and some
# slots differently from tf-keras 2's optimizers, whose names numkeras writes.
_LEGACY_SLOT_NAMES = {
    "SGD": {"momentum": "m"},
    "RMSprop": {"rms": "velocity", "momentum": "momentum", "mg": "average_gradient"},
    "Adagrad": {"accumulator": "accumulator"},
    "Adadelta": {"accum_grad": "accumulated_grad", "accum_var": "accumulated_delta_var"},
    "Adam": {"m": "m", "v": "v", "vhat": "vhat"},
    "Adamax": {"m": "m", "v": "u"},
    "Nadam": {"m": "m", "v": "v"},
}


# ---------------------------------------------------------------------------- attributes
def save_attributes_to_hdf5_group(group: h5py.Group, name: str, data: list[bytes]) -> None:
    """Stores a list of byte strings as attribute ``name``, split into ``name0``, ``name1``, ...
    when it is larger than HDF5's object header limit.

    Raises:
        RuntimeError: if a single item is larger than the limit.
    """
    too_large = [x for x in data if len(x) > HDF5_OBJECT_HEADER_LIMIT]
    if too_large:
        raise RuntimeError(
            "The following attributes cannot be saved to HDF5 file because they are larger "
            f"than {HDF5_OBJECT_HEADER_LIMIT} bytes: {too_large}"
        )
    as_array = np.asarray(data)
    num_chunks = 1
    chunks = np.array_split(as_array, num_chunks)
    while any(c.nbytes > HDF5_OBJECT_HEADER_LIMIT for c in chunks):
        num_chunks += 1
        chunks = np.array_split(as_array, num_chunks)
    if num_chunks > 1:
        for i, chunk in enumerate(chunks):
            group.attrs[f"{name}{i}"] = chunk
    else:
        # A list (not an array) is what Keras stores: variable-length strings, or an empty
        # float64 array for an empty list.
        group.attrs[name] = data


def load_attributes_from_hdf5_group(group: h5py.Group, name: str) -> list[str]:
    """Reads attribute ``name`` (or its chunks ``name0``, ``name1``, ...) as a list of str."""

    def decoded(values: Any) -> list[str]:
        return [v.decode("utf8") if isinstance(v, bytes) else str(v) for v in values]

    if name in group.attrs:
        return decoded(group.attrs[name])
    data: list[str] = []
    chunk = 0
    while f"{name}{chunk}" in group.attrs:
        data.extend(decoded(group.attrs[f"{name}{chunk}"]))
        chunk += 1
    return data


def _has_attribute(group: h5py.Group, name: str) -> bool:
    return name in group.attrs or f"{name}0" in group.attrs


def _text(value: Any) -> str:
    return value.decode("utf8") if isinstance(value, bytes) else str(value)


# ------------------------------------------------------------------------------- weights
def _layer_weights(layer: Any) -> list[Weight]:
    """A layer's (or nested model's) weights in HDF5 order: trainable, then non-trainable."""
    return list(layer.trainable_weights) + list(layer.non_trainable_weights)


def _top_level_weights(model: Any) -> list[Weight]:
    """Weights the model owns itself rather than through a layer (Keras's ``_trainable_weights +
    _non_trainable_weights``)."""
    own = list(getattr(model, "_weights", []))
    return [w for w in own if w.trainable] + [w for w in own if not w.trainable]


def _save_subset(group: h5py.Group, weights: list[Weight]) -> None:
    names = [w.name.encode("utf8") for w in weights]
    save_attributes_to_hdf5_group(group, "weight_names", names)
    for weight in weights:
        value = np.asarray(weight.value)
        dataset = group.create_dataset(weight.name, value.shape, dtype=value.dtype)
        dataset[()] = value


def _load_subset(group: h5py.Group) -> list[np.ndarray]:
    values = []
    for name in load_attributes_from_hdf5_group(group, "weight_names"):
        if name not in group:
            raise ValueError(
                f"Weights file is malformed: group {group.name!r} lists weight {name!r} but has "
                "no such dataset."
            )
        values.append(np.asarray(group[name][()]))
    return values


def _layer_group(f: h5py.Group, name: str) -> h5py.Group:
    if name not in f:
        raise ValueError(
            f"Weights file is malformed: layer {name!r} is in 'layer_names' but has no group."
        )
    return f[name]


def _saved_layer_names(f: h5py.Group) -> list[str]:
    if not _has_attribute(f, "layer_names"):
        raise ValueError(
            f"HDF5 group {f.name!r} of {f.file.filename!r} holds no Keras weights: it has no "
            "'layer_names' attribute."
        )
    return load_attributes_from_hdf5_group(f, "layer_names")


def save_weights_to_hdf5_group(f: h5py.Group, model: Any) -> None:
    """Writes every layer's weights into ``f`` in the Keras 2 layout (see the module docstring).

    Args:
        f: An HDF5 file or group.
        model: A model: its ``layers`` (weightless ones included) each get one group.
    """
    save_attributes_to_hdf5_group(
        f, "layer_names", [layer.name.encode("utf8") for layer in model.layers]
    )
    f.attrs["backend"] = BACKEND.encode("utf8")
    f.attrs["keras_version"] = KERAS_VERSION.encode("utf8")
    # Groups are created in name order, as Keras does.
    for layer in sorted(model.layers, key=lambda x: x.name):
        _save_subset(f.create_group(layer.name), _layer_weights(layer))
    _save_subset(f.create_group("top_level_model_weights"), _top_level_weights(model))


def _assign(pairs: list[tuple[Weight, np.ndarray]]) -> None:
    for weight, value in pairs:
        weight.assign(value)


def load_weights_from_hdf5_group(f: h5py.Group, model: Any) -> None:
    """Loads weights by topology: the i-th saved layer with weights goes to the i-th layer of
    ``model.layers`` with weights, whatever the names. Nothing is assigned unless all fit.

    Raises:
        ValueError: if the numbers of layers with weights differ, if a layer's number of
            weights differs, or if a weight's shape differs (naming the layer and both shapes).
    """
    layers = [layer for layer in model.layers if _layer_weights(layer)]
    saved = [
        name for name in _saved_layer_names(f)
        if load_attributes_from_hdf5_group(_layer_group(f, name), "weight_names")
    ]
    if len(saved) != len(layers):
        raise ValueError(
            "Layer count mismatch when loading weights from file. "
            f"Model expected {len(layers)} layers, found {len(saved)} saved layers."
        )
    pairs: list[tuple[Weight, np.ndarray]] = []
    for k, (name, layer) in enumerate(zip(saved, layers, strict=True)):
        weights = _layer_weights(layer)
        values = _load_subset(f[name])
        if len(values) != len(weights):
            raise ValueError(
                f"Weight count mismatch for layer #{k} (named {layer.name} in the current model, "
                f"{name} in the save file). Layer expects {len(weights)} weight(s). Received "
                f"{len(values)} saved weight(s)"
            )
        for weight, value in zip(weights, values, strict=True):
            if weight.shape != value.shape:
                raise ValueError(
                    f"Shape mismatch in layer #{k} (named {layer.name} in the current model, "
                    f"{name} in the save file) for weight {weight.name}. Weight expects shape "
                    f"{weight.shape}. Received saved weight with shape {value.shape}"
                )
            pairs.append((weight, value))
    if "top_level_model_weights" in f:
        weights = _top_level_weights(model)
        values = _load_subset(f["top_level_model_weights"])
        if len(values) != len(weights):
            raise ValueError(
                "Weight count mismatch for top-level weights when loading weights from file. "
                f"Model expects {len(weights)} top-level weight(s). Received {len(values)} "
                "saved top-level weight(s)"
            )
        for weight, value in zip(weights, values, strict=True):
            if weight.shape != value.shape:
                raise ValueError(
                    f"Shape mismatch in model for top-level weight {weight.name}. Weight expects "
                    f"shape {weight.shape}. Received saved weight with shape {value.shape}"
                )
            pairs.append((weight, value))
    _assign(pairs)


def _match_by_name(label: str, weights: list[Weight], values: list[np.ndarray],
                   skip_mismatch: bool) -> list[tuple[Weight, np.ndarray]]:
    if len(values) != len(weights):
        message = (f"{label} expects {len(weights)} weight(s). Received {len(values)} saved "
                   "weight(s)")
        if skip_mismatch:
            warnings.warn(f"Skipping loading of weights for {label} due to mismatch in number "
                          f"of weights. {message}", stacklevel=3)
            return []
        raise ValueError(f"Weight count mismatch for {label}. {message}")
    pairs = []
    for weight, value in zip(weights, values, strict=True):
        if weight.shape != value.shape:
            message = (f"for weight {weight.name}. Weight expects shape {weight.shape}. "
                       f"Received saved weight with shape {value.shape}")
            if skip_mismatch:
                warnings.warn(f"Skipping loading weights for {label} due to mismatch in shape "
                              f"{message}", stacklevel=3)
                continue
            raise ValueError(f"Shape mismatch in {label} {message}")
        pairs.append((weight, value))
    return pairs


def load_weights_from_hdf5_group_by_name(f: h5py.Group, model: Any,
                                         skip_mismatch: bool = False) -> None:
    """Loads weights into the layers whose names match saved layers; others are left as they
    are, and saved layers the model does not have are ignored.

    Args:
        f: An HDF5 file or group in the weights layout.
        model: The model to load into.
        skip_mismatch: Skip (with a warning) weights whose shape, or layers whose number of
            weights, differs, instead of raising.

    Raises:
        ValueError: on a mismatch when ``skip_mismatch`` is False; nothing is assigned then.
    """
    index = {layer.name: layer for layer in model.layers}
    pairs: list[tuple[Weight, np.ndarray]] = []
    for k, name in enumerate(_saved_layer_names(f)):
        layer = index.get(name)
        if layer is None:
            continue
        values = _load_subset(_layer_group(f, name))
        pairs += _match_by_name(f"layer #{k} (named {layer.name})", _layer_weights(layer),
                                values, skip_mismatch)
    if "top_level_model_weights" in f:
        values = _load_subset(f["top_level_model_weights"])
        pairs += _match_by_name("top-level weights of model", _top_level_weights(model), values,
                                skip_mismatch)
    _assign(pairs)


# ----------------------------------------------------------------------------- optimizer
def save_optimizer_weights_to_hdf5_group(hdf5_group: h5py.Group, optimizer: Any,
                                         param_names: list[str] | None = None) -> None:
    """Writes the group ``optimizer_weights``: ``iteration:0`` and the slots under tf-keras 2's
    names (``Adam/m/dense/kernel:0``, ...).

    Args:
        hdf5_group: The file (or group) to create ``optimizer_weights`` in.
        optimizer: A ``numkeras.optimizers`` optimizer.
        param_names: Names of the parameters the optimizer's slots belong to (the model's
            ``trainable_weights``); ``param_0``, ``param_1``, ... if not given or not matching.
    """
    from numkeras.engine import updates

    arrays = updates.get_optimizer_weights(optimizer)
    n_params = len(optimizer.slots) if optimizer.slots is not None else 0
    if param_names is None or len(param_names) != n_params:
        param_names = [f"param_{i}" for i in range(n_params)]
    names = updates.get_optimizer_weight_names(optimizer, param_names)
    group = hdf5_group.create_group("optimizer_weights")
    save_attributes_to_hdf5_group(group, "weight_names", [n.encode("utf8") for n in names])
    for name, value in zip(names, arrays, strict=True):
        value = np.asarray(value)
        dataset = group.create_dataset(name, value.shape, dtype=value.dtype)
        dataset[()] = value


def load_optimizer_weights_from_hdf5_group(hdf5_group: h5py.Group
                                           ) -> tuple[list[str], list[np.ndarray]]:
    """Reads ``optimizer_weights`` from the file (or group) holding it: names and arrays."""
    group = hdf5_group["optimizer_weights"]
    names = load_attributes_from_hdf5_group(group, "weight_names")
    return names, [np.asarray(group[name][()]) for name in names]


def _translate_legacy_names(optimizer: Any, names: list[str]) -> dict[str, str]:
    """Maps each legacy name that has a tf-keras 2 counterpart to that new name."""
    table = next((_LEGACY_SLOT_NAMES[cls.__name__] for cls in type(optimizer).__mro__
                  if cls.__name__ in _LEGACY_SLOT_NAMES), {})
    out = {}
    for name in names:
        parts = name.removesuffix(":0").split("/")
        if parts[-1] == "iter":
            out[name] = "iteration:0"
        elif len(parts) >= 3 and parts[-1] in table:
            variable = "/".join(parts[1:-1])
            out[name] = f"{optimizer.name}/{table[parts[-1]]}/{variable}:0"
    return out


def restore_optimizer_state(model: Any, names: list[str], arrays: list[np.ndarray]) -> None:
    """Restores saved optimizer weights into ``model.optimizer`` (after ``compile``).

    As tf-keras does, the optimizer is built for ``model.trainable_weights`` first and the saved
    arrays are matched by position. Files of tf.keras' legacy optimizers (``SGD/iter:0``,
    ``Adam/dense/kernel/m:0``) are matched by name instead. When the state does not fit, a
    warning says so and the optimizer starts fresh.
    """
    from numkeras.engine import updates

    optimizer = model.optimizer
    if not arrays:
        return
    first = names[0].removesuffix(":0").split("/")[-1]
    legacy = first == "iter"
    if len(arrays) == 1 and first in ("iter", "iteration"):
        optimizer.iterations = int(np.asarray(arrays[0]).reshape(()))
        return
    params = model.trainable_weights
    try:
        updates.build(optimizer, [w.value for w in params])
        if legacy:
            expected = updates.get_optimizer_weight_names(optimizer, [w.name for w in params])
            translated = _translate_legacy_names(optimizer, names)
            by_new_name = {translated[n]: a for n, a in zip(names, arrays, strict=True)
                           if n in translated}
            if "iteration:0" not in by_new_name:
                raise ValueError(f"no iteration count among {names}")
            missing = [n for n in expected if n not in by_new_name]
            if missing:
                optimizer.iterations = int(np.asarray(by_new_name["iteration:0"]).reshape(()))
                warnings.warn(
                    f"The saved (legacy tf.keras) optimizer state has no counterpart for "
                    f"{missing}; only the iteration count was restored.",
                    stacklevel=2,
                )
                return
            arrays = [by_new_name[n] for n in expected]
        updates.set_optimizer_weights(optimizer, arrays)
    except ValueError as e:
        warnings.warn(
            f"Error in loading the saved optimizer state ({e}). As a result, your model is "
            "starting with a freshly initialized optimizer.",
            stacklevel=2,
        )


# --------------------------------------------------------------------------- file handling
def _ask_to_proceed_with_overwrite(filepath: str) -> bool:
    """Asks on the terminal, as Keras does; outside a terminal there is nobody to ask."""
    if sys.stdin is None or not sys.stdin.isatty():
        raise ValueError(
            f"File {filepath!r} already exists and overwrite=False. Pass overwrite=True to "
            "replace it, or choose another filepath."
        )
    answer = input(f"[WARNING] {filepath} already exists - overwrite? [y/n]").strip().lower()
    while answer not in ("y", "n"):
        answer = input('Enter "y" (overwrite) or "n" (cancel).').strip().lower()
    if answer == "n":
        return False
    print("[TIP] Next time specify overwrite=True!")
    return True


def _fsync(path: str) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@contextlib.contextmanager
def _atomic_hdf5_file(filepath: str) -> Iterator[h5py.File]:
    """An HDF5 file opened for writing that replaces ``filepath`` only once it is complete."""
    target = os.path.realpath(filepath)
    directory = os.path.dirname(target)
    os.makedirs(directory, exist_ok=True)
    tmp = os.path.join(directory, f".{os.path.basename(target)}.{uuid.uuid4().hex[:12]}.tmp")
    try:
        with h5py.File(tmp, "w-") as f:
            yield f
        _fsync(tmp)
        os.replace(tmp, target)
        _fsync(directory)
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(tmp)
        raise


def _check_save_format(save_format: str | None) -> None:
    if save_format is None:
        return
    fmt = str(save_format).lower().strip()
    if fmt in _TF_FORMATS:
        raise ValueError(
            f"save_format={save_format!r}: the TensorFlow SavedModel / checkpoint format is not "
            "supported by numkeras. Use save_format='h5' (the default for every filepath)."
        )
    if fmt not in _HDF5_FORMATS:
        raise ValueError(
            f"Unknown format. Received: `save_format`={save_format!r}. Was expecting one of "
            f"{{'h5', 'hdf5', 'keras'}}."
        )


def _filepath(filepath: Any) -> str:
    try:
        return os.fspath(filepath)
    except TypeError:
        raise ValueError(
            f"filepath must be a str, a path or an h5py.File; received {filepath!r}."
        ) from None


def _open_for_reading(filepath: str) -> h5py.File:
    if not os.path.exists(filepath):
        raise OSError(f"No file or directory found at {filepath}")
    if os.path.isdir(filepath) or not h5py.is_hdf5(filepath):
        raise ValueError(
            f"{filepath} is not an HDF5 file. numkeras reads Keras HDF5 files (.h5, .hdf5, "
            ".keras written by numkeras); the TensorFlow SavedModel / checkpoint format is not "
            "supported."
        )
    return h5py.File(filepath, "r")


# ------------------------------------------------------------------------------- weights API
def save_weights(model: Any, filepath: Any, overwrite: bool = True,
                 save_format: str | None = None, options: Any = None) -> None:
    """``model.save_weights``: every layer's weights, in Keras 2's HDF5 weights layout.

    Args:
        model: The model.
        filepath: Where to write; HDF5 whatever the suffix.
        overwrite: If False and the file exists, ask on the terminal (raise ``ValueError``
            when there is no terminal).
        save_format: ``None``, ``"h5"``, ``"hdf5"`` or ``"keras"``; ``"tf"`` is not supported.
        options: Accepted for compatibility with Keras; ignored.

    Raises:
        ValueError: for ``save_format="tf"`` or an unknown format, or an existing file with
            ``overwrite=False`` outside a terminal.
    """
    _check_save_format(save_format)
    path = _filepath(filepath)
    if not overwrite and os.path.isfile(path) and not _ask_to_proceed_with_overwrite(path):
        return
    with _atomic_hdf5_file(path) as f:
        save_weights_to_hdf5_group(f, model)


def load_weights(model: Any, filepath: Any, by_name: bool = False, skip_mismatch: bool = False,
                 options: Any = None) -> None:
    """``model.load_weights``: from a weights file or the weights of a saved model.

    Args:
        model: The model to load into.
        filepath: An HDF5 file written by ``save_weights`` or ``save`` (numkeras or Keras 2).
        by_name: Match layers by name instead of by position.
        skip_mismatch: With ``by_name``, skip weights whose shape differs (with a warning).
        options: Accepted for compatibility with Keras; ignored.

    Raises:
        OSError: if ``filepath`` does not exist.
        ValueError: if it is not a Keras HDF5 file, the weights do not fit the model, or
            ``skip_mismatch`` is set without ``by_name``.
    """
    if skip_mismatch and not by_name:
        raise ValueError(
            "When calling model.load_weights, skip_mismatch can only be set to True when "
            "by_name is True."
        )
    path = _filepath(filepath)
    with _open_for_reading(path) as f:
        group: h5py.Group = f
        if not _has_attribute(f, "layer_names") and "model_weights" in f:
            group = f["model_weights"]
        if not _has_attribute(group, "layer_names"):
            raise ValueError(
                f"{path} is an HDF5 file but holds no Keras weights (no 'layer_names' "
                "attribute and no 'model_weights' group)."
            )
        if by_name:
            load_weights_from_hdf5_group_by_name(group, model, skip_mismatch=skip_mismatch)
        else:
            load_weights_from_hdf5_group(group, model)


# --------------------------------------------------------------------------------- model API
def _json_default(obj: Any) -> Any:
    from numkeras.utils.generic_utils import serialize_keras_object

    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating):
        return float(obj)
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, tuple):
        return list(obj)
    if callable(obj) or hasattr(obj, "get_config"):
        return serialize_keras_object(obj)
    raise TypeError(f"Not JSON serializable: {obj!r}")


def _model_config_json(model: Any) -> str:
    full = json.loads(model.to_json())
    return json.dumps({"class_name": full["class_name"], "config": full["config"]},
                      default=_json_default)


def _write_model(f: h5py.File, model: Any, include_optimizer: bool) -> None:
    optimizer = getattr(model, "optimizer", None) if include_optimizer else None
    f.attrs["keras_version"] = KERAS_VERSION
    f.attrs["backend"] = BACKEND
    f.attrs["model_config"] = _model_config_json(model).encode("utf8")
    training_config = None
    if optimizer is not None and hasattr(model, "_training_config"):
        training_config = model._training_config()
    if training_config is not None:
        f.attrs["training_config"] = json.dumps(training_config,
                                                default=_json_default).encode("utf8")
    save_weights_to_hdf5_group(f.create_group("model_weights"), model)
    if optimizer is not None:
        save_optimizer_weights_to_hdf5_group(
            f, optimizer, [w.name for w in model.trainable_weights]
        )
    f.flush()


def save_model(model: Any, filepath: Any, overwrite: bool = True, include_optimizer: bool = True,
               save_format: str | None = None, **kwargs: Any) -> None:
    """``model.save``: architecture, weights, training config and optimizer state in one HDF5
    file, readable by ``load_model`` here and by Keras 2 (``tf_keras.models.load_model``).

    Args:
        model: The model.
        filepath: A path (HDF5 whatever its suffix) or an open, writable ``h5py.File``.
        overwrite: If False and the file exists, ask on the terminal (raise ``ValueError``
            when there is no terminal).
        include_optimizer: Also save the training config and the optimizer's state.
        save_format: ``None``, ``"h5"``, ``"hdf5"`` or ``"keras"``; ``"tf"`` is not supported.
        **kwargs: Keras's ``signatures``, ``options`` and ``save_traces``, ignored.

    Raises:
        ValueError: for an unsupported format or keyword, or an existing file with
            ``overwrite=False`` outside a terminal.
    """
    unknown = [k for k in kwargs if k not in _IGNORED_SAVE_KWARGS]
    if unknown:
        raise ValueError(f"save_model got unexpected keyword argument(s): {unknown}.")
    _check_save_format(save_format)
    if isinstance(filepath, h5py.File):
        _write_model(filepath, model, include_optimizer)
        return
    path = _filepath(filepath)
    if not overwrite and os.path.isfile(path) and not _ask_to_proceed_with_overwrite(path):
        return
    with _atomic_hdf5_file(path) as f:
        _write_model(f, model, include_optimizer)


def _deserialize_nested(config: Any, deserialize: Callable[[Any], Any]) -> Any:
    """Rebuilds losses or metrics saved one per output (list or dict) or as one entry; names
    stay names (``compile`` resolves them as Keras does)."""
    if config is None or isinstance(config, str):
        return config
    if isinstance(config, dict) and "class_name" in config:
        return deserialize(config)
    if isinstance(config, dict):
        return {k: _deserialize_nested(v, deserialize) for k, v in config.items()}
    if isinstance(config, (list, tuple)):
        return [_deserialize_nested(v, deserialize) for v in config]
    raise ValueError(f"Unable to deserialize training config entry {config!r}.")


def compile_args_from_training_config(training_config: dict[str, Any],
                                      custom_objects: dict[str, Any] | None = None
                                      ) -> dict[str, Any]:
    """``model.compile`` keyword arguments from a saved Keras 2 ``training_config``.

    Raises:
        ValueError: if the config has no ``optimizer_config`` or names unknown objects.
    """
    from numkeras import losses, metrics, optimizers

    custom_objects = dict(custom_objects or {})
    if not isinstance(training_config, dict) or "optimizer_config" not in training_config:
        raise ValueError(f"training_config has no 'optimizer_config': {training_config!r}")
    optimizer_config = dict(training_config["optimizer_config"])
    class_name = optimizer_config.get("class_name")
    # tf-keras 2 registers its optimizers as "Custom>Adam", ...
    if isinstance(class_name, str) and class_name.startswith("Custom>") \
            and class_name not in custom_objects:
        optimizer_config["class_name"] = class_name.removeprefix("Custom>")
    with CustomObjectScope(custom_objects):
        args: dict[str, Any] = {
            "optimizer": optimizers.deserialize(optimizer_config, custom_objects=custom_objects),
            "loss": _deserialize_nested(training_config.get("loss"), losses.deserialize),
            "metrics": _deserialize_nested(training_config.get("metrics"), metrics.deserialize),
            "weighted_metrics": _deserialize_nested(training_config.get("weighted_metrics"),
                                                    metrics.deserialize),
            "loss_weights": training_config.get("loss_weights"),
        }
    if training_config.get("sample_weight_mode") is not None:
        args["sample_weight_mode"] = training_config["sample_weight_mode"]
    return args


def model_from_config(config: dict[str, Any], custom_objects: dict[str, Any] | None = None
                      ) -> Any:
    """Rebuilds an engine ``Model`` (nested models too) from ``{"class_name", "config"}``.

    Raises:
        ValueError: for a malformed config or a class that is not a functional model.
    """
    from numkeras.engine.training import Model
    from numkeras.utils.generic_utils import get_custom_objects

    if not isinstance(config, dict) or "class_name" not in config or "config" not in config:
        raise ValueError(
            f"model_config must be a dict with 'class_name' and 'config'; received {config!r:.200}"
        )
    custom = {"Model": Model, **get_custom_objects(), **(custom_objects or {})}
    class_name = config["class_name"]
    if class_name in ("Model", "Functional"):
        cls = custom["Model"]
    elif class_name in custom:
        cls = custom[class_name]
    else:
        raise ValueError(
            f"Unknown model class {class_name!r}: numkeras rebuilds functional models ('Model' "
            "or 'Functional'); pass other classes in `custom_objects`."
        )
    return cls.from_config(config["config"], custom_objects=custom)


def _strip_output_prefixes(metrics: Any, output_names: list[str]) -> None:
    """tf-keras saves a multi-output model's metric objects under their final names
    (``out_a_mae``) and compiles them back without prefixing; ``compile`` here prefixes the
    output name again, so the saved prefix is removed first."""
    if len(output_names) < 2:
        return
    if isinstance(metrics, dict):
        per_output = [(name, metrics[name]) for name in output_names if name in metrics]
    elif isinstance(metrics, list) and len(metrics) == len(output_names):
        per_output = list(zip(output_names, metrics, strict=True))
    else:
        return
    for output, items in per_output:
        for metric in items if isinstance(items, list) else [items]:
            name = getattr(metric, "name", None)
            if isinstance(name, str) and name.startswith(f"{output}_"):
                metric.name = name[len(output) + 1:]


def _load_model_from_file(f: h5py.File, filepath: str, custom_objects: dict[str, Any] | None,
                          compile: bool) -> Any:
    model_config = f.attrs.get("model_config")
    if model_config is None or "model_weights" not in f:
        raise ValueError(
            f"No model config found in the file at {filepath}: it is not a Keras model file "
            "(a weights-only file is loaded with model.load_weights)."
        )
    try:
        config = json.loads(_text(model_config))
    except json.JSONDecodeError as e:
        raise ValueError(f"The model_config of {filepath} is not valid JSON: {e}") from None
    model = model_from_config(config, custom_objects)
    load_weights_from_hdf5_group(f["model_weights"], model)
    if not compile:
        return model
    training_config = f.attrs.get("training_config")
    if training_config is None:
        warnings.warn(
            "No training configuration found in the save file, so the model was *not* "
            "compiled. Compile it manually.",
            stacklevel=3,
        )
        return model
    args = compile_args_from_training_config(json.loads(_text(training_config)), custom_objects)
    for key in ("metrics", "weighted_metrics"):
        _strip_output_prefixes(args[key], model.output_names)
    model.compile(**args)
    if "optimizer_weights" in f:
        names, arrays = load_optimizer_weights_from_hdf5_group(f)
        restore_optimizer_state(model, names, arrays)
    return model


def load_model(filepath: Any, custom_objects: dict[str, Any] | None = None, compile: bool = True,
               options: Any = None) -> Any:
    """Loads a model saved by ``save_model`` (numkeras) or ``model.save(".h5")`` (Keras 2).

    Args:
        filepath: A path or an open ``h5py.File``.
        custom_objects: Names of custom layers, losses, metrics or optimizers.
        compile: Compile the model with the saved training config and restore the optimizer's
            state (when the file has them).
        options: Accepted for compatibility with Keras; ignored.

    Returns:
        A ``numkeras.engine.training.Model`` with the saved weights.

    Raises:
        OSError: if ``filepath`` does not exist.
        ValueError: if the file is not a Keras HDF5 model file.
    """
    if isinstance(filepath, h5py.File):
        return _load_model_from_file(filepath, filepath.filename, custom_objects, compile)
    path = _filepath(filepath)
    with _open_for_reading(path) as f:
        return _load_model_from_file(f, path, custom_objects, compile)
