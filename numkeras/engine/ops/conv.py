"""im2col / col2im, the geometry shared by every convolution kernel, and the blocks they run in.

Every convolution runs on channels-last 4D arrays ``(batch, height, width, channels)``: 1D
inputs get a height of 1 and channels_first inputs are transposed at the layer boundary. A
window geometry is ``(kh, kw, sh, sw, dh, dw, pad_top, pad_left, out_h, out_w)``. im2col writes
one row per output position holding the ``kh * kw * channels`` window values (zeros outside the
input), in the order of a Keras kernel reshaped to ``(kh * kw * in, out)``, so a convolution is
one BLAS product.

Blocks: convolution and pooling kernels cut the batch into blocks of whole samples
(:func:`sample_blocks`, by shape only) and hand them to ``parallel.run_chunks``, which runs them
on the calling thread and the spare cores. Every block writes its own samples only, so the
numbers are the same whichever thread runs a block. Small blocks also keep a block's working
set (its im2col rows, their product) in the core's cache, and a BLAS product over a few
thousand rows ran faster than one over the whole batch (measured on the 2-core development host,
one thread, ``(P, 288) @ (288, 64)``: ~100 GFLOP/s for 500-4000 rows, 79 for 15488; ``(P, 9) @
(9, 32)``: 92 for 2704 rows, 60 for 86528).

Memory: fresh multi-megabyte arrays cost a page fault per 4 KiB on first touch, every batch,
because glibc hands freed memory back to the system (it trims the top of the heap). Measured on
the benchmark CNN, one thread: ~157k faults and ~0.4 s of system time per epoch, 2.8k samples/s;
with the arrays reused, a dozen faults and 3.8k samples/s. So per-thread :func:`scratch`
buffers hold a block's temporaries, and a layer's large arrays (outputs, input gradients,
whatever its backward keeps) come from :func:`recycled`, which hands an array out again once
nothing else holds it.
"""

from __future__ import annotations

import math
import sys
import threading
import weakref
from typing import Any

import numpy as np
from numba import njit

from numkeras.engine.ops.blas import matmul
from numkeras.engine.ops.parallel import run_chunks, split
from numkeras.layers.conv import conv_output_length

BLOCK_BYTES = 1 << 20
"""Bytes of a block's largest per-sample matrix (e.g. its im2col rows) that :func:`sample_blocks`
aims at: about half the development host's 2 MiB L2 cache per core."""

PARALLEL_MIN_BYTES = 1 << 18
"""Work below this many bytes stays one block: waking a helper costs some 30 us."""

SCRATCH_MAX_BYTES = 1 << 24
"""Larger scratch buffers are not kept for the next call (one huge image would pin them)."""

RECYCLE_MIN_BYTES = 1 << 18
"""Smaller arrays are not recycled: malloc reuses their memory without new page faults."""

RECYCLE_KEEP = 2
"""Arrays remembered per owner and role (a shared layer has several alive within one step)."""

Geometry = tuple[int, int, int, int, int, int, int, int, int, int]


def sample_blocks(batch: int, bytes_per_sample: int) -> list[int]:
    """Edges ``[0, ..., batch]`` of blocks of whole samples of about :data:`BLOCK_BYTES` each;
    at least two when the work passes :data:`PARALLEL_MIN_BYTES` (so both cores get some).
    Depends on the shape only."""
    total = batch * max(bytes_per_sample, 1)
    parts = -(-total // BLOCK_BYTES)
    if total >= PARALLEL_MIN_BYTES:
        parts = max(parts, 2)
    return split(batch, max(min(parts, batch), 1))


_local = threading.local()


def scratch(name: str, shape: tuple[int, ...], dtype: Any) -> np.ndarray:
    """An uninitialized C-contiguous array private to the calling thread.

    The same ``name`` (and dtype) on the same thread returns the same memory next time, so a
    caller must be done with it before it asks again: use it inside one block of work.
    """
    dtype = np.dtype(dtype)
    size = math.prod(shape)
    buffers = getattr(_local, "buffers", None)
    if buffers is None:
        buffers = _local.buffers = {}
    buffer = buffers.get((name, dtype))
    if buffer is None or buffer.size < size:
        buffer = np.empty(size, dtype=dtype)
        if size * dtype.itemsize <= SCRATCH_MAX_BYTES:
            buffers[(name, dtype)] = buffer
    return buffer[:size].reshape(shape)


_RECYCLED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _refcount(arrays: list[np.ndarray], i: int) -> int:
    return sys.getrefcount(arrays[i])


_UNHELD = _refcount([np.empty(0)], 0)
"""What :func:`_refcount` says of an array only its list holds (2 on CPython 3.11: the list's
reference and the argument's), measured once rather than assumed."""


def recycled(owner: Any, role: str, shape: tuple[int, ...], dtype: Any) -> np.ndarray:
    """An uninitialized C-contiguous array for ``owner`` (e.g. a layer) to return or keep.

    It is an array this function gave ``owner`` for ``role`` before if nothing else refers to it
    any more (its reference count says only this module's list holds it: no output, view,
    closure or caller), else a new one, remembered for next time. Whoever holds an array keeps
    it to themselves for as long as they like, so this is safe wherever a new array is.
    """
    shape, dtype = tuple(int(n) for n in shape), np.dtype(dtype)
    roles = _RECYCLED.get(owner)
    if roles is None:
        roles = _RECYCLED[owner] = {}
    arrays = roles.setdefault(role, [])
    for i in range(len(arrays)):
        if arrays[i].shape == shape and arrays[i].dtype == dtype and \
                _refcount(arrays, i) == _UNHELD:
            return arrays[i]
    array = np.empty(shape, dtype=dtype)
    if array.nbytes >= RECYCLE_MIN_BYTES:
        arrays.insert(0, array)
        del arrays[RECYCLE_KEEP:]
    return array


# ----------------------------------------------------------------------------- numba kernels


# Numba wraps negative indices around, a test on every access whose index it cannot prove
# non-negative, and that keeps LLVM from vectorizing the loop. The copies below index flat
# arrays with unsigned offsets instead, inlined into their callers. Measured on the benchmark
# CNN's im2col, one thread, per batch: 2.2 -> 0.4 ms with its 96-float runs, 1.2 -> 0.9 ms with
# its 3-float runs (2.5 ms while the copies were calls rather than inlined).


@njit(cache=True, nogil=True, inline="always")
def _copy(src, s, dst, d, count):
    for k in range(count):
        dst[np.uintp(d + k)] = src[np.uintp(s + k)]


@njit(cache=True, nogil=True, inline="always")
def _add(src, s, dst, d, count):
    for k in range(count):
        dst[np.uintp(d + k)] += src[np.uintp(s + k)]


@njit(cache=True, nogil=True, inline="always")
def _zero(dst, d, count):
    for k in range(count):
        dst[np.uintp(d + k)] = 0.0


@njit(cache=True, nogil=True)
def _im2col(x, n0, n1, kh, kw, sh, sw, dh, dw, pt, pl, oh_n, ow_n, cols):
    """Rows of samples ``n0 .. n1 - 1`` of ``x`` into ``cols`` (from its first row)."""
    height, width, channels = x.shape[1], x.shape[2], x.shape[3]
    xf, cf = x.reshape(-1), cols.reshape(-1)
    seg = kw * channels
    out = 0
    for n in range(n0, n1):
        for oh in range(oh_n):
            for ow in range(ow_n):
                iw0 = ow * sw - pl
                whole = dw == 1 and iw0 >= 0 and iw0 + kw <= width  # one contiguous run
                for i in range(kh):
                    ih = oh * sh - pt + i * dh
                    line = (n * height + ih) * width
                    if ih < 0 or ih >= height:
                        _zero(cf, out, seg)
                    elif whole:
                        _copy(xf, (line + iw0) * channels, cf, out, seg)
                    else:
                        for j in range(kw):
                            iw = iw0 + j * dw
                            if 0 <= iw < width:
                                _copy(xf, (line + iw) * channels, cf, out + j * channels,
                                      channels)
                            else:
                                _zero(cf, out + j * channels, channels)
                    out += seg


@njit(cache=True, nogil=True)
def _col2im(cols, n0, n1, kh, kw, sh, sw, dh, dw, pt, pl, oh_n, ow_n, dx):
    """Samples ``n0 .. n1 - 1`` of ``dx`` (overwritten) from ``cols`` (from its first row)."""
    height, width, channels = dx.shape[1], dx.shape[2], dx.shape[3]
    cf, df = cols.reshape(-1), dx.reshape(-1)
    sample = height * width * channels
    _zero(df, n0 * sample, (n1 - n0) * sample)
    seg = kw * channels
    at = 0
    for n in range(n0, n1):
        for oh in range(oh_n):
            for ow in range(ow_n):
                iw0 = ow * sw - pl
                whole = dw == 1 and iw0 >= 0 and iw0 + kw <= width
                for i in range(kh):
                    ih = oh * sh - pt + i * dh
                    line = (n * height + ih) * width
                    if 0 <= ih < height:
                        if whole:
                            _add(cf, at, df, (line + iw0) * channels, seg)
                        else:
                            for j in range(kw):
                                iw = iw0 + j * dw
                                if 0 <= iw < width:
                                    _add(cf, at + j * channels, df, (line + iw) * channels,
                                         channels)
                    at += seg


# ----------------------------------------------------------------------------- public API


def im2col_block(x: np.ndarray, geometry: Geometry, n0: int, n1: int, cols: np.ndarray) -> None:
    """Writes the im2col rows of samples ``n0 .. n1 - 1`` of a C-contiguous channels-last ``x``
    into ``cols`` (C-contiguous, ``((n1 - n0) * out_h * out_w, kh * kw * channels)``)."""
    if cols.size:
        _im2col(x, n0, n1, *geometry, cols)


def col2im_block(cols: np.ndarray, geometry: Geometry, n0: int, n1: int,
                 dx: np.ndarray) -> None:
    """Overwrites samples ``n0 .. n1 - 1`` of ``dx`` (C-contiguous, channels last) with the sums
    of the column entries of ``cols``, the im2col rows of those samples."""
    if dx.size:
        _col2im(cols, n0, n1, *geometry, dx)


def im2col(x: np.ndarray, geometry: Geometry) -> np.ndarray:
    """Columns ``(batch * out_h * out_w, kh * kw * channels)`` of a channels-last 4D ``x``."""
    kh, kw, *_, oh_n, ow_n = geometry
    n, _, _, channels = x.shape
    rows = oh_n * ow_n
    cols = np.empty((n * rows, kh * kw * channels), dtype=x.dtype)
    if cols.size:
        x = np.ascontiguousarray(x)
        edges = sample_blocks(n, rows * cols.shape[1] * cols.itemsize)
        run_chunks(lambda i: _im2col(x, edges[i], edges[i + 1], *geometry,
                                     cols[edges[i] * rows:edges[i + 1] * rows]), len(edges) - 1)
    return cols


def col2im(cols: np.ndarray, geometry: Geometry, shape: tuple[int, ...]) -> np.ndarray:
    """The adjoint of :func:`im2col`: sums every column entry into a new array of ``shape``."""
    dx = np.empty(shape, dtype=cols.dtype)
    if dx.size:
        cols = np.ascontiguousarray(cols)
        rows = geometry[8] * geometry[9]
        edges = sample_blocks(shape[0], rows * cols.shape[1] * cols.itemsize)
        run_chunks(lambda i: _col2im(cols[edges[i] * rows:edges[i + 1] * rows], edges[i],
                                     edges[i + 1], *geometry, dx), len(edges) - 1)
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
