"""Dense: ``activation(dot(input, kernel) + bias)`` over the last axis."""

from __future__ import annotations

from typing import Any

from numkeras import activations, constraints, initializers, regularizers
from numkeras.layers.layer import Layer


class Dense(Layer):
    """Densely-connected layer with Keras 2's arguments and weight layout (kernel, bias)."""

    supports_masking = True

    def __init__(self, units: int, activation: Any = None, use_bias: bool = True,
                 kernel_initializer: Any = "glorot_uniform", bias_initializer: Any = "zeros",
                 kernel_regularizer: Any = None, bias_regularizer: Any = None,
                 activity_regularizer: Any = None, kernel_constraint: Any = None,
                 bias_constraint: Any = None, **kwargs: Any) -> None:
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        try:
            units = int(units)
        except (TypeError, ValueError):
            raise ValueError(f"Dense: units must be a positive integer, got {units!r}.") from None
        if units <= 0:
            raise ValueError(f"Dense: units must be a positive integer, got {units}.")
        self.units = units
        self.activation = activations.get(activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.kernel_constraint = constraints.get(kernel_constraint)
        self.bias_constraint = constraints.get(bias_constraint)

    def build(self, input_shape: Any) -> None:
        if isinstance(input_shape, list):
            raise ValueError(f"Dense layer {self.name!r} takes one input, got {len(input_shape)}.")
        last = input_shape[-1] if input_shape else None
        if last is None:
            raise ValueError(
                f"The last dimension of the inputs to Dense layer {self.name!r} should be "
                f"defined. Found None (input shape {input_shape})."
            )
        self.kernel = self.add_weight("kernel", (last, self.units), self.kernel_initializer,
                                      self.kernel_regularizer, self.kernel_constraint)
        self.bias = None
        if self.use_bias:
            self.bias = self.add_weight("bias", (self.units,), self.bias_initializer,
                                        self.bias_regularizer, self.bias_constraint)
        self.built = True

    def compute_output_shape(self, input_shape: Any) -> Any:
        return (*tuple(input_shape[:-1]), self.units)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "units": self.units,
            "activation": activations.serialize(self.activation),
            "use_bias": self.use_bias,
            "kernel_initializer": initializers.serialize(self.kernel_initializer),
            "bias_initializer": initializers.serialize(self.bias_initializer),
            "kernel_regularizer": regularizers.serialize(self.kernel_regularizer),
            "bias_regularizer": regularizers.serialize(self.bias_regularizer),
            "activity_regularizer": regularizers.serialize(self.activity_regularizer),
            "kernel_constraint": constraints.serialize(self.kernel_constraint),
            "bias_constraint": constraints.serialize(self.bias_constraint),
        }
