"""Activation: applies an activation function element-wise."""

from __future__ import annotations

from typing import Any

from numkeras import activations
from numkeras.layers.layer import Layer


class Activation(Layer):
    """Applies ``activation`` (a name such as ``"relu"`` or a function) to its input.

    Args:
        activation: The activation function or its name.
    """

    supports_masking = True

    def __init__(self, activation: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.activation = activations.get(activation)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "activation": activations.serialize(self.activation)}
