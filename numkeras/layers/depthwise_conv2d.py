"""DepthwiseConv2D: one spatial filter bank per input channel, no mixing of channels."""

from __future__ import annotations

from typing import Any

from numkeras import constraints, initializers, regularizers
from numkeras.layers.conv import _Conv, is_int


def check_depth_multiplier(layer: str, value: Any) -> int:
    """Validates ``depth_multiplier`` (a positive int).

    Raises:
        ValueError: naming ``depth_multiplier`` and ``layer`` otherwise.
    """
    if not is_int(value) or value < 1:
        raise ValueError(
            f"{layer}: `depth_multiplier` must be a positive integer. "
            f"Received depth_multiplier={value!r}"
        )
    return int(value)


class DepthwiseConv2D(_Conv):
    """Depthwise 2D convolution: output channel ``c * depth_multiplier + m`` filters input
    channel ``c`` with ``depthwise_kernel[:, :, c, m]``.

    Weights: ``depthwise_kernel`` ``(kh, kw, in, depth_multiplier)`` and ``bias``
    ``(in * depth_multiplier,)``.
    """

    _needs_filters = False

    def __init__(self, kernel_size: Any, strides: Any = (1, 1), padding: str = "valid",
                 depth_multiplier: int = 1, data_format: str | None = None,
                 dilation_rate: Any = (1, 1), activation: Any = None, use_bias: bool = True,
                 depthwise_initializer: Any = "glorot_uniform", bias_initializer: Any = "zeros",
                 depthwise_regularizer: Any = None, bias_regularizer: Any = None,
                 activity_regularizer: Any = None, depthwise_constraint: Any = None,
                 bias_constraint: Any = None, **kwargs: Any) -> None:
        super().__init__(2, None, kernel_size, strides=strides, padding=padding,
                         data_format=data_format, dilation_rate=dilation_rate,
                         activation=activation, use_bias=use_bias,
                         bias_initializer=bias_initializer, bias_regularizer=bias_regularizer,
                         activity_regularizer=activity_regularizer,
                         bias_constraint=bias_constraint, **kwargs)
        self.depth_multiplier = check_depth_multiplier("DepthwiseConv2D", depth_multiplier)
        self.depthwise_initializer = initializers.get(depthwise_initializer)
        self.depthwise_regularizer = regularizers.get(depthwise_regularizer)
        self.depthwise_constraint = constraints.get(depthwise_constraint)

    def build(self, input_shape: Any) -> None:
        channels = self._input_channels(input_shape)
        self.depthwise_kernel = self.add_weight(
            "depthwise_kernel", (*self.kernel_size, channels, self.depth_multiplier),
            self.depthwise_initializer, self.depthwise_regularizer, self.depthwise_constraint)
        self.bias = None
        if self.use_bias:
            self.bias = self.add_weight("bias", (channels * self.depth_multiplier,),
                                        self.bias_initializer, self.bias_regularizer,
                                        self.bias_constraint)
        self.built = True

    def _out_channels(self, channels: int | None) -> int | None:
        return None if channels is None else channels * self.depth_multiplier

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        for key in ("filters", "kernel_initializer", "kernel_regularizer", "kernel_constraint"):
            config.pop(key)
        config["depth_multiplier"] = self.depth_multiplier
        config["depthwise_initializer"] = initializers.serialize(self.depthwise_initializer)
        config["depthwise_regularizer"] = regularizers.serialize(self.depthwise_regularizer)
        config["depthwise_constraint"] = constraints.serialize(self.depthwise_constraint)
        return config
