"""Forward and backward of every layer, looked up by layer class.

A kernel is ``forward(layer, inputs, training) -> (outputs, backward)``; ``inputs`` and
``outputs`` have the structure the layer was called with (one array or a list).
``backward(d_outputs) -> (d_inputs, d_weights)`` returns the gradient for each input
(``None`` where there is none, e.g. integer inputs) and one gradient per entry of
``layer._weights`` (``None`` for weights without one). Backward closes over exactly what
its forward kept.

A kernel may accept an optional keyword ``need_input_grad: bool = True``. The graph runner
passes ``need_input_grad=False`` when no gradient flows back through the node's inputs (they
come only from model inputs and weightless layers); its backward may then skip the input
gradients and return ``None`` for them. The weight gradients must not change. Kernels
without the keyword are called as before and their input gradients are dropped.

A layer that ends in an activation (Dense, Activation, ...) may also give its ``backward``
two attributes: ``preactivation`` (the values before the activation) and
``from_preactivation(d_pre) -> (d_inputs, d_weights)``. The model then trains a crossentropy
on a softmax or sigmoid output from the logits, as tf-keras does (no clipping, exact
gradients).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

_REGISTRY: dict[type, Callable[..., Any]] = {}


def register(*layer_classes: type) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    def decorator(fn: Callable[..., Any]) -> Callable[..., Any]:
        for cls in layer_classes:
            _REGISTRY[cls] = fn
        return fn

    return decorator


def forward_of(layer: Any) -> Callable[..., Any]:
    """The forward function of ``layer``'s class (or its nearest registered base)."""
    _load_all()
    for cls in type(layer).__mro__:
        fn = _REGISTRY.get(cls)
        if fn is not None:
            return fn
    raise ValueError(
        f"Layer {layer.name!r} of class {type(layer).__name__} cannot run on the numkeras "
        "engine: it has no forward/backward kernel."
    )


_loaded = False


def _load_all() -> None:
    global _loaded
    if _loaded:
        return
    import importlib
    import pkgutil

    for info in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{info.name}")
    _loaded = True
