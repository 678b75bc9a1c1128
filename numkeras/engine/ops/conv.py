"""im2col / col2im and the geometry shared by every convolution kernel.

Every convolution runs on channels-last 4D arrays ``(batch, height, width, channels)``: 1D
inputs get a height of 1 and channels_first inputs are transposed at the layer boundary. A
window geometry is ``(kh, kw, sh, sw, dh, dw, pad_top, pad_left, out_h, out_w)``. im2col writes
one row per output position holding the ``kh * kw * channels`` window values (zeros outside the
input), in the order of a Keras kernel reshaped to ``(kh * kw * in, out)``, so a convolution is
one BLAS product. Both run serially for small arrays and in parallel over the batch above
``PARALLEL_MIN`` elements.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numba import njit, prange

from numkeras.engine.ops.blas import matmul
from numkeras.layers.conv import conv_output_length

PARALLEL_MIN = 1 << 26
"""Elements (of the column matrix, or of the pooled input) above which the batch loop runs in
parallel. Measured on the 2-core development host under load: the parallel loop has a ~16 ms
floor and lost at every size tried up to 21M elements (im2col 42 ms serial vs 56 ms parallel,
max pooling 1.5 ms vs 20 ms), so only very large batches use it. Re-measure on a larger host
(``bench/bench_conv.py``) before lowering it."""

Geometry = tuple[int, int, int, int, int, int, int, int, int, int]


# ----------------------------------------------------------------------------- numba kernels


@njit(cache=True)
def _im2col_sample(x, n, kh, kw, sh, sw, dh, dw, pt, pl, oh_n, ow_n, cols):
    height, width, channels = x.shape[1], x.shape[2], x.shape[3]
    row = n * oh_n * ow_n
    for oh in range(oh_n):
        for ow in range(ow_n):
            col = 0
            for i in range(kh):
                ih = oh * sh - pt + i * dh
                for j in range(kw):
                    iw = ow * sw - pl + j * dw
                    if 0 <= ih < height and 0 <= iw < width:
                        for c in range(channels):
                            cols[row, col + c] = x[n, ih, iw, c]
                    else:
                        for c in range(channels):
                            cols[row, col + c] = 0.0
                    col += channels
            row += 1


@njit(cache=True)
def _col2im_sample(cols, n, kh, kw, sh, sw, dh, dw, pt, pl, oh_n, ow_n, dx):
    height, width, channels = dx.shape[1], dx.shape[2], dx.shape[3]
    row = n * oh_n * ow_n
    for oh in range(oh_n):
        for ow in range(ow_n):
            col = 0
            for i in range(kh):
                ih = oh * sh - pt + i * dh
                for j in range(kw):
                    iw = ow * sw - pl + j * dw
                    if 0 <= ih < height and 0 <= iw < width:
                        for c in range(channels):
                            dx[n, ih, iw, c] += cols[row, col + c]
                    col += channels
            row += 1


@njit(cache=True)
def _im2col_serial(x, kh, kw, sh, sw, dh, dw, pt, pl, oh_n, ow_n, cols):
    for n in range(x.shape[0]):
        _im2col_sample(x, n, kh, kw, sh, sw, dh, dw, pt, pl, oh_n, ow_n, cols)


@njit(cache=True, parallel=True)
def _im2col_parallel(x, kh, kw, sh, sw, dh, dw, pt, pl, oh_n, ow_n, cols):
    for n in prange(x.shape[0]):
        _im2col_sample(x, n, kh, kw, sh, sw, dh, dw, pt, pl, oh_n, ow_n, cols)


@njit(cache=True)
def _col2im_serial(cols, kh, kw, sh, sw, dh, dw, pt, pl, oh_n, ow_n, dx):
    for n in range(dx.shape[0]):
        _col2im_sample(cols, n, kh, kw, sh, sw, dh, dw, pt, pl, oh_n, ow_n, dx)


@njit(cache=True, parallel=True)
def _col2im_parallel(cols, kh, kw, sh, sw, dh, dw, pt, pl, oh_n, ow_n, dx):
    for n in prange(dx.shape[0]):
        _col2im_sample(cols, n, kh, kw, sh, sw, dh, dw, pt, pl, oh_n, ow_n, dx)


# ----------------------------------------------------------------------------- public API


def im2col(x: np.ndarray, geometry: Geometry) -> np.ndarray:
    """Columns ``(batch * out_h * out_w, kh * kw * channels)`` of a channels-last 4D ``x``."""
    kh, kw, *_, oh_n, ow_n = geometry
    n, _, _, channels = x.shape
    cols = np.empty((n * oh_n * ow_n, kh * kw * channels), dtype=x.dtype)
    if cols.size:
        run = _im2col_parallel if cols.size >= PARALLEL_MIN and n > 1 else _im2col_serial
        run(np.ascontiguousarray(x), *geometry, cols)
    return cols


def col2im(cols: np.ndarray, geometry: Geometry, shape: tuple[int, ...]) -> np.ndarray:
    """The adjoint of :func:`im2col`: sums every column entry into a new array of ``shape``."""
    dx = np.zeros(shape, dtype=cols.dtype)
    if cols.size:
        run = _col2im_parallel if cols.size >= PARALLEL_MIN and shape[0] > 1 else _col2im_serial
        run(np.ascontiguousarray(cols), *geometry, dx)
    return dx


def pad_before(length: int, out: int, kernel: int, padding: str, stride: int,
               dilation: int = 1) -> int:
    """Zeros before the first element along one axis: TensorFlow's split of "same" padding
    (the smaller half first), the whole span for "causal", none for "valid"."""
    span = (kernel - 1) * dilation + 1
    if padding == "causal":
        return span - 1
    if padding == "same":
        return max((out - 1) * stride + span - length, 0) // 2
    return 0


def geometry(spatial: tuple[int, int], kernel: tuple[int, int], strides: tuple[int, int],
             dilation: tuple[int, int], padding: str,
             out: tuple[int, int] | None = None) -> Geometry:
    """The window geometry of a convolution or pooling over a ``(height, width)`` input.

    ``out`` defaults to Keras's output size; transposed convolutions pass the size of their
    input, which is the output of the forward convolution they are the transpose of.
    """
    if out is None:
        out = tuple(conv_output_length(n, k, padding, s, d)
                    for n, k, s, d in zip(spatial, kernel, strides, dilation, strict=True))
    pads = [pad_before(n, o, k, padding, s, d)
            for n, o, k, s, d in zip(spatial, out, kernel, strides, dilation, strict=True)]
    return (kernel[0], kernel[1], strides[0], strides[1], dilation[0], dilation[1],
            pads[0], pads[1], out[0], out[1])


def layer_geometry(layer: Any, spatial: tuple[int, int], out: tuple[int, int] | None = None
                   ) -> Geometry:
    """:func:`geometry` of a convolution layer, 1D layers seen as height-1 2D ones."""
    if layer.rank == 1:
        return geometry(spatial, (1, layer.kernel_size[0]), (1, layer.strides[0]),
                        (1, layer.dilation_rate[0]), layer.padding, out)
    return geometry(spatial, layer.kernel_size, layer.strides, layer.dilation_rate,
                    layer.padding, out)


def to_nhwc(x: np.ndarray, data_format: str) -> np.ndarray:
    """A C-contiguous channels-last 4D view or copy of a 3D or 4D input."""
    if data_format == "channels_first":
        x = np.moveaxis(x, 1, -1)
    if x.ndim == 3:
        x = x[:, None]
    return np.ascontiguousarray(x)


def from_nhwc(y: np.ndarray, data_format: str, ndim: int) -> np.ndarray:
    """The inverse of :func:`to_nhwc` for an array of rank ``ndim``."""
    if ndim == 3:
        y = y[:, 0]
    if data_format == "channels_first":
        y = np.moveaxis(y, -1, 1)
    return np.ascontiguousarray(y)


def depthwise_forward(cols: np.ndarray, kernel: np.ndarray) -> tuple[np.ndarray, Any]:
    """Depthwise product of im2col columns ``(P, kk * C)`` and a kernel reshaped to
    ``(kk, C, M)``: ``(P, C * M)`` with channel ``c * M + m``, and its backward
    ``d_out -> (d_cols, d_kernel)``. One batched BLAS product over channels each way."""
    kk, channels, mult = kernel.shape
    cols_t = np.ascontiguousarray(cols.reshape(-1, kk, channels).transpose(2, 0, 1))
    kernel_t = np.ascontiguousarray(kernel.transpose(1, 0, 2))
    out = matmul(cols_t, kernel_t)  # (C, P, M)
    y = np.ascontiguousarray(out.transpose(1, 0, 2)).reshape(-1, channels * mult)

    def backward(dy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        dy_t = np.ascontiguousarray(dy.reshape(-1, channels, mult).transpose(1, 0, 2))
        d_kernel = matmul(cols_t.transpose(0, 2, 1), dy_t).transpose(1, 0, 2)
        d_cols = matmul(dy_t, kernel_t.transpose(0, 2, 1))  # (C, P, kk)
        d_cols = np.ascontiguousarray(d_cols.transpose(1, 2, 0)).reshape(-1, kk * channels)
        return d_cols, np.ascontiguousarray(d_kernel)

    return y, backward
