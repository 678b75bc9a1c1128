"""Convolutions: the shared ``_Conv`` base with Keras's argument handling, Conv1D and Conv2D.

Also the argument and geometry helpers every convolution and pooling layer uses
(:func:`normalize_tuple`, :func:`normalize_padding`, :func:`conv_output_length`,
:func:`deconv_output_length`).
"""

from __future__ import annotations

import numbers
from typing import Any

from numkeras import activations, constraints, initializers, regularizers
from numkeras.layers.flatten import normalize_data_format
from numkeras.layers.layer import Layer


def is_int(value: Any) -> bool:
    """True for Python and NumPy integers, not for bools."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def normalize_tuple(value: Any, n: int, name: str, layer: str, allow_zero: bool = False) -> tuple:
    """``value`` (an int or a sequence of ``n`` ints) as a tuple of ``n`` ints.

    Raises:
        ValueError: naming ``name`` and ``layer`` if it is not that, or has a value below 1
            (below 0 with ``allow_zero``).
    """
    items = (value,) * n if is_int(value) else value
    try:
        out = tuple(int(v) for v in items) if all(map(is_int, items)) else ()
        ok = len(out) == n
    except TypeError:
        ok = False
    if not ok:
        raise ValueError(
            f"{layer}: the `{name}` argument must be an integer or a tuple of {n} integers. "
            f"Received: {name}={value!r}"
        )
    low = 0 if allow_zero else 1
    if any(v < low for v in out):
        raise ValueError(
            f"{layer}: the `{name}` argument must be a tuple of {n} integers >= {low}. "
            f"Received: {name}={value!r}"
        )
    return out


def normalize_padding(value: Any, layer: str, allowed: tuple[str, ...] = ("valid", "same")) -> str:
    """The padding name in lower case.

    Raises:
        ValueError: naming ``padding`` if it is not one of ``allowed``.
    """
    padding = value.lower() if isinstance(value, str) else value
    if padding not in allowed:
        raise ValueError(
            f"{layer}: the `padding` argument must be one of {', '.join(map(repr, allowed))}. "
            f"Received: padding={value!r}"
        )
    return padding


def conv_output_length(length: int | None, kernel: int, padding: str, stride: int,
                       dilation: int = 1) -> int | None:
    """Length of a convolution (or pooling) output along one axis, as Keras computes it."""
    if length is None:
        return None
    span = (kernel - 1) * dilation + 1
    out = length if padding in ("same", "causal") else length - span + 1
    return (out + stride - 1) // stride


def deconv_output_length(length: int | None, kernel: int, padding: str,
                         output_padding: int | None, stride: int, dilation: int = 1) -> int | None:
    """Length of a transposed convolution output along one axis, as Keras computes it."""
    if length is None:
        return None
    span = (kernel - 1) * dilation + 1
    if output_padding is None:
        return length * stride + max(span - stride, 0) if padding == "valid" else length * stride
    pad = span // 2 if padding == "same" else 0
    return (length - 1) * stride + span - 2 * pad + output_padding


class _Conv(Layer):
    """Shared base of the convolutions: argument checks, kernel and bias, shapes, config.

    Args:
        rank: Number of spatial axes (1 or 2).
        filters: Number of output channels.
        kernel_size: Int or tuple of ``rank`` ints.
        strides: Int or tuple of ``rank`` ints; strides > 1 exclude dilation_rate > 1.
        padding: ``"valid"``, ``"same"`` or (Conv1D only) ``"causal"``.
        data_format: ``"channels_last"`` or ``"channels_first"``.
        dilation_rate: Int or tuple of ``rank`` ints.
        groups: Only 1 is supported by the engine.
        activation, use_bias, kernel_initializer, bias_initializer, kernel_regularizer,
        bias_regularizer, activity_regularizer, kernel_constraint, bias_constraint: as Dense.
    """

    _causal_ok = False
    _needs_filters = True

    def __init__(self, rank: int, filters: int | None, kernel_size: Any, strides: Any = 1,
                 padding: str = "valid", data_format: str | None = None,
                 dilation_rate: Any = 1, groups: int = 1, activation: Any = None,
                 use_bias: bool = True, kernel_initializer: Any = "glorot_uniform",
                 bias_initializer: Any = "zeros", kernel_regularizer: Any = None,
                 bias_regularizer: Any = None, activity_regularizer: Any = None,
                 kernel_constraint: Any = None, bias_constraint: Any = None,
                 **kwargs: Any) -> None:
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        cls = type(self).__name__
        self.rank = rank
        if filters is not None or self._needs_filters:
            if not is_int(filters) or filters <= 0:
                raise ValueError(
                    f"{cls}: invalid value for argument `filters`, expected a strictly positive "
                    f"integer. Received filters={filters!r}"
                )
        self.filters = None if filters is None else int(filters)
        if isinstance(groups, bool) or groups != 1:
            raise ValueError(f"{cls}: only `groups=1` is supported. Received groups={groups!r}")
        self.groups = 1
        self.kernel_size = normalize_tuple(kernel_size, rank, "kernel_size", cls)
        self.strides = normalize_tuple(strides, rank, "strides", cls)
        allowed = ("valid", "same", "causal") if self._causal_ok else ("valid", "same")
        self.padding = normalize_padding(padding, cls, allowed)
        self.data_format = normalize_data_format(data_format)
        self.dilation_rate = normalize_tuple(dilation_rate, rank, "dilation_rate", cls)
        if max(self.strides) > 1 and max(self.dilation_rate) > 1:
            raise ValueError(
                f"{cls}: `strides > 1` not supported in conjunction with `dilation_rate > 1`. "
                f"Received: strides={self.strides} and dilation_rate={self.dilation_rate}"
            )
        self.activation = activations.get(activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.kernel_constraint = constraints.get(kernel_constraint)
        self.bias_constraint = constraints.get(bias_constraint)

    def _channel_axis(self) -> int:
        return 1 if self.data_format == "channels_first" else -1

    def _spatial(self, input_shape: Any) -> tuple:
        shape = tuple(input_shape)
        return shape[2:] if self.data_format == "channels_first" else shape[1:-1]

    def _input_channels(self, input_shape: Any) -> int:
        if isinstance(input_shape, list) or len(input_shape) != self.rank + 2:
            raise ValueError(
                f"Input 0 of layer {self.name!r} ({type(self).__name__}) must have rank "
                f"{self.rank + 2}, received input_shape={input_shape}."
            )
        channels = tuple(input_shape)[self._channel_axis()]
        if channels is None:
            raise ValueError(
                f"The channel dimension of the inputs to layer {self.name!r} should be defined. "
                f"The input_shape received is {input_shape}."
            )
        return int(channels)

    def _kernel_shape(self, channels: int) -> tuple:
        return (*self.kernel_size, channels, self.filters)

    def build(self, input_shape: Any) -> None:
        channels = self._input_channels(input_shape)
        self.kernel = self.add_weight("kernel", self._kernel_shape(channels),
                                      self.kernel_initializer, self.kernel_regularizer,
                                      self.kernel_constraint)
        self.bias = None
        if self.use_bias:
            self.bias = self.add_weight("bias", (self.filters,), self.bias_initializer,
                                        self.bias_regularizer, self.bias_constraint)
        self.built = True

    def _out_channels(self, channels: int | None) -> int | None:
        return self.filters

    def _output_spatial(self, spatial: tuple) -> tuple:
        return tuple(conv_output_length(n, k, self.padding, s, d) for n, k, s, d in
                     zip(spatial, self.kernel_size, self.strides, self.dilation_rate, strict=True))

    def compute_output_shape(self, input_shape: Any) -> Any:
        shape = tuple(input_shape)
        spatial = self._output_spatial(self._spatial(shape))
        channels = self._out_channels(shape[self._channel_axis()])
        if self.data_format == "channels_first":
            return (shape[0], channels, *spatial)
        return (shape[0], *spatial, channels)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "filters": self.filters,
            "kernel_size": self.kernel_size,
            "strides": self.strides,
            "padding": self.padding,
            "data_format": self.data_format,
            "dilation_rate": self.dilation_rate,
            "groups": self.groups,
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


class Conv1D(_Conv):
    """1D convolution over ``(batch, steps, channels)``; kernel ``(kernel_size, in, filters)``.

    ``padding="causal"`` pads ``dilation_rate * (kernel_size - 1)`` zeros on the left only, so
    output step t depends on input steps <= t.
    """

    _causal_ok = True

    def __init__(self, filters: int, kernel_size: Any, strides: Any = 1, padding: str = "valid",
                 data_format: str = "channels_last", dilation_rate: Any = 1, groups: int = 1,
                 activation: Any = None, use_bias: bool = True, **kwargs: Any) -> None:
        super().__init__(1, filters, kernel_size, strides=strides, padding=padding,
                         data_format=data_format, dilation_rate=dilation_rate, groups=groups,
                         activation=activation, use_bias=use_bias, **kwargs)


class Conv2D(_Conv):
    """2D convolution over images; kernel ``(kh, kw, in, filters)``, bias ``(filters,)``."""

    def __init__(self, filters: int, kernel_size: Any, strides: Any = (1, 1),
                 padding: str = "valid", data_format: str | None = None,
                 dilation_rate: Any = (1, 1), groups: int = 1, activation: Any = None,
                 use_bias: bool = True, **kwargs: Any) -> None:
        super().__init__(2, filters, kernel_size, strides=strides, padding=padding,
                         data_format=data_format, dilation_rate=dilation_rate, groups=groups,
                         activation=activation, use_bias=use_bias, **kwargs)


Convolution1D = Conv1D
Convolution2D = Conv2D
