"""Conv2DTranspose: the transpose (gradient) of a Conv2D, upsampling by its strides."""

from __future__ import annotations

from typing import Any

from numkeras.layers.conv import Conv2D, deconv_output_length, normalize_tuple


class Conv2DTranspose(Conv2D):
    """Transposed 2D convolution; kernel ``(kh, kw, filters, in)`` as in Keras.

    Args:
        output_padding: None, or an int / tuple of 2 ints, each smaller than its stride: extra
            rows and columns added at the end of the output.
        Other arguments: as Conv2D.
    """

    def __init__(self, filters: int, kernel_size: Any, strides: Any = (1, 1),
                 padding: str = "valid", output_padding: Any = None,
                 data_format: str | None = None, dilation_rate: Any = (1, 1),
                 activation: Any = None, use_bias: bool = True, **kwargs: Any) -> None:
        super().__init__(filters, kernel_size, strides=strides, padding=padding,
                         data_format=data_format, dilation_rate=dilation_rate,
                         activation=activation, use_bias=use_bias, **kwargs)
        self.output_padding = output_padding
        if output_padding is not None:
            self.output_padding = normalize_tuple(output_padding, 2, "output_padding",
                                                  "Conv2DTranspose", allow_zero=True)
            for stride, pad in zip(self.strides, self.output_padding, strict=True):
                if pad >= stride:
                    raise ValueError(
                        "Conv2DTranspose: strides must be greater than output padding. "
                        f"Received strides={self.strides}, output_padding={output_padding!r}"
                    )

    def _kernel_shape(self, channels: int) -> tuple:
        return (*self.kernel_size, self.filters, channels)

    def _output_spatial(self, spatial: tuple) -> tuple:
        pads = self.output_padding or (None, None)
        return tuple(
            deconv_output_length(n, k, self.padding, p, s, d) for n, k, p, s, d in
            zip(spatial, self.kernel_size, pads, self.strides, self.dilation_rate, strict=True)
        )

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "output_padding": self.output_padding}


Convolution2DTranspose = Conv2DTranspose
