"""Serialization of Keras objects: ``{"class_name": ..., "config": ...}`` and back."""

from __future__ import annotations

from typing import Any

_GLOBAL_CUSTOM_OBJECTS: dict[str, Any] = {}


class CustomObjectScope:
    """``with CustomObjectScope({"MyLayer": MyLayer}):`` makes names resolvable."""

    def __init__(self, *args: dict[str, Any]) -> None:
        self.custom_objects = args
        self.backup: dict[str, Any] | None = None

    def __enter__(self) -> CustomObjectScope:
        self.backup = dict(_GLOBAL_CUSTOM_OBJECTS)
        for objects in self.custom_objects:
            _GLOBAL_CUSTOM_OBJECTS.update(objects)
        return self

    def __exit__(self, *exc: object) -> None:
        _GLOBAL_CUSTOM_OBJECTS.clear()
        _GLOBAL_CUSTOM_OBJECTS.update(self.backup or {})


custom_object_scope = CustomObjectScope


def get_custom_objects() -> dict[str, Any]:
    return _GLOBAL_CUSTOM_OBJECTS


def serialize_keras_object(instance: Any) -> Any:
    """A function serializes to its name, an object to ``{"class_name", "config"}``."""
    if instance is None:
        return None
    if hasattr(instance, "get_config"):
        return {"class_name": type(instance).__name__, "config": instance.get_config()}
    if hasattr(instance, "__name__"):
        return instance.__name__
    raise ValueError(f"Cannot serialize {instance!r}: it has neither get_config nor __name__.")


def deserialize_keras_object(
    identifier: Any,
    module_objects: dict[str, Any],
    custom_objects: dict[str, Any] | None = None,
    printable_module_name: str = "object",
) -> Any:
    """Resolves a name or a ``{"class_name", "config"}`` dict against known objects.

    Raises:
        ValueError: naming ``printable_module_name`` and the unknown identifier.
    """
    custom_objects = custom_objects or {}

    def lookup(name: str) -> Any:
        for table in (custom_objects, _GLOBAL_CUSTOM_OBJECTS, module_objects):
            if name in table:
                return table[name]
        return None

    if isinstance(identifier, dict):
        if "class_name" not in identifier or "config" not in identifier:
            raise ValueError(
                f"Improper config format for {printable_module_name}: {identifier!r} "
                "(expected keys 'class_name' and 'config')."
            )
        class_name = identifier["class_name"]
        cls = lookup(class_name)
        if cls is None:
            raise ValueError(f"Unknown {printable_module_name}: {class_name!r}.")
        config = identifier["config"]
        if hasattr(cls, "from_config"):
            try:
                return cls.from_config(config, custom_objects=custom_objects)
            except TypeError:
                return cls.from_config(config)
        return cls(**(config or {}))
    if isinstance(identifier, str):
        obj = lookup(identifier)
        if obj is None:
            raise ValueError(f"Unknown {printable_module_name}: {identifier!r}.")
        return obj
    raise ValueError(f"Could not interpret {printable_module_name} identifier: {identifier!r}.")


KERAS_SUBMODULES = ("activations", "backend", "callbacks", "constraints", "initializers",
                    "layers", "losses", "metrics", "optimizers", "regularizers", "utils")


def alias_keras_submodules(package: str, namespace: dict[str, Any]) -> None:
    """Makes ``from <package>.layers import Dense`` work like ``from keras.layers import ...``.

    ``numkeras.engine`` and ``numkeras.client`` re-export the one vocabulary; registering the
    modules under the package's name lets ``from ... import`` find them.
    """
    import sys

    for name in KERAS_SUBMODULES:
        sys.modules.setdefault(f"{package}.{name}", namespace[name])
