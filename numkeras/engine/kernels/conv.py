"""Conv1D and Conv2D: im2col, one BLAS product, then fused bias and activation, block by block.

The batch is cut into blocks of whole samples (``conv.sample_blocks``, by shape only) that run
on every core through ``parallel.run_chunks``. A block does all its work while its rows are in
the core's cache: forward, im2col into a per-thread scratch buffer, the product into its rows of
the output, bias and activation in place; backward, the activation's gradient and the bias sums,
im2col again, the block's kernel gradient, the product with the kernel and col2im into its
samples of the input gradient. The kernel gradient adds the blocks' partial products in block
order, so its numbers do not depend on which thread ran which block.

Keeping the whole column matrix for the backward would save the second im2col, but when a window
holds more values than there are filters it is the layer's largest array, written to memory and
read back; only a training forward whose columns are no wider than its output keeps them (the
first layer of a CNN: 9 values per window for 32 filters). The output, the kept columns and the
input gradient are ``conv.recycled`` arrays, reused once nothing holds them.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from numkeras.engine.kernels import register
from numkeras.engine.ops import activations as act
from numkeras.engine.ops.blas import matmul
from numkeras.engine.ops.conv import (
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


@register(Conv1D, Conv2D)
def forward(layer: Conv1D | Conv2D, x: np.ndarray, training: bool,
            need_input_grad: bool = True) -> tuple[np.ndarray, Any]:
    fmt = layer.data_format
    xs = to_nhwc(x, fmt)
    geom = layer_geometry(layer, xs.shape[1:3])
    kernel = layer.kernel.value
    kmat = kernel.reshape(-1, kernel.shape[-1])
    dtype = np.result_type(xs.dtype, kmat.dtype)
    xs = xs.astype(dtype, copy=False)
    kmat = np.ascontiguousarray(kmat, dtype=dtype)
    depth, filters = kmat.shape
    batch, rows = xs.shape[0], geom[8] * geom[9]  # rows: output positions per sample
    bias = layer.bias.value if layer.use_bias else None
    activation = layer.activation
    uses_input = not act.backward_uses_output(activation)
    # z: the output, or z + bias when the activation's gradient needs its input.
    z = recycled(layer, "z", (batch * rows, filters), dtype)
    y = recycled(layer, "y", z.shape, dtype) if uses_input else z
    edges = sample_blocks(batch, rows * max(depth, filters) * z.itemsize)
    count = len(edges) - 1
    kept = recycled(layer, "cols", (batch * rows, depth), dtype) \
        if training and depth <= filters else None

    def forward_block(b: int) -> None:
        n0, n1 = edges[b], edges[b + 1]
        r0, r1 = n0 * rows, n1 * rows
        cols = scratch("conv.cols", (r1 - r0, depth), dtype) if kept is None else kept[r0:r1]
        im2col_block(xs, geom, n0, n1, cols)
        zb = z[r0:r1]
        matmul(cols, kmat, out=zb)
        act.fused_bias_act_forward(zb, bias, activation, out=y[r0:r1] if uses_input else None)

    if z.size:
        run_chunks(forward_block, count)

    def backward(dy: np.ndarray) -> tuple[np.ndarray | None, list]:
        dyz = np.ascontiguousarray(to_nhwc(dy, fmt).reshape(z.shape), dtype=dtype)
        d_kernels = np.zeros((count, depth, filters), dtype=dtype)
        d_biases = np.zeros((count, filters))  # float64 partial sums
        dxs = recycled(layer, "dx", xs.shape, dtype) if need_input_grad else None

        def backward_block(b: int) -> None:
            n0, n1 = edges[b], edges[b + 1]
            r0, r1 = n0 * rows, n1 * rows
            dz = scratch("conv.dz", (r1 - r0, filters), dtype)
            act.fused_bias_act_backward(z[r0:r1], dyz[r0:r1], activation, dz=dz,
                                        dbias=d_biases[b])
            if kept is None:
                cols = scratch("conv.cols", (r1 - r0, depth), dtype)
                im2col_block(xs, geom, n0, n1, cols)
            else:
                cols = kept[r0:r1]
            matmul(cols.T, dz, out=d_kernels[b])
            if dxs is not None:
                dcols = scratch("conv.dcols", (r1 - r0, depth), dtype)
                matmul(dz, kmat.T, out=dcols)
                col2im_block(dcols, geom, n0, n1, dxs)

        if z.size:
            run_chunks(backward_block, count)
        elif dxs is not None:
            dxs[...] = 0
        d_kernel, d_bias = d_kernels[0], d_biases[0]
        for b in range(1, count):  # block order: the same bits whoever ran the blocks
            d_kernel += d_kernels[b]
            d_bias += d_biases[b]
        dx = from_nhwc(dxs, fmt, x.ndim) if dxs is not None else None
        d_kernel = d_kernel.reshape(kernel.shape)
        return dx, [d_kernel, d_bias.astype(dtype)] if layer.use_bias else [d_kernel]

    out_shape = (batch, geom[8], geom[9], filters)
    return from_nhwc(y.reshape(out_shape), fmt, x.ndim), backward
