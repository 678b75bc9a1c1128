"""LayerNormalization: normalizes each sample over ``axis``, then scales and shifts."""

from __future__ import annotations

from typing import Any

from numkeras import constraints, initializers, regularizers
from numkeras.layers._checks import check_axis_argument, check_number, validate_axis
from numkeras.layers.layer import Layer


class LayerNormalization(Layer):
    """Normalizes every sample independently over ``axis`` (mean 0, biased variance 1).

    ``output = (x - mean) / sqrt(variance + epsilon) * gamma + beta``; ``gamma`` and ``beta``
    have the shape of the normalized axes.

    Args:
        axis: The axis or axes to normalize over (default: the last one).
        epsilon: Added to the variance.
        center: Learn the offset ``beta``.
        scale: Learn the scale ``gamma``.
    """

    supports_masking = True

    def __init__(self, axis: Any = -1, epsilon: float = 1e-3, center: bool = True,
                 scale: bool = True, beta_initializer: Any = "zeros",
                 gamma_initializer: Any = "ones", beta_regularizer: Any = None,
                 gamma_regularizer: Any = None, beta_constraint: Any = None,
                 gamma_constraint: Any = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.axis = check_axis_argument("LayerNormalization", axis)
        self.epsilon = check_number("LayerNormalization", "epsilon", epsilon, 0.0)
        self.center = bool(center)
        self.scale = bool(scale)
        self.beta_initializer = initializers.get(beta_initializer)
        self.gamma_initializer = initializers.get(gamma_initializer)
        self.beta_regularizer = regularizers.get(beta_regularizer)
        self.gamma_regularizer = regularizers.get(gamma_regularizer)
        self.beta_constraint = constraints.get(beta_constraint)
        self.gamma_constraint = constraints.get(gamma_constraint)

    def build(self, input_shape: Any) -> None:
        self.axis = validate_axis(self, self.axis, input_shape)
        param_shape = tuple(input_shape[a] for a in self.axis)
        self.gamma = self.beta = None
        if self.scale:
            self.gamma = self.add_weight("gamma", param_shape, self.gamma_initializer,
                                         self.gamma_regularizer, self.gamma_constraint)
        if self.center:
            self.beta = self.add_weight("beta", param_shape, self.beta_initializer,
                                        self.beta_regularizer, self.beta_constraint)
        self.built = True

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "axis": self.axis,
            "epsilon": self.epsilon,
            "center": self.center,
            "scale": self.scale,
            "beta_initializer": initializers.serialize(self.beta_initializer),
            "gamma_initializer": initializers.serialize(self.gamma_initializer),
            "beta_regularizer": regularizers.serialize(self.beta_regularizer),
            "gamma_regularizer": regularizers.serialize(self.gamma_regularizer),
            "beta_constraint": constraints.serialize(self.beta_constraint),
            "gamma_constraint": constraints.serialize(self.gamma_constraint),
        }
