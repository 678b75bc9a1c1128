"""Applying optimizers: slots, gradient clipping, learning-rate decay and the fused kernels.

The vocabulary optimizer (``numkeras.optimizers``) holds the hyperparameters and the state; this
package creates the state on the first step and runs one numba kernel per parameter per step,
updating the parameter arrays in place. The kernels use ``error_model="numpy"``: a division by zero
gives inf/nan as in tf-keras instead of raising, and lets LLVM vectorise the loops (8x faster).

State layout (``get_optimizer_weights``) is tf-keras 2's ``optimizer.variables``, the order its
``model.save`` writes to the HDF5 ``optimizer_weights`` group: ``iteration`` (int64 scalar), then,
with ``use_ema``, one ``average`` per parameter, then the slots loop by loop as tf-keras's
``build`` creates them. Where a loop creates several slots they alternate per parameter, e.g.
Adam: ``m/p0, v/p0, m/p1, v/p1, ...`` and, with amsgrad, ``vhat/p0, vhat/p1, ...`` after them;
RMSprop: all ``velocity``, then all ``momentum`` (momentum > 0), then all ``average_gradient``
(centered).
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence
from types import ModuleType

import numpy as np

from numkeras import optimizers
from numkeras.backend import floatx
from numkeras.engine.ops import gemm_tasks
from numkeras.engine.ops.parallel import run_chunks, run_tasks
from numkeras.engine.updates import (
    adadelta,
    adagrad,
    adam,
    adamax,
    nadam,
    rmsprop,
    sgd,
    task_row,
)

__all__ = [
    "apply_gradients",
    "build",
    "finalize_variable_values",
    "get_optimizer_weight_names",
    "get_optimizer_weights",
    "set_optimizer_weights",
]

_RULES: dict[type, ModuleType] = {
    optimizers.SGD: sgd,
    optimizers.RMSprop: rmsprop,
    optimizers.Adagrad: adagrad,
    optimizers.Adadelta: adadelta,
    optimizers.Adam: adam,
    optimizers.Adamax: adamax,
    optimizers.Nadam: nadam,
}


def _rule(optimizer: optimizers.Optimizer) -> ModuleType:
    for cls in type(optimizer).__mro__:
        if cls in _RULES:
            return _RULES[cls]
    raise ValueError(f"No update rule for optimizer {type(optimizer).__name__!r}.")


def _check_params(params: Sequence[np.ndarray]) -> None:
    for i, p in enumerate(params):
        if not isinstance(p, np.ndarray) or p.dtype.kind != "f" or not p.flags.c_contiguous:
            raise ValueError(
                f"Parameter {i} must be a C-contiguous float array; received "
                f"{type(p).__name__} {getattr(p, 'dtype', '')}."
            )
        if not p.flags.writeable:
            raise ValueError(f"Parameter {i} (shape {p.shape}) is read-only.")


def build(optimizer: optimizers.Optimizer, params: Sequence[np.ndarray]) -> None:
    """Creates the optimizer's slots for ``params`` (as tf-keras's ``optimizer.build``).

    Does nothing but check the shapes when the slots exist already.

    Raises:
        ValueError: if existing slots do not match ``params`` in count or shape.
    """
    _rule(optimizer)
    if optimizer.slots is not None:
        if len(optimizer.slots) != len(params):
            raise ValueError(
                f"Optimizer {optimizer.name!r} holds slots for {len(optimizer.slots)} "
                f"parameters but was given {len(params)}."
            )
        for i, (p, slots) in enumerate(zip(params, optimizer.slots, strict=True)):
            for name, slot in slots.items():
                if slot.shape != p.shape:
                    raise ValueError(
                        f"Optimizer {optimizer.name!r} slot {name!r} of parameter {i} has shape "
                        f"{slot.shape}, but the parameter has shape {p.shape}."
                    )
        return
    names = optimizer.slot_names
    optimizer.slots = [
        {
            name: np.full(p.shape, optimizer.slot_initial_value(name), dtype=p.dtype)
            for name in names
        }
        for p in params
    ]
    if optimizer.use_ema:
        optimizer.ema_weights = [np.array(p, copy=True) for p in params]


def _clip(optimizer: optimizers.Optimizer, grads: list[np.ndarray | None]) -> list:
    # As tf-keras 2: only one clipping applies, clipnorm first, then global_clipnorm, clipvalue.
    if optimizer.clipnorm:
        clipped = []
        for g in grads:
            if g is not None:
                norm = float(np.sqrt(np.sum(np.square(g, dtype=np.float64))))
                if norm > optimizer.clipnorm:
                    g = g * g.dtype.type(optimizer.clipnorm / norm)
            clipped.append(g)
        return clipped
    if optimizer.global_clipnorm:
        present = [g for g in grads if g is not None]
        norm = float(np.sqrt(sum(np.sum(np.square(g, dtype=np.float64)) for g in present)))
        if not np.isfinite(norm):
            return [None if g is None else np.full_like(g, np.nan) for g in grads]
        if norm > optimizer.global_clipnorm:
            scale = optimizer.global_clipnorm / norm
            return [None if g is None else g * g.dtype.type(scale) for g in grads]
        return grads
    if optimizer.clipvalue:
        c = optimizer.clipvalue
        return [None if g is None else np.clip(g, -c, c) for g in grads]
    return grads


def apply_gradients(
    optimizer: optimizers.Optimizer,
    params: Sequence[np.ndarray],
    grads: Sequence[np.ndarray | None],
) -> None:
    """Applies one optimizer step, updating each array of ``params`` in place.

    Slots are created on the first call, one set per position in ``params``. Gradients are
    clipped, weight decay is applied, then one fused kernel per parameter runs with the step's
    learning rate ``learning_rate / (1 + decay * iterations)``; ``optimizer.iterations`` then
    goes up by one. A ``None`` gradient leaves its parameter unchanged.

    Args:
        optimizer: A ``numkeras.optimizers`` optimizer.
        params: C-contiguous float arrays (float32 normally), the model's weights.
        grads: One gradient per parameter, of the parameter's shape, or ``None``.

    Raises:
        ValueError: if the lists differ in length, a gradient's shape is not its parameter's,
            or the optimizer's slots were made for other parameters.
    """
    if len(params) != len(grads):
        raise ValueError(
            f"apply_gradients got {len(params)} parameters but {len(grads)} gradients."
        )
    rule, flat_params, flat_slots, blocks, tasks = _plan(optimizer, params)
    ready: list[np.ndarray | None] = []
    for i, (p, g) in enumerate(zip(params, grads, strict=True)):
        if g is not None:
            g = np.ascontiguousarray(g, dtype=p.dtype)
            if g.shape != p.shape:
                raise ValueError(
                    f"Gradient {i} has shape {g.shape}, but its parameter has shape {p.shape}."
                )
        ready.append(g)
    ready = _clip(optimizer, ready)

    lr = np.float32(optimizer.learning_rate)
    if optimizer.decay:
        # As Keras 2 / tf-keras legacy, in float32: lr / (1 + decay * iterations).
        one = np.float32(1.0)
        lr = lr / (one + np.float32(optimizer.decay) * np.float32(optimizer.iterations))
    coeffs = rule.coefficients(optimizer, lr, optimizer.iterations + 1)
    if optimizer.weight_decay:
        wd = np.float32(optimizer.weight_decay)
        for p, g in zip(params, ready, strict=True):
            if g is not None:
                p -= p * wd * lr
    if blocks is None:
        for p, g, slots in zip(flat_params, ready, flat_slots, strict=True):
            if g is not None:
                rule.update(p, g.reshape(-1), slots, coeffs)
    elif tasks is not None:
        tasks.run(ready, coeffs)
    else:
        flat_grads = [None if g is None else g.reshape(-1) for g in ready]

        def update_block(c: int) -> None:
            i, start, stop, p, slots = blocks[c]
            g = flat_grads[i]
            if g is not None:
                rule.update(p, g[start:stop], slots, coeffs)

        run_chunks(update_block, len(blocks))
    if optimizer.use_ema:
        _update_ema(optimizer, params, ready)
    optimizer.iterations += 1


# Per optimizer, the checked parameters and flat views of them and their slots, reused while the
# same arrays come back step after step (the per-step checks cost more than a tiny model's math).
_PLANS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

PARALLEL_MIN_ELEMENTS = 1 << 17
"""Models with at least this many parameter elements update them in blocks of
``BLOCK_ELEMENTS`` spread over the cores (``parallel.run_chunks``); every rule is elementwise,
so the numbers are the same. Smaller models update on the calling thread: waking a helper
(~30 us) costs more than their whole update."""
BLOCK_ELEMENTS = 1 << 16


def _blocks(flat_params: list[np.ndarray], flat_slots: list[dict[str, np.ndarray]]
            ) -> list[tuple] | None:
    if sum(p.size for p in flat_params) < PARALLEL_MIN_ELEMENTS:
        return None
    blocks = []
    for i, (p, slots) in enumerate(zip(flat_params, flat_slots, strict=True)):
        for start in range(0, p.size, BLOCK_ELEMENTS):
            stop = min(start + BLOCK_ELEMENTS, p.size)
            blocks.append((i, start, stop, p[start:stop],
                           {name: s[start:stop] if s.size else s for name, s in slots.items()}))
    # Largest first, so that the last blocks claimed are short ones.
    blocks.sort(key=lambda b: b[1] - b[2])
    return blocks


class _Tasks:
    """A rule's blocks as compiled call tasks (``gemm_tasks.calls``): the caller and the
    helpers run them without the GIL, where Python chunks cost a numba call per block and
    thread wake-ups. The mlp benchmark's Adam step (535k parameters in 13 blocks, data in
    cache) took 177-242 us as chunks, 122-127 us as tasks; in a training step 375 -> 326 us.

    One argument row per block (``task_row``), the slots in the rule's ``TASK_SLOTS`` order.
    Only the gradients' addresses and the coefficients change from step to step."""

    def __init__(self, rule: ModuleType, blocks: list[tuple], params: list[np.ndarray],
                 flat_slots: list[dict[str, np.ndarray]]) -> None:
        self.coefficients = np.zeros(task_row.COEFFICIENTS, dtype=np.float32)
        self.arguments = np.zeros((len(blocks), task_row.FIELDS), dtype=np.int64)
        self.param_of_block = np.array([b[0] for b in blocks], dtype=np.int64)
        self.offsets = np.array([b[1] * params[b[0]].itemsize for b in blocks], dtype=np.int64)
        for row, (i, start, stop, _, _) in enumerate(blocks):
            size = params[i].itemsize
            self.arguments[row, :4] = (stop - start, params[i].ctypes.data + start * size, 0,
                                       self.coefficients.ctypes.data)
            for j, name in enumerate(rule.TASK_SLOTS):
                slot = flat_slots[i].get(name)
                if slot is not None and slot.size:
                    self.arguments[row, 4 + j] = slot.ctypes.data + start * size
        self.fields = gemm_tasks.calls(rule.task.address, self.arguments)
        self.params = params  # the arrays the rows point into stay alive with the plan
        self.slots = flat_slots

    @classmethod
    def plan(cls, rule: ModuleType, params: list[np.ndarray],
             flat_slots: list[dict[str, np.ndarray]], blocks: list[tuple] | None
             ) -> _Tasks | None:
        """The tasks for ``blocks``, or ``None`` where they do not apply: no blocks, a rule
        without a ``task``, parameters not all float32, or no task board (numpy without the
        cblas gemm, which the board is made for)."""
        if blocks is None or not hasattr(rule, "task") or not gemm_tasks.available() or \
                any(p.dtype != np.float32 for p in params):
            return None
        return cls(rule, blocks, params, flat_slots)

    def run(self, grads: list[np.ndarray | None], coeffs: tuple) -> None:
        """One step: ``grads`` one C-contiguous float32 array (or ``None``) per parameter."""
        self.coefficients[:len(coeffs)] = coeffs
        present = np.array([0 if g is None else g.ctypes.data for g in grads], dtype=np.int64)
        self.arguments[:, 2] = present[self.param_of_block] + self.offsets
        fields = self.fields
        if not present.all():  # blocks of parameters without a gradient stay as they are
            fields = fields[present[self.param_of_block] != 0]
        for start in range(0, len(fields), gemm_tasks.MAX_TASKS):
            run_tasks(fields[start:start + gemm_tasks.MAX_TASKS])


def compile_tasks() -> None:
    """Compiles every rule's call task (or loads it from numba's cache): the server's warm-up
    calls it, since its small models update without blocks."""
    for rule in _RULES.values():
        rule.task.address  # noqa: B018 - compiles on first access


def _plan(optimizer: optimizers.Optimizer, params: Sequence[np.ndarray]
          ) -> tuple[ModuleType, list[np.ndarray], list[dict[str, np.ndarray]], list | None,
                     _Tasks | None]:
    cached = _PLANS.get(optimizer)
    if cached is not None and cached[0] == (id(optimizer.slots), *map(id, params)):
        return cached[1]
    rule = _rule(optimizer)
    _check_params(params)
    build(optimizer, params)
    flat_params = [p.reshape(-1) for p in params]
    flat_slots = [{name: s.reshape(-1) for name, s in group.items()}
                  for group in optimizer.slots]
    blocks = _blocks(flat_params, flat_slots)
    tasks = _Tasks.plan(rule, flat_params, flat_slots, blocks)
    plan = (rule, flat_params, flat_slots, blocks, tasks)
    # The entry keeps ``params`` and the slot list alive, so their ids cannot be reused
    # meanwhile; set_optimizer_weights, which may add slot arrays, drops it.
    _PLANS[optimizer] = ((id(optimizer.slots), *map(id, params)), plan, optimizer.slots,
                         list(params))
    return plan


def _update_ema(optimizer: optimizers.Optimizer, params: Sequence[np.ndarray], grads: list) -> None:
    momentum = np.float32(optimizer.ema_momentum)
    frequency = optimizer.ema_overwrite_frequency
    overwrite = bool(frequency) and (optimizer.iterations + 1) % frequency == 0
    for p, g, average in zip(params, grads, optimizer.ema_weights, strict=True):
        if g is not None:
            average[...] = momentum * average + (np.float32(1.0) - momentum) * p
            if overwrite:
                p[...] = average


def finalize_variable_values(optimizer: optimizers.Optimizer, params: Sequence[np.ndarray]) -> None:
    """With ``use_ema``, overwrites ``params`` in place by their moving averages (tf-keras's
    ``fit`` does this after the last epoch); otherwise does nothing."""
    if optimizer.use_ema and optimizer.ema_weights is not None:
        build(optimizer, params)
        for p, average in zip(params, optimizer.ema_weights, strict=True):
            p[...] = average


def _state_order(optimizer: optimizers.Optimizer, n_params: int) -> list[tuple[str, int]]:
    order = [("average", i) for i in range(n_params)] if optimizer.use_ema else []
    for group in optimizer.active_slot_groups():
        order.extend((name, i) for i in range(n_params) for name in group)
    return order


def get_optimizer_weights(optimizer: optimizers.Optimizer) -> list[np.ndarray]:
    """Copies of the optimizer's state in tf-keras 2's order (see the module docstring).

    Before the first step this is ``[iterations]`` alone, as tf-keras has only that variable.
    """
    weights = [np.array(optimizer.iterations, dtype=np.int64)]
    if optimizer.slots is None:
        return weights
    for name, i in _state_order(optimizer, len(optimizer.slots)):
        source = optimizer.ema_weights[i] if name == "average" else optimizer.slots[i][name]
        weights.append(np.array(source, copy=True))
    return weights


def get_optimizer_weight_names(
    optimizer: optimizers.Optimizer, param_names: Sequence[str]
) -> list[str]:
    """tf-keras 2's names for ``get_optimizer_weights``: ``iteration:0``, then
    ``{optimizer name}/{slot}/{parameter name}:0`` (e.g. ``Adam/m/dense/kernel:0``).

    Args:
        optimizer: The optimizer.
        param_names: The parameters' names, with or without the ``:0`` suffix.
    """
    names = ["iteration:0"]
    if optimizer.slots is None:
        return names
    if len(param_names) != len(optimizer.slots):
        raise ValueError(
            f"Got {len(param_names)} parameter names for {len(optimizer.slots)} parameters."
        )
    bare = [n[:-2] if n.endswith(":0") else n for n in param_names]
    for slot, i in _state_order(optimizer, len(optimizer.slots)):
        names.append(f"{optimizer.name}/{slot}/{bare[i]}:0")
    return names


def set_optimizer_weights(optimizer: optimizers.Optimizer, arrays: Sequence[np.ndarray]) -> None:
    """Restores state written by ``get_optimizer_weights`` or tf-keras 2's ``model.save``.

    When the slots do not exist yet, they are created from the arrays' shapes; otherwise the
    arrays must match them. Nothing changes unless every array fits.

    Raises:
        ValueError: if the number of arrays or a shape does not match.
    """
    arrays = [np.asarray(a) for a in arrays]
    if not arrays or arrays[0].size != 1:
        raise ValueError(
            f"Optimizer {optimizer.name!r} weights must start with the iteration count; "
            f"received {len(arrays)} arrays"
            + (f", the first of shape {arrays[0].shape}." if arrays else ".")
        )
    iterations = int(arrays[0].reshape(()))
    rest = arrays[1:]
    per_param = len(optimizer.slot_names) + (1 if optimizer.use_ema else 0)
    if optimizer.slots is not None:
        n_params = len(optimizer.slots)
        if len(rest) != n_params * per_param:
            raise ValueError(
                f"Optimizer {optimizer.name!r} has {1 + n_params * per_param} weights but "
                f"{len(arrays)} were given."
            )
        shapes = [
            next(iter(slots.values())).shape if slots else optimizer.ema_weights[i].shape
            for i, slots in enumerate(optimizer.slots)
        ]
    else:
        if not rest:
            optimizer.iterations = iterations
            return
        if per_param == 0 or len(rest) % per_param:
            raise ValueError(
                f"Optimizer {optimizer.name!r} has 1 + {per_param} weights per parameter; "
                f"{len(arrays)} weights do not fit that."
            )
        n_params = len(rest) // per_param
        shapes = [None] * n_params
    order = _state_order(optimizer, n_params)
    for (name, i), array in zip(order, rest, strict=True):
        if shapes[i] is None:
            shapes[i] = array.shape
        if array.shape != shapes[i]:
            raise ValueError(
                f"Optimizer {optimizer.name!r} weight {name!r} of parameter {i} has shape "
                f"{shapes[i]}, but the given array has shape {array.shape}."
            )
    if optimizer.slots is None:
        optimizer.slots = [{} for _ in range(n_params)]
        if optimizer.use_ema:
            optimizer.ema_weights = [None] * n_params
    for (name, i), array in zip(order, rest, strict=True):
        if name == "average":
            target = optimizer.ema_weights
            if target[i] is None:
                target[i] = np.array(array, dtype=floatx())
            else:
                target[i][...] = array
        elif name in optimizer.slots[i]:
            optimizer.slots[i][name][...] = array
        else:
            optimizer.slots[i][name] = np.array(array, dtype=floatx())
    optimizer.iterations = iterations
    _PLANS.pop(optimizer, None)
