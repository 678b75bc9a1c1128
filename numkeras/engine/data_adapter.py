"""Arrays in the shapes the model expects: x, y and sample weights as lists per input/output.

Everything that checks user data lives here, so every method reports bad data the same way:
a ValueError naming the input or output and both shapes.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np


def _as_array(value: Any, what: str) -> np.ndarray:
    try:
        arr = np.asarray(value)
    except Exception as e:  # ragged lists, exotic objects
        raise ValueError(f"Could not convert {what} to an array: {e}") from None
    if arr.dtype == object:
        raise ValueError(f"{what} has dtype object; expected numbers (float or int arrays).")
    if arr.dtype.kind not in "biuf":
        raise ValueError(f"{what} has dtype {arr.dtype}; expected numbers (float or int arrays).")
    return arr


def to_list(data: Any, names: list[str], role: str, dict_keys: list[str] | None = None,
            allow_none: bool = False) -> list[Any]:
    """Array, list/tuple or dict keyed by names -> a list in model order."""
    n = len(names)
    if data is None:
        return [None] * n
    if isinstance(data, dict):
        keys = dict_keys or names
        missing = [k for k in keys if k not in data]
        if missing and not allow_none:
            raise ValueError(
                f"No data provided for {role} {missing}. Need data for each key in: {keys}"
            )
        unknown = [k for k in data if k not in keys]
        if unknown:
            raise ValueError(
                f"Unknown {role} name(s) in the data dictionary: {unknown}. Expected keys: {keys}"
            )
        return [data.get(k) for k in keys]
    if isinstance(data, (list, tuple)):
        if n == 1 and len(data) != 1:
            return [data]
        if len(data) != n:
            raise ValueError(
                f"The model expects {n} {role} array(s), but received a list of {len(data)} "
                f"array(s). Model {role}s: {names}"
            )
        return list(data)
    if n != 1:
        raise ValueError(
            f"The model has {n} {role}s {names}, but received a single array; pass a list or a "
            "dict of arrays."
        )
    return [data]


def standardize_x(model: Any, x: Any) -> list[np.ndarray]:
    """The model's inputs as C-contiguous arrays of each Input's dtype, shapes checked."""
    xs = to_list(x, model.input_names, "input", model._input_dict_keys)
    out = []
    for name, tensor, value in zip(model.input_names, model.inputs, xs, strict=True):
        arr = _as_array(value, f"input {name!r}")
        expected = tensor.shape
        if arr.ndim != len(expected) or any(
            e is not None and e != a for e, a in zip(expected[1:], arr.shape[1:], strict=False)
        ):
            raise ValueError(
                f"Error when checking input: expected {name} to have shape "
                f"{_fmt(expected[1:])} but got array with shape {_fmt(arr.shape[1:])} "
                f"(full shape {arr.shape})."
            )
        out.append(np.ascontiguousarray(arr, dtype=tensor.dtype))
    return out


def standardize_y(model: Any, y: Any, sparse: list[bool]) -> list[np.ndarray | None]:
    """Targets per output as float32, rank matched to the output as tf-keras does."""
    ys = to_list(y, model.output_names, "output", model._output_dict_keys, allow_none=True)
    out: list[np.ndarray | None] = []
    for i, (name, tensor, value) in enumerate(zip(model.output_names, model.outputs, ys,
                                                  strict=True)):
        if value is None:
            out.append(None)
            continue
        arr = _as_array(value, f"target {name!r}")
        expected = tensor.shape
        if sparse[i]:
            ok = arr.ndim in (len(expected) - 1, len(expected)) and (
                arr.ndim == len(expected) - 1 or arr.shape[-1] == 1)
            ok = ok and all(e is None or e == a for e, a in
                            zip(expected[1:-1], arr.shape[1:len(expected) - 1], strict=False))
        else:
            if arr.ndim == len(expected) - 1:
                arr = arr[..., None]
            ok = arr.ndim == len(expected) and all(
                e is None or e == a for e, a in zip(expected[1:], arr.shape[1:], strict=False))
        if not ok:
            raise ValueError(
                f"Error when checking target: expected {name} to have shape "
                f"{_fmt(expected[1:])} but got array with shape {_fmt(arr.shape[1:])}."
            )
        out.append(np.ascontiguousarray(arr, dtype=np.float32))
    return out


def standardize_sample_weights(model: Any, sample_weight: Any, modes: list[str | None],
                               ys: list[np.ndarray | None]) -> list[np.ndarray | None]:
    """One weight array (or None) per output; 2D only with sample_weight_mode='temporal'."""
    n = len(model.output_names)
    if sample_weight is None:
        return [None] * n
    if isinstance(sample_weight, (dict, list, tuple)) and not (
        isinstance(sample_weight, (list, tuple)) and n == 1
        and np.ndim(sample_weight) == 1
    ):
        sws = to_list(sample_weight, model.output_names, "output", model._output_dict_keys,
                      allow_none=True)
    else:
        sws = [sample_weight] * n
    out: list[np.ndarray | None] = []
    for name, sw, mode, yv in zip(model.output_names, sws, modes, ys, strict=True):
        if sw is None:
            out.append(None)
            continue
        arr = _as_array(sw, f"sample_weight for output {name!r}").astype(np.float32)
        if mode == "temporal":
            if arr.ndim != 2:
                raise ValueError(
                    f"Found a sample_weight array with shape {arr.shape} for output {name!r}. "
                    "In order to use timestep-wise sample weighting, you should pass a 2D "
                    "sample_weight array (samples, timesteps)."
                )
            if yv is not None and arr.shape != yv.shape[:2]:
                raise ValueError(
                    f"sample_weight for output {name!r} has shape {arr.shape}, but the targets "
                    f"have {yv.shape[:2]} samples and timesteps."
                )
        elif arr.ndim == 2 and arr.shape[1] == 1:
            arr = arr[:, 0]  # (samples, 1) is read as (samples,), as tf-keras does
        elif arr.ndim != 1:
            raise ValueError(
                f"Found a sample_weight array with shape {arr.shape} for output {name!r}. In "
                "order to use timestep-wise sample weights, you should specify "
                "sample_weight_mode='temporal' in compile(). Otherwise sample_weight must be 1D."
            )
        out.append(np.ascontiguousarray(arr))
    return out


def apply_class_weight(class_weight: Any, ys: list[np.ndarray | None],
                       sws: list[np.ndarray | None]) -> list[np.ndarray | None]:
    """Turns ``class_weight`` into sample weights (multiplied into any given), as tf-keras."""
    if not class_weight:
        return sws
    if not isinstance(class_weight, dict):
        raise ValueError(f"class_weight must be a dict mapping class index to weight, got "
                         f"{type(class_weight).__name__}.")
    if len(ys) > 1:
        if all(isinstance(v, dict) for v in class_weight.values()):
            raise ValueError("class_weight per output is not supported; `class_weight` is only "
                             "supported for Models with a single output.")
        raise ValueError("`class_weight` is only supported for Models with a single output.")
    try:
        keys = sorted(int(k) for k in class_weight)
    except (TypeError, ValueError):
        raise ValueError(f"class_weight keys must be class indices (integers), got "
                         f"{list(class_weight)}.") from None
    if keys != list(range(len(keys))):
        raise ValueError(
            "Expected `class_weight` to be a dict with keys from 0 to one less than the number "
            f"of classes, found {class_weight}"
        )
    table = np.array([float(class_weight.get(k, class_weight.get(str(k)))) for k in keys],
                     dtype=np.float32)
    y = ys[0]
    if y is None:
        return sws
    if y.ndim >= 2 and y.shape[-1] > 1:
        classes = np.argmax(y, axis=-1)
    else:
        classes = np.rint(y.reshape(y.shape[0], -1)[:, 0] if y.ndim > 1 else y).astype(np.int64)
    if classes.ndim > 1:  # temporal targets: one class per timestep
        pass
    if classes.size and (classes.min() < 0 or classes.max() >= len(table)):
        raise ValueError(
            f"class_weight has weights for classes 0..{len(table) - 1}, but the targets contain "
            f"class {int(classes.max())}."
        )
    cw = table[classes]
    if sws[0] is not None:
        cw = cw * sws[0] if cw.shape == sws[0].shape else sws[0] * cw.reshape(
            cw.shape + (1,) * (sws[0].ndim - cw.ndim))
    return [cw.astype(np.float32)]


def check_cardinality(arrays: list[list[Any]]) -> int:
    """The number of samples, after checking that every array has it."""
    sizes = {}
    for group_name, group in zip(("x", "y", "sample_weight"), arrays, strict=False):
        for a in group:
            if a is not None:
                sizes.setdefault(group_name, []).append(int(a.shape[0]) if a.ndim else 0)
    all_sizes = {s for v in sizes.values() for s in v}
    if len(all_sizes) > 1:
        detail = " ".join(f"{k} sizes: {', '.join(map(str, v))}" for k, v in sizes.items())
        raise ValueError(
            f"Data cardinality is ambiguous: {detail}. Make sure all arrays contain the same "
            "number of samples."
        )
    return all_sizes.pop() if all_sizes else 0


def split_at(validation_split: float, n: int) -> int:
    """Index where validation data starts: the last ``validation_split`` of the samples."""
    if not 0.0 <= validation_split < 1.0:
        raise ValueError(f"validation_split must be in [0, 1), got {validation_split!r}.")
    at = int(math.floor(n * (1.0 - validation_split)))
    if at == 0 or at == n:
        raise ValueError(
            f"Training data contains {n} samples, which is not sufficient to split it into a "
            f"validation and training set as specified by `validation_split={validation_split}`. "
            "Either provide more data, or a different value for the `validation_split` argument."
        )
    return at


def batch_order(n: int, batch_size: int, shuffle: Any, rng: np.random.Generator) -> np.ndarray:
    """Sample indices for one epoch: in order, shuffled, or shuffled by whole batches."""
    index = np.arange(n)
    if shuffle == "batch":
        count = n // batch_size
        head = index[: count * batch_size].reshape(count, batch_size)
        rng.shuffle(head)
        return np.concatenate([head.reshape(-1), index[count * batch_size:]])
    if shuffle:
        rng.shuffle(index)
    return index


def take(arrays: list[np.ndarray | None], idx: Any) -> list[np.ndarray | None]:
    if isinstance(idx, slice):
        return [None if a is None else a[idx] for a in arrays]
    return [None if a is None else np.take(a, idx, axis=0) for a in arrays]  # a C-contiguous copy


def _fmt(shape: tuple) -> str:
    return "(" + ", ".join("None" if d is None else str(d) for d in shape) + \
        ("," if len(shape) == 1 else "") + ")"
