"""BatchNormalization: normalizes each feature with batch statistics (training) or moving ones."""

from __future__ import annotations

from typing import Any

from numkeras import constraints, initializers, regularizers
from numkeras.layers._checks import check_axis_argument, check_number, validate_axis
from numkeras.layers.layer import Layer


class BatchNormalization(Layer):
    """Normalizes each feature (the ``axis`` entries) over the batch, then scales and shifts.

    Training uses the batch mean and (biased) variance and moves the moving statistics:
    ``moving = moving * momentum + batch * (1 - momentum)``. Inference, and any call while
    the layer has ``trainable=False``, uses the moving statistics. As tf-keras's fused kernel
    does, 4D/5D inputs normalized over axis 1 or the last axis update the moving variance with
    the unbiased (Bessel-corrected) batch variance and use ``epsilon >= 1.001e-5``.

    Weights: ``gamma`` (if ``scale``), ``beta`` (if ``center``), then the non-trainable
    ``moving_mean`` and ``moving_variance``.
    """

    supports_masking = True

    def __init__(self, axis: Any = -1, momentum: float = 0.99, epsilon: float = 1e-3,
                 center: bool = True, scale: bool = True, beta_initializer: Any = "zeros",
                 gamma_initializer: Any = "ones", moving_mean_initializer: Any = "zeros",
                 moving_variance_initializer: Any = "ones", beta_regularizer: Any = None,
                 gamma_regularizer: Any = None, beta_constraint: Any = None,
                 gamma_constraint: Any = None, renorm: bool = False, renorm_clipping: Any = None,
                 renorm_momentum: float = 0.99, fused: bool | None = None,
                 virtual_batch_size: int | None = None, adjustment: Any = None,
                 synchronized: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.axis = check_axis_argument("BatchNormalization", axis)
        self.momentum = check_number("BatchNormalization", "momentum", momentum, 0.0, 1.0)
        self.epsilon = check_number("BatchNormalization", "epsilon", epsilon, 0.0)
        for name, value in (("renorm", renorm), ("virtual_batch_size", virtual_batch_size),
                            ("adjustment", adjustment)):
            if value not in (None, False):
                raise ValueError(
                    f"BatchNormalization: `{name}`={value!r} is not supported by numkeras."
                )
        if fused not in (None, True, False):
            raise ValueError(f"BatchNormalization: `fused` must be None or a bool, got {fused!r}.")
        self.center = bool(center)
        self.scale = bool(scale)
        self.fused = fused
        self.synchronized = bool(synchronized)
        self.beta_initializer = initializers.get(beta_initializer)
        self.gamma_initializer = initializers.get(gamma_initializer)
        self.moving_mean_initializer = initializers.get(moving_mean_initializer)
        self.moving_variance_initializer = initializers.get(moving_variance_initializer)
        self.beta_regularizer = regularizers.get(beta_regularizer)
        self.gamma_regularizer = regularizers.get(gamma_regularizer)
        self.beta_constraint = constraints.get(beta_constraint)
        self.gamma_constraint = constraints.get(gamma_constraint)
        self._fused = False

    def build(self, input_shape: Any) -> None:
        axes = validate_axis(self, self.axis, input_shape)
        rank = len(input_shape)
        fusable = rank in (4, 5) and axes in ([1], [rank - 1])
        if self.fused and not fusable:
            raise ValueError(
                f"BatchNormalization layer {self.name!r}: `fused=True` is only possible with "
                f"axis 1 or the last axis of 4D or 5D inputs. Received: axis={self.axis}, "
                f"input shape {tuple(input_shape)}"
            )
        self.axis = axes
        self._fused = fusable and self.fused is not False
        if len(axes) == 1:
            param_shape: tuple = (input_shape[axes[0]],)
        else:
            param_shape = tuple(input_shape[i] if i in axes else 1 for i in range(rank))
        self.gamma = self.beta = None
        if self.scale:
            self.gamma = self.add_weight("gamma", param_shape, self.gamma_initializer,
                                         self.gamma_regularizer, self.gamma_constraint)
        if self.center:
            self.beta = self.add_weight("beta", param_shape, self.beta_initializer,
                                        self.beta_regularizer, self.beta_constraint)
        self.moving_mean = self.add_weight("moving_mean", param_shape,
                                           self.moving_mean_initializer, trainable=False)
        self.moving_variance = self.add_weight("moving_variance", param_shape,
                                               self.moving_variance_initializer, trainable=False)
        self.built = True

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "axis": self.axis,
            "momentum": self.momentum,
            "epsilon": self.epsilon,
            "center": self.center,
            "scale": self.scale,
            "beta_initializer": initializers.serialize(self.beta_initializer),
            "gamma_initializer": initializers.serialize(self.gamma_initializer),
            "moving_mean_initializer": initializers.serialize(self.moving_mean_initializer),
            "moving_variance_initializer": initializers.serialize(
                self.moving_variance_initializer),
            "beta_regularizer": regularizers.serialize(self.beta_regularizer),
            "gamma_regularizer": regularizers.serialize(self.gamma_regularizer),
            "beta_constraint": constraints.serialize(self.beta_constraint),
            "gamma_constraint": constraints.serialize(self.gamma_constraint),
        }
