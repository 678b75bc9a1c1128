"""``keras.models`` for the local engine: Model, model_from_json, load_model, save_model."""

from __future__ import annotations

from typing import Any

from numkeras.engine.training import Model

__all__ = ["Model", "load_model", "model_from_config", "model_from_json", "save_model"]


def model_from_config(config: dict[str, Any], custom_objects: dict[str, Any] | None = None
                      ) -> Model:
    """Builds a model from ``{"class_name": "Model" | "Functional", "config": {...}}``."""
    return Model.from_model_config(config, custom_objects=custom_objects)


def model_from_json(json_string: str, custom_objects: dict[str, Any] | None = None) -> Model:
    """Parses a JSON model configuration (Keras 2 or tf.keras) and returns a Model."""
    return Model.from_json(json_string, custom_objects=custom_objects)


def save_model(model: Model, filepath: Any, overwrite: bool = True,
               include_optimizer: bool = True, **kwargs: Any) -> None:
    model.save(filepath, overwrite=overwrite, include_optimizer=include_optimizer, **kwargs)


def load_model(filepath: Any, custom_objects: dict[str, Any] | None = None,
               compile: bool = True, **kwargs: Any) -> Model:
    """Loads a model saved by ``save`` (numkeras or Keras 2 HDF5)."""
    from numkeras.engine import saving

    return saving.load_model(filepath, custom_objects=custom_objects, compile=compile)
