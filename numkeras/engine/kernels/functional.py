"""A model called as a layer: run its own graph; its weights' gradients go out by id."""

from __future__ import annotations

from typing import Any

from numkeras.engine.kernels import register
from numkeras.graph.functional import Functional


def runner_of(model: Functional) -> Any:
    from numkeras.engine.graph_runner import GraphRunner

    runner = model.__dict__.get("_graph_runner")
    if runner is None:
        runner = model._graph_runner = GraphRunner(model)
    return runner


@register(Functional)
def forward(layer: Functional, inputs: Any, training: bool,
            need_input_grad: bool = True) -> tuple[Any, Any]:
    runner = runner_of(layer)
    xs = inputs if isinstance(inputs, list) else [inputs]
    outputs, tape = runner.forward(xs, training, input_grads=need_input_grad)

    def backward(d_outputs: Any) -> tuple[Any, dict]:
        douts = d_outputs if isinstance(d_outputs, list) else [d_outputs]
        grads, d_inputs = runner.backward(tape, douts)
        return (d_inputs if isinstance(inputs, list) else d_inputs[0]), grads

    backward.activity_loss = runner.activity_loss(tape)  # the inner layers' penalties
    return (outputs if len(outputs) > 1 else outputs[0]), backward
