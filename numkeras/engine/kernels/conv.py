"""Conv1D and Conv2D: per block of samples, a few BLAS products, then fused bias and activation.

The batch is cut into blocks of whole samples (``conv.sample_blocks``, by shape only) that run
on every core through ``parallel.run_chunks``. A block does all its work while its rows are in
the core's cache: forward, its products into its rows of the output, then bias and activation in
place; backward, the activation's gradient and the bias sums, then its part of the kernel
gradient and its samples of the input gradient. The kernel gradient adds the blocks' partial
results in block order, so its numbers do not depend on which thread ran which block.

Two ways to do a block's products:

- :class:`_Im2col`, any convolution: im2col into a per-thread scratch buffer and one product
  with the kernel; backward, im2col again, the kernel gradient's product, the product with the
  kernel and col2im. Keeping the whole column matrix for the backward would save the second
  im2col, but when a window holds more values than there are filters it is the layer's largest
  array, written to memory and read back; only a training forward whose columns are no wider
  than its output keeps them (the first layer of a CNN: 9 values per window for 32 filters).
- :class:`_Winograd`, 3x3 stride-1 Conv2D with enough channels (``ops.winograd.applies``):
  Winograd's F(2x2, 3x3), 16 smaller products per step with 2.25x fewer multiplications.

The output, the kept columns and the input gradient are ``conv.recycled`` arrays, reused once
nothing holds them.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from numkeras.engine.kernels import register
from numkeras.engine.ops import activations as act
from numkeras.engine.ops import winograd
from numkeras.engine.ops.blas import matmul
from numkeras.engine.ops.conv import (
    Geometry,
    col2im_block,
    from_nhwc,
    im2col_block,
    layer_geometry,
    recycled,
    sample_blocks,
    scratch,
    to_nhwc,
)
from numkeras.engine.ops.parallel import run_chunks
from numkeras.layers.conv import Conv1D, Conv2D


class _Im2col:
    """A block's products through im2col rows ``(positions, kh * kw * channels)``."""

    def __init__(self, layer: Any, xs: np.ndarray, geom: Geometry, kernel: np.ndarray,
                 rows: int, training: bool) -> None:
        self.xs, self.geom, self.rows = xs, geom, rows
        self.kmat = np.ascontiguousarray(kernel.reshape(-1, kernel.shape[-1]))
        self.depth, filters = self.kmat.shape
        self.bytes_per_sample = rows * max(self.depth, filters) * xs.itemsize
        self.kept = recycled(layer, "cols", (xs.shape[0] * rows, self.depth), xs.dtype) \
            if training and self.depth <= filters else None
        self.partial_shape = self.kmat.shape

    def _cols(self, n0: int, n1: int) -> np.ndarray:
        r0, r1 = n0 * self.rows, n1 * self.rows
        if self.kept is not None:
            return self.kept[r0:r1]
        cols = scratch("conv.cols", (r1 - r0, self.depth), self.xs.dtype)
        im2col_block(self.xs, self.geom, n0, n1, cols)
        return cols

    def forward(self, n0: int, n1: int, z: np.ndarray) -> None:
        if self.kept is not None:
            im2col_block(self.xs, self.geom, n0, n1, self.kept[n0 * self.rows:n1 * self.rows])
        matmul(self._cols(n0, n1), self.kmat, out=z)

    def backward(self, n0: int, n1: int, dz: np.ndarray, d_kernel: np.ndarray,
                 dxs: np.ndarray | None) -> None:
        matmul(self._cols(n0, n1).T, dz, out=d_kernel)
        if dxs is not None:
            dcols = scratch("conv.dcols", (dz.shape[0], self.depth), dz.dtype)
            matmul(dz, self.kmat.T, out=dcols)
            col2im_block(dcols, self.geom, n0, n1, dxs)

    def kernel_gradient(self, total: np.ndarray) -> np.ndarray:
        return total


class _Winograd:
    """A block's products through Winograd's F(2x2, 3x3) (``ops.winograd``)."""

    def __init__(self, layer: Any, xs: np.ndarray, geom: Geometry, kernel: np.ndarray,
                 rows: int, training: bool) -> None:
        self.xs = xs
        self.tiling = winograd.tiling_of(geom, xs.shape[1], xs.shape[2])
        self.u = winograd.kernel_transform(kernel)
        self.u_t = np.ascontiguousarray(self.u.transpose(0, 2, 1))  # row-major for the products
        self.channels, self.filters = kernel.shape[2], kernel.shape[3]
        self.bytes_per_sample = 16 * self.tiling.tiles * self.filters * xs.itemsize
        self.partial_shape = self.u.shape

    def _scratch(self, n0: int, n1: int, names: tuple[str, ...]) -> dict[str, np.ndarray]:
        shapes = winograd.block_shapes(self.tiling, n1 - n0, self.channels, self.filters)
        return {name: scratch("winograd." + name, shapes[name], self.xs.dtype)
                for name in names}

    def forward(self, n0: int, n1: int, z: np.ndarray) -> None:
        winograd.forward_block(self.tiling, self.xs, n0, n1, self.u,
                               self._scratch(n0, n1, ("xp", "v", "m")), z)

    def backward(self, n0: int, n1: int, dz: np.ndarray, d_u: np.ndarray,
                 dxs: np.ndarray | None) -> None:
        winograd.backward_block(self.tiling, self.xs, n0, n1, self.u_t, dz,
                                self._scratch(n0, n1, ("xp", "v", "m", "dd")), d_u, dxs)

    def kernel_gradient(self, total: np.ndarray) -> np.ndarray:
        return winograd.kernel_gradient(total)


@register(Conv1D, Conv2D)
def forward(layer: Conv1D | Conv2D, x: np.ndarray, training: bool,
            need_input_grad: bool = True) -> tuple[np.ndarray, Any]:
    fmt = layer.data_format
    xs = to_nhwc(x, fmt)
    geom = layer_geometry(layer, xs.shape[1:3])
    kernel = layer.kernel.value
    dtype = np.result_type(xs.dtype, kernel.dtype)
    xs = xs.astype(dtype, copy=False)
    kernel = kernel.astype(dtype, copy=False)
    filters = kernel.shape[-1]
    batch, rows = xs.shape[0], geom[8] * geom[9]  # rows: output positions per sample
    way = _Winograd if winograd.applies(layer.rank, layer.kernel_size, layer.strides,
                                        layer.dilation_rate, xs.shape[3], filters,
                                        dtype) else _Im2col
    steps = way(layer, xs, geom, kernel, rows, training)
    bias = layer.bias.value if layer.use_bias else None
    activation = layer.activation
    uses_input = not act.backward_uses_output(activation)
    # z: the output, or z + bias when the activation's gradient needs its input.
    z = recycled(layer, "z", (batch * rows, filters), dtype)
    y = recycled(layer, "y", z.shape, dtype) if uses_input else z
    edges = sample_blocks(batch, steps.bytes_per_sample)
    count = len(edges) - 1

    def forward_block(b: int) -> None:
        r0, r1 = edges[b] * rows, edges[b + 1] * rows
        zb = z[r0:r1]
        steps.forward(edges[b], edges[b + 1], zb)
        act.fused_bias_act_forward(zb, bias, activation, out=y[r0:r1] if uses_input else None)

    if z.size:
        run_chunks(forward_block, count)

    def backward(dy: np.ndarray) -> tuple[np.ndarray | None, list]:
        dyz = np.ascontiguousarray(to_nhwc(dy, fmt).reshape(z.shape), dtype=dtype)
        d_partials = np.zeros((count, *steps.partial_shape), dtype=dtype)
        d_biases = np.zeros((count, filters))  # float64 partial sums
        dxs = recycled(layer, "dx", xs.shape, dtype) if need_input_grad else None

        def backward_block(b: int) -> None:
            r0, r1 = edges[b] * rows, edges[b + 1] * rows
            dz = scratch("conv.dz", (r1 - r0, filters), dtype)
            act.fused_bias_act_backward(z[r0:r1], dyz[r0:r1], activation, dz=dz,
                                        dbias=d_biases[b])
            steps.backward(edges[b], edges[b + 1], dz, d_partials[b], dxs)

        if z.size:
            run_chunks(backward_block, count)
        elif dxs is not None:
            dxs[...] = 0
        d_partial, d_bias = d_partials[0], d_biases[0]
        for b in range(1, count):  # block order: the same bits whoever ran the blocks
            d_partial += d_partials[b]
            d_bias += d_biases[b]
        dx = from_nhwc(dxs, fmt, x.ndim) if dxs is not None else None
        d_kernel = steps.kernel_gradient(d_partial).reshape(kernel.shape).astype(dtype,
                                                                                copy=False)
        return dx, [d_kernel, d_bias.astype(dtype)] if layer.use_bias else [d_kernel]

    out_shape = (batch, geom[8], geom[9], filters)
    return from_nhwc(y.reshape(out_shape), fmt, x.ndim), backward
