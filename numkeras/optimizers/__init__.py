"""Keras 2 optimizers: ``SGD``, ``RMSprop``, ``Adagrad``, ``Adadelta``, ``Adam``, ``Adamax``,
``Nadam``, and ``get`` / ``serialize`` / ``deserialize``.

The update arithmetic runs in ``numkeras.engine.updates``.
"""

from __future__ import annotations

from typing import Any

from numkeras.optimizers.adadelta import Adadelta
from numkeras.optimizers.adagrad import Adagrad
from numkeras.optimizers.adam import Adam
from numkeras.optimizers.adamax import Adamax
from numkeras.optimizers.nadam import Nadam
from numkeras.optimizers.optimizer import Optimizer
from numkeras.optimizers.rmsprop import RMSprop
from numkeras.optimizers.sgd import SGD
from numkeras.utils.generic_utils import (
    deserialize_keras_object,
    get_custom_objects,
    serialize_keras_object,
)

__all__ = [
    "Optimizer",
    "SGD",
    "RMSprop",
    "Adagrad",
    "Adadelta",
    "Adam",
    "Adamax",
    "Nadam",
    "get",
    "serialize",
    "deserialize",
]

_CLASSES: dict[str, type[Optimizer]] = {
    cls.__name__.lower(): cls for cls in (SGD, RMSprop, Adagrad, Adadelta, Adam, Adamax, Nadam)
}
# tf-keras 2.11-2.15 also knew its new optimizers under these names.
_CLASSES.update(
    {f"experimental{name}": _CLASSES[name] for name in ("sgd", "adagrad", "adadelta", "adam")}
)


def serialize(optimizer: Optimizer) -> dict[str, Any]:
    """``{"class_name": ..., "config": optimizer.get_config()}``."""
    if not isinstance(optimizer, Optimizer):
        raise ValueError(f"Cannot serialize {optimizer!r}: it is not an optimizer.")
    return serialize_keras_object(optimizer)


def deserialize(config: dict[str, Any], custom_objects: dict[str, Any] | None = None) -> Optimizer:
    """Inverse of ``serialize``; accepts tf-keras's dicts (extra keys ``module``,
    ``registered_name``, ``config.is_legacy_optimizer``) and Keras 2's (``lr``, ``decay``).

    Raises:
        ValueError: if the dict is malformed or names an unknown optimizer.
    """
    if not isinstance(config, dict) or "class_name" not in config:
        raise ValueError(
            f"Improper config format for optimizer: {config!r} "
            "(expected keys 'class_name' and 'config')."
        )
    class_name = config["class_name"]
    if isinstance(class_name, str) and class_name not in {
        **get_custom_objects(),
        **(custom_objects or {}),
    }:
        # tf-keras 2.13+ writes registered names such as "Custom>Adam" in training configs.
        builtin = class_name.rsplit(">", 1)[-1].lower()
        if builtin in _CLASSES:
            class_name = builtin
    identifier = {"class_name": class_name, "config": dict(config.get("config") or {})}
    optimizer = deserialize_keras_object(
        identifier,
        module_objects=_CLASSES,
        custom_objects=custom_objects,
        printable_module_name="optimizer",
    )
    if not isinstance(optimizer, Optimizer):
        raise ValueError(f"Unknown optimizer: {config['class_name']!r}.")
    return optimizer


def get(identifier: Any) -> Optimizer:
    """Resolves an optimizer: an instance (returned as is), a name such as ``"adam"`` or
    ``"RMSprop"`` (case-insensitive), or a ``{"class_name", "config"}`` dict.

    Raises:
        ValueError: naming the identifier when it cannot be interpreted.
    """
    if isinstance(identifier, Optimizer):
        return identifier
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if isinstance(identifier, str):
        return deserialize({"class_name": identifier, "config": {}})
    raise ValueError(f"Could not interpret optimizer identifier: {identifier!r}")
