"""Runs a functional graph forward, then walks it back for gradients.

No general tape: the nodes run in Keras's topological order and each node's kernel returns a
backward closure; backward visits them in reverse, summing gradients where a tensor feeds
several nodes and where a shared layer's weights are used more than once.

Only tensors downstream of a layer with weights (or of a model input, when the caller asks
for input gradients: a model nested in another) get a gradient; kernels that accept a
``need_input_grad`` keyword are told when theirs would be thrown away.
"""

from __future__ import annotations

import inspect
from typing import Any

import numpy as np

from numkeras.engine.kernels import forward_of
from numkeras.graph.functional import Functional


class PreActivationGrad:
    """A gradient with respect to an output node's pre-activation values (its logits)."""

    __slots__ = ("value",)

    def __init__(self, value: np.ndarray) -> None:
        self.value = value


class Tape:
    """What one forward pass kept for its backward pass."""

    __slots__ = ("steps", "values", "activity_terms", "masks", "needs_grad")

    def __init__(self, needs_grad: frozenset[int] = frozenset()) -> None:
        self.steps: list[tuple[Any, Any, Any]] = []
        self.values: dict[int, np.ndarray] = {}
        self.activity_terms: list[tuple[int, Any, int]] = []
        self.masks: dict[int, Any] = {}
        self.needs_grad = needs_grad  # ids of the tensors whose gradient backward keeps

    def backward_of(self, tensor: Any) -> Any:
        """The backward closure of the node that produced ``tensor``."""
        for node, backward, _ in self.steps:
            if any(t is tensor for t in node.output_tensors):
                return backward
        return None


class GraphRunner:
    """Executes ``model``'s nodes; one runner per model, reused across batches."""

    def __init__(self, model: Functional) -> None:
        self.model = model
        self.input_ids = [id(t) for t in model.inputs]
        self.output_ids = [id(t) for t in model.outputs]
        self.plan = []
        for node in model._execution_order:
            fn = forward_of(node.layer)
            params = inspect.signature(fn).parameters
            self.plan.append((node, fn, [id(t) for t in node.input_tensors],
                              [id(t) for t in node.output_tensors], "mask" in params,
                              "need_input_grad" in params))
        self.grad_plans = {flag: self._grad_plan(flag) for flag in (False, True)}

    def _grad_plan(self, input_grads: bool) -> tuple[list[bool], frozenset[int]]:
        """Whether each node's inputs need a gradient, and the ids of every tensor that does:
        a tensor needs one iff a path leads to it from a layer with weights (or from a model
        input when ``input_grads``)."""
        needs = set(self.input_ids) if input_grads else set()
        per_node = []
        for node, _, in_ids, out_ids, _, _ in self.plan:
            need_in = any(i in needs for i in in_ids)
            per_node.append(need_in)
            if need_in or node.layer.weights:
                needs.update(out_ids)
        return per_node, frozenset(needs)

    def forward(self, inputs: list[np.ndarray], training: bool,
                masks: list[Any] | None = None, input_grads: bool = False,
                ) -> tuple[list[np.ndarray], Tape]:
        """Computes the outputs; the returned tape feeds ``backward`` and holds output masks.

        ``input_grads`` asks ``backward`` for the gradients of the model's inputs too.
        """
        node_needs, needs_grad = self.grad_plans[bool(input_grads)]
        tape = Tape(needs_grad)
        values = tape.values
        for i, (tid, x) in enumerate(zip(self.input_ids, inputs, strict=True)):
            values[tid] = x
            if masks is not None and masks[i] is not None:
                tape.masks[tid] = masks[i]
        for (node, fn, in_ids, out_ids, takes_mask, takes_need), need_in in zip(
                self.plan, node_needs, strict=True):
            layer = node.layer
            args = node.unpack_inputs([values[i] for i in in_ids])
            in_masks = [tape.masks.get(i) for i in in_ids]
            in_mask = node.unpack_inputs(in_masks) if any(m is not None for m in in_masks) \
                else None
            kwargs = {}
            if takes_mask:
                kwargs["mask"] = in_mask
            if takes_need and not need_in:
                kwargs["need_input_grad"] = False
            fixed = node.call_kwargs.get("training")  # layer(x, training=...) overrides
            outputs, backward = fn(layer, args, training if fixed is None else bool(fixed),
                                   **kwargs)
            outs = outputs if isinstance(outputs, list) else [outputs]
            for oid, value in zip(out_ids, outs, strict=True):
                values[oid] = value
            out_mask = layer.compute_mask(args, in_mask)
            if out_mask is not None:
                out_masks = out_mask if isinstance(out_mask, list) else [out_mask] * len(outs)
                for oid, m in zip(out_ids, out_masks, strict=False):
                    if m is not None:
                        tape.masks[oid] = m
            tape.steps.append((node, backward, isinstance(outputs, list)))
            if layer.activity_regularizer is not None:
                tape.activity_terms.append((out_ids[0], layer.activity_regularizer,
                                            len(outs[0])))
        return [values[i] for i in self.output_ids], tape

    def activity_loss(self, tape: Tape) -> float:
        """Keras adds ``regularizer(output) / batch_size`` for each activity regularizer."""
        total = sum(getattr(backward, "activity_loss", 0.0) for _, backward, _ in tape.steps)
        for oid, reg, batch in tape.activity_terms:
            total += float(reg(tape.values[oid])) / max(batch, 1)
        return total

    def backward(self, tape: Tape, d_outputs: list[np.ndarray | None],
                 ) -> tuple[dict[int, np.ndarray], list[np.ndarray | None]]:
        """Gradients of every weight (keyed by ``id(Weight)``) and of every model input (``None``
        unless the forward pass had ``input_grads``)."""
        grads: dict[int, np.ndarray] = {}
        d_values: dict[int, np.ndarray] = {}
        for oid, d in zip(self.output_ids, d_outputs, strict=True):
            if d is not None:
                _accumulate(d_values, oid, d)
        for oid, reg, batch in tape.activity_terms:
            _accumulate(d_values, oid, reg.gradient(tape.values[oid]) / max(batch, 1))
        for node, backward, multi in reversed(tape.steps):
            out_ids = [id(t) for t in node.output_tensors]
            douts = [d_values.pop(i, None) for i in out_ids]
            if all(d is None for d in douts):
                continue
            if isinstance(douts[0], PreActivationGrad):
                d_in, d_weights = backward.from_preactivation(douts[0].value)
            elif multi:
                douts = [np.zeros_like(tape.values[i]) if d is None else d
                         for i, d in zip(out_ids, douts, strict=True)]
                d_in, d_weights = backward(douts)
            else:
                d_in, d_weights = backward(douts[0])
            if isinstance(d_weights, dict):
                for wid, g in d_weights.items():
                    _accumulate(grads, wid, g)
            else:
                for weight, g in zip(node.layer._weights, d_weights, strict=False):
                    if g is not None:
                        _accumulate(grads, id(weight), g)
            d_ins = d_in if node.input_structure == "list" else [d_in]
            for t, d in zip(node.input_tensors, d_ins, strict=True):
                if d is not None and id(t) in tape.needs_grad:
                    _accumulate(d_values, id(t), d)
        return grads, [d_values.get(i) for i in self.input_ids]


def _accumulate(table: dict[int, np.ndarray], key: int, value: np.ndarray) -> None:
    current = table.get(key)
    if current is None:
        table[key] = value
    else:
        table[key] = current + value
