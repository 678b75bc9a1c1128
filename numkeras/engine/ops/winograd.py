"""Winograd's minimal filtering F(2x2, 3x3): 3x3 stride-1 convolutions with fewer products.

Each 2x2 tile of outputs is computed from a 4x4 tile of the input (Lavin and Gray, "Fast
Algorithms for Convolutional Neural Networks", 2015): the input tile ``d`` and the kernel ``g``
of every (input, output) channel pair are transformed (``V = B^T d B``, ``U = G g G^T``), the 16
transformed positions ``e`` each become one matrix product over the channels
(``M[e] = V[e] @ U[e]``, tiles by input channels times input by output channels), and
``Y = A^T M A`` gives the 2x2 outputs. That is 16 products of ``36 * 4 / 9 = 2.25x`` fewer
multiplications than im2col's one product over 3x3 windows (fewer than that when the output has
an odd side: its last tile is half outside).

The backward is the exact adjoint of those steps: ``dM = A dY A^T``; the kernel gradient is
``G^T (sum over tiles of V[e]^T @ dM[e]) G`` and the input gradient ``B (dM[e] @ U[e]^T) B^T``
added over the overlapping tiles. So one layer step costs 48 products shaped like
``(tiles, channels) @ (channels, filters)`` instead of three im2col ones, and no im2col or
col2im at all.

Measured on the 2-core development host, one thread, a block of 7 samples of the benchmark
CNN's second convolution (13x13x32 -> 11x11x64): the products took 25 + 25 + 33 us per sample
(forward, kernel gradient, input gradient) against 46 + 47 + 47 us for im2col's.

Numbers: the transforms only add, subtract and halve, in the input's precision except the
kernel's (``U`` and the kernel gradient are done in float64). The results differ from im2col's
in the last bits the way any other order of summation would (tests/engine/test_winograd.py
bounds the error against float64 references).

Only what pays goes here (:func:`applies`): Conv2D with a 3x3 kernel, strides and dilation 1,
and at least :data:`MIN_CHANNELS` input channels and filters; a 1-channel first layer would make
products with one column, slower than im2col's single product.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numba import njit

from numkeras.engine.ops.cblas import NO_TRANS, TRANS, address_for, gemm_at
from numkeras.engine.ops.conv import _copy, _zero
from numkeras.engine.ops.noalias import load, store

MIN_CHANNELS = 16
"""Input channels and filters from which :func:`applies` chooses Winograd over im2col."""

# The transforms of F(2x2, 3x3); B^T, G and A^T in Lavin and Gray's notation.
_G = np.array([[1.0, 0.0, 0.0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0.0, 0.0, 1.0]])


class Tiling:
    """Where a layer's 2x2 output tiles lie: ``tiles_h * tiles_w`` tiles per sample, reading a
    zero-padded ``(padded_h, padded_w)`` copy of the input that starts ``pad_top``/``pad_left``
    before it."""

    __slots__ = ("height", "width", "out_h", "out_w", "pad_top", "pad_left", "tiles_h",
                 "tiles_w", "padded_h", "padded_w")

    def __init__(self, height: int, width: int, out_h: int, out_w: int, pad_top: int,
                 pad_left: int) -> None:
        self.height, self.width, self.out_h, self.out_w = height, width, out_h, out_w
        self.pad_top, self.pad_left = pad_top, pad_left
        self.tiles_h, self.tiles_w = -(-out_h // 2), -(-out_w // 2)
        self.padded_h = max(2 * self.tiles_h + 2, pad_top + height)
        self.padded_w = max(2 * self.tiles_w + 2, pad_left + width)

    @property
    def tiles(self) -> int:
        """Tiles per sample."""
        return self.tiles_h * self.tiles_w


def applies(rank: int, kernel_size: tuple[int, ...], strides: tuple[int, ...],
            dilation_rate: tuple[int, ...], channels: int, filters: int, dtype: Any) -> bool:
    """Whether a convolution of this shape runs through Winograd: it also needs numpy's
    OpenBLAS cblas gemm for ``dtype`` (float32 or float64), which its blocks call from numba;
    without it im2col runs."""
    return (rank == 2 and tuple(kernel_size) == (3, 3) and tuple(strides) == (1, 1)
            and tuple(dilation_rate) == (1, 1) and channels >= MIN_CHANNELS
            and filters >= MIN_CHANNELS and address_for(dtype) != 0)


def kernel_transform(kernel: np.ndarray) -> np.ndarray:
    """``U = G g G^T`` of a ``(3, 3, in, out)`` kernel: ``(16, in, out)``, C-contiguous, in
    the kernel's dtype (computed in float64)."""
    u = np.einsum("ai,ijcf,bj->abcf", _G, kernel.astype(np.float64), _G, optimize=True)
    return np.ascontiguousarray(u.reshape(16, *kernel.shape[2:]), dtype=kernel.dtype)


def kernel_gradient(d_u: np.ndarray) -> np.ndarray:
    """``G^T dU G`` of a ``(16, in, out)`` gradient of ``U``: the ``(3, 3, in, out)`` kernel
    gradient (float64)."""
    d_u = d_u.astype(np.float64, copy=False).reshape(4, 4, *d_u.shape[1:])
    return np.einsum("ai,abcf,bj->ijcf", _G, d_u, _G, optimize=True)


# ----------------------------------------------------------------------------- numba kernels
# Flat arrays and unsigned offsets, channels innermost: the channel loops vectorize.


@njit(cache=True, nogil=True)
def _pad(x, n0, n1, pt, pl, xp):
    """Samples ``n0 .. n1 - 1`` of ``x`` (N, H, W, C) into ``xp`` (n1 - n0, Hp, Wp, C), zeros
    around; every value of ``xp`` written once."""
    height, width, ch = x.shape[1], x.shape[2], x.shape[3]
    hp, wp = xp.shape[1], xp.shape[2]
    xf, pf = x.reshape(-1), xp.reshape(-1)
    row, line = width * ch, wp * ch
    before, after = pl * ch, (wp - pl - width) * ch
    for s in range(n1 - n0):
        for i in range(hp):
            dst = (s * hp + i) * line
            if i < pt or i >= pt + height:
                _zero(pf, dst, line)
                continue
            _zero(pf, dst, before)
            _copy(xf, ((n0 + s) * height + i - pt) * row, pf, dst + before, row)
            _zero(pf, dst + before + row, after)


@njit(cache=True, nogil=True)
def _input_transform(xp, tiles_h, tiles_w, v):
    """``V = B^T d B`` of every 4x4 tile of the padded block ``xp``: ``v`` (16, T, C)."""
    samples, hp, wp, ch = xp.shape
    xf, vf = xp.reshape(-1), v.reshape(-1)
    pl = samples * tiles_h * tiles_w * ch  # one transformed position's (T, C) plane
    line = wp * ch
    t = 0
    for s in range(samples):
        for ty in range(tiles_h):
            for tx in range(tiles_w):
                r0 = ((s * hp + 2 * ty) * wp + 2 * tx) * ch
                r1, r2, r3 = r0 + line, r0 + 2 * line, r0 + 3 * line
                out = t * ch
                for c in range(ch):
                    d00, d01 = load(xf, r0 + c), load(xf, r0 + ch + c)
                    d02, d03 = load(xf, r0 + 2 * ch + c), load(xf, r0 + 3 * ch + c)
                    d10, d11 = load(xf, r1 + c), load(xf, r1 + ch + c)
                    d12, d13 = load(xf, r1 + 2 * ch + c), load(xf, r1 + 3 * ch + c)
                    d20, d21 = load(xf, r2 + c), load(xf, r2 + ch + c)
                    d22, d23 = load(xf, r2 + 2 * ch + c), load(xf, r2 + 3 * ch + c)
                    d30, d31 = load(xf, r3 + c), load(xf, r3 + ch + c)
                    d32, d33 = load(xf, r3 + 2 * ch + c), load(xf, r3 + 3 * ch + c)
                    # rows of B^T d
                    a0, a1, a2, a3 = d00 - d20, d01 - d21, d02 - d22, d03 - d23
                    b0, b1, b2, b3 = d10 + d20, d11 + d21, d12 + d22, d13 + d23
                    c0, c1, c2, c3 = d20 - d10, d21 - d11, d22 - d12, d23 - d13
                    e0, e1, e2, e3 = d10 - d30, d11 - d31, d12 - d32, d13 - d33
                    # (B^T d) B, position e into plane e (store stream e)
                    q = out + c
                    store(vf, q, a0 - a2, 0)
                    store(vf, q + pl, a1 + a2, 1)
                    store(vf, q + 2 * pl, a2 - a1, 2)
                    store(vf, q + 3 * pl, a1 - a3, 3)
                    store(vf, q + 4 * pl, b0 - b2, 4)
                    store(vf, q + 5 * pl, b1 + b2, 5)
                    store(vf, q + 6 * pl, b2 - b1, 6)
                    store(vf, q + 7 * pl, b1 - b3, 7)
                    store(vf, q + 8 * pl, c0 - c2, 8)
                    store(vf, q + 9 * pl, c1 + c2, 9)
                    store(vf, q + 10 * pl, c2 - c1, 10)
                    store(vf, q + 11 * pl, c1 - c3, 11)
                    store(vf, q + 12 * pl, e0 - e2, 12)
                    store(vf, q + 13 * pl, e1 + e2, 13)
                    store(vf, q + 14 * pl, e2 - e1, 14)
                    store(vf, q + 15 * pl, e1 - e3, 15)
                t += 1


@njit(cache=True, nogil=True, inline="always")
def _output_tile(s, ty, tx, out_h, out_w, fs):
    """Where output tile ``(ty, tx)`` of sample ``s`` starts in the output rows (flat offsets
    of its top-left and bottom-left values) and whether its right column and bottom row lie
    inside the output."""
    y0, x0 = 2 * ty, 2 * tx
    o00 = ((s * out_h + y0) * out_w + x0) * fs
    return o00, o00 + out_w * fs, x0 + 1 < out_w, y0 + 1 < out_h


@njit(cache=True, nogil=True)
def _output_transform(m, tiles_h, tiles_w, out_h, out_w, z):
    """``Y = A^T M A`` of every tile: rows ``(sample, y, x)`` of ``z`` (rows, F), the parts of
    the last tiles outside the output dropped."""
    tiles, fs = m.shape[1], m.shape[2]
    samples = tiles // (tiles_h * tiles_w)
    mf, zf = m.reshape(-1), z.reshape(-1)
    pl = tiles * fs
    t = 0
    for s in range(samples):
        for ty in range(tiles_h):
            for tx in range(tiles_w):
                o00, o10, right, below = _output_tile(s, ty, tx, out_h, out_w, fs)
                src = t * fs
                for f in range(fs):
                    q = src + f
                    m00, m01 = load(mf, q), load(mf, q + pl)
                    m02, m03 = load(mf, q + 2 * pl), load(mf, q + 3 * pl)
                    m10, m11 = load(mf, q + 4 * pl), load(mf, q + 5 * pl)
                    m12, m13 = load(mf, q + 6 * pl), load(mf, q + 7 * pl)
                    m20, m21 = load(mf, q + 8 * pl), load(mf, q + 9 * pl)
                    m22, m23 = load(mf, q + 10 * pl), load(mf, q + 11 * pl)
                    m30, m31 = load(mf, q + 12 * pl), load(mf, q + 13 * pl)
                    m32, m33 = load(mf, q + 14 * pl), load(mf, q + 15 * pl)
                    # rows of A^T M
                    s0, s1, s2, s3 = m00 + m10 + m20, m01 + m11 + m21, m02 + m12 + m22, \
                        m03 + m13 + m23
                    r0, r1, r2, r3 = m10 - m20 - m30, m11 - m21 - m31, m12 - m22 - m32, \
                        m13 - m23 - m33
                    # (A^T M) A: each output position its own store stream
                    store(zf, o00 + f, s0 + s1 + s2, 0)
                    if right:
                        store(zf, o00 + fs + f, s1 - s2 - s3, 1)
                    if below:
                        store(zf, o10 + f, r0 + r1 + r2, 2)
                        if right:
                            store(zf, o10 + fs + f, r1 - r2 - r3, 3)
                t += 1


@njit(cache=True, nogil=True)
def _output_gradient_transform(dz, tiles_h, tiles_w, out_h, out_w, dm, zero):
    """``dM = A dY A^T`` of every tile from the rows of ``dz``: ``dm`` (16, T, F); the parts
    of the last tiles outside the output count as ``zero`` (0 in dz's dtype, so that float32
    stays float32)."""
    tiles, fs = dm.shape[1], dm.shape[2]
    samples = tiles // (tiles_h * tiles_w)
    gf, df = dz.reshape(-1), dm.reshape(-1)
    pl = tiles * fs
    t = 0
    for s in range(samples):
        for ty in range(tiles_h):
            for tx in range(tiles_w):
                o00, o10, right, below = _output_tile(s, ty, tx, out_h, out_w, fs)
                dst = t * fs
                for f in range(fs):
                    g00 = load(gf, o00 + f)
                    g01 = load(gf, o00 + fs + f) if right else zero
                    g10 = load(gf, o10 + f) if below else zero
                    g11 = load(gf, o10 + fs + f) if right and below else zero
                    # rows of A dY: g0, g0 + g1, g0 - g1, -g1
                    p0, p1 = g00 + g10, g01 + g11
                    n0, n1 = g00 - g10, g01 - g11
                    # (A dY) A^T, row by row: r0, r0 + r1, r0 - r1, -r1
                    q = dst + f
                    store(df, q, g00, 0)
                    store(df, q + pl, g00 + g01, 1)
                    store(df, q + 2 * pl, g00 - g01, 2)
                    store(df, q + 3 * pl, -g01, 3)
                    store(df, q + 4 * pl, p0, 4)
                    store(df, q + 5 * pl, p0 + p1, 5)
                    store(df, q + 6 * pl, p0 - p1, 6)
                    store(df, q + 7 * pl, -p1, 7)
                    store(df, q + 8 * pl, n0, 8)
                    store(df, q + 9 * pl, n0 + n1, 9)
                    store(df, q + 10 * pl, n0 - n1, 10)
                    store(df, q + 11 * pl, -n1, 11)
                    store(df, q + 12 * pl, -g10, 12)
                    store(df, q + 13 * pl, -g10 - g11, 13)
                    store(df, q + 14 * pl, g11 - g10, 14)
                    store(df, q + 15 * pl, g11, 15)
                t += 1


@njit(cache=True, nogil=True)
def _input_gradient_transform(dv, dd):
    """``B dV B^T`` of every tile: ``dd`` (16, T, C), plane ``4 i + j`` the gradient of the
    tile's input row ``i``, column ``j``."""
    tiles, ch = dv.shape[1], dv.shape[2]
    vf, df = dv.reshape(-1), dd.reshape(-1)
    pl = tiles * ch
    for q in range(tiles * ch):
        v00, v01 = load(vf, q), load(vf, q + pl)
        v02, v03 = load(vf, q + 2 * pl), load(vf, q + 3 * pl)
        v10, v11 = load(vf, q + 4 * pl), load(vf, q + 5 * pl)
        v12, v13 = load(vf, q + 6 * pl), load(vf, q + 7 * pl)
        v20, v21 = load(vf, q + 8 * pl), load(vf, q + 9 * pl)
        v22, v23 = load(vf, q + 10 * pl), load(vf, q + 11 * pl)
        v30, v31 = load(vf, q + 12 * pl), load(vf, q + 13 * pl)
        v32, v33 = load(vf, q + 14 * pl), load(vf, q + 15 * pl)
        # rows of B dV: v0, v1 - v2 + v3, v1 + v2 - v0, -v3
        b0, b1, b2, b3 = v10 - v20 + v30, v11 - v21 + v31, v12 - v22 + v32, v13 - v23 + v33
        c0, c1, c2, c3 = v10 + v20 - v00, v11 + v21 - v01, v12 + v22 - v02, v13 + v23 - v03
        # (B dV) B^T, row by row: u0, u1 - u2 + u3, u1 + u2 - u0, -u3
        store(df, q, v00, 0)
        store(df, q + pl, v01 - v02 + v03, 1)
        store(df, q + 2 * pl, v01 + v02 - v00, 2)
        store(df, q + 3 * pl, -v03, 3)
        store(df, q + 4 * pl, b0, 4)
        store(df, q + 5 * pl, b1 - b2 + b3, 5)
        store(df, q + 6 * pl, b1 + b2 - b0, 6)
        store(df, q + 7 * pl, -b3, 7)
        store(df, q + 8 * pl, c0, 8)
        store(df, q + 9 * pl, c1 - c2 + c3, 9)
        store(df, q + 10 * pl, c1 + c2 - c0, 10)
        store(df, q + 11 * pl, -c3, 11)
        store(df, q + 12 * pl, -v30, 12)
        store(df, q + 13 * pl, v32 - v31 - v33, 13)
        store(df, q + 14 * pl, v30 - v31 - v32, 14)
        store(df, q + 15 * pl, v33, 15)


@njit(cache=True, nogil=True)
def _tile_starts(p, tiles):
    """The tiles (at most 2) whose 4-wide span holds padded index ``p``, last first."""
    hi = min(p // 2, tiles - 1)
    lo = max(p // 2 - 1, 0)
    return hi, lo


@njit(cache=True, nogil=True)
def _gather_input_gradient(dd, tiles_h, tiles_w, pt, pl, n0, dx):
    """Samples ``n0 ..`` of ``dx`` (overwritten): each input value's gradient is the sum of
    what the (at most four) tiles that read it give it, from ``dd`` (16, T, C)."""
    height, width, ch = dx.shape[1], dx.shape[2], dx.shape[3]
    tiles = dd.shape[1]
    samples = tiles // (tiles_h * tiles_w)
    gf, xf = dd.reshape(-1), dx.reshape(-1)
    plane = tiles * ch
    src = np.empty(4, np.int64)
    for s in range(samples):
        for h in range(height):
            ty_hi, ty_lo = _tile_starts(h + pt, tiles_h)
            for w in range(width):
                tx_hi, tx_lo = _tile_starts(w + pl, tiles_w)
                k = 0
                for ty in range(ty_lo, ty_hi + 1):
                    for tx in range(tx_lo, tx_hi + 1):
                        i, j = h + pt - 2 * ty, w + pl - 2 * tx
                        if i < 4 and j < 4:
                            src[k] = (4 * i + j) * plane + ((s * tiles_h + ty) * tiles_w + tx) * ch
                            k += 1
                o = (((n0 + s) * height + h) * width + w) * ch
                if k == 4:
                    a, b, c_, d = src[0], src[1], src[2], src[3]
                    for c in range(ch):
                        store(xf, o + c, (load(gf, a + c) + load(gf, b + c))
                              + (load(gf, c_ + c) + load(gf, d + c)), 0)
                elif k == 2:
                    a, b = src[0], src[1]
                    for c in range(ch):
                        store(xf, o + c, load(gf, a + c) + load(gf, b + c), 0)
                elif k == 1:
                    a = src[0]
                    for c in range(ch):
                        store(xf, o + c, load(gf, a + c), 0)
                else:
                    for c in range(ch):
                        store(xf, o + c, 0.0, 0)


@njit(cache=True, nogil=True)
def _products(gemm, double, trans_a, m, n, k, a, lda, b, ldb, c, ldc):
    """The 16 products ``c[e] = op(a[e]) @ b[e]`` of 3-D C-contiguous arrays, through the cblas
    gemm at address ``gemm``; ``op`` transposes when ``trans_a``."""
    ta = TRANS if trans_a else NO_TRANS
    pa, pb, pc = np.int64(a.ctypes.data), np.int64(b.ctypes.data), np.int64(c.ctypes.data)
    sa, sb, sc = a.shape[1] * a.shape[2] * a.itemsize, b.shape[1] * b.shape[2] * b.itemsize, \
        c.shape[1] * c.shape[2] * c.itemsize
    for e in range(16):
        if double:
            gemm_at(gemm, True, ta, NO_TRANS, m, n, k, pa + e * sa, lda, pb + e * sb, ldb,
                    pc + e * sc, ldc, 0.0)
        else:
            gemm_at(gemm, False, ta, NO_TRANS, m, n, k, pa + e * sa, lda, pb + e * sb, ldb,
                    pc + e * sc, ldc, 0.0)


@njit(cache=True, nogil=True)
def _forward_block(gemm, x, n0, n1, pt, pl, tiles_h, tiles_w, out_h, out_w, u, xp, v, m, z):
    _pad(x, n0, n1, pt, pl, xp)
    _input_transform(xp, tiles_h, tiles_w, v)
    tiles, channels, filters = v.shape[1], v.shape[2], u.shape[2]
    _products(gemm, v.itemsize == 8, False, tiles, filters, channels, v, channels, u, filters,
              m, filters)
    _output_transform(m, tiles_h, tiles_w, out_h, out_w, z)


@njit(cache=True, nogil=True)
def _backward_block(gemm, x, n0, n1, pt, pl, tiles_h, tiles_w, out_h, out_w, u_t, dz, zero,
                    xp, v, m, dd, d_u, dx, need_dx):
    _pad(x, n0, n1, pt, pl, xp)
    _input_transform(xp, tiles_h, tiles_w, v)
    _output_gradient_transform(dz, tiles_h, tiles_w, out_h, out_w, m, zero)
    tiles, channels, filters = v.shape[1], v.shape[2], m.shape[2]
    double = v.itemsize == 8
    # dU[e] = V[e]^T dM[e]
    _products(gemm, double, True, channels, filters, tiles, v, channels, m, filters, d_u,
              filters)
    if need_dx:  # dV[e] = dM[e] U[e]^T into V's buffer, then back to the input
        _products(gemm, double, False, tiles, channels, filters, m, filters, u_t, channels, v,
                  channels)
        _input_gradient_transform(v, dd)
        _gather_input_gradient(dd, tiles_h, tiles_w, pt, pl, n0, dx)


# ----------------------------------------------------------------------------- block steps


def forward_block(tiling: Tiling, x: np.ndarray, n0: int, n1: int, u: np.ndarray,
                  scratch: dict[str, np.ndarray], z: np.ndarray) -> None:
    """The outputs (before bias and activation) of samples ``n0 .. n1 - 1`` of a C-contiguous
    channels-last ``x`` into the rows ``(sample, y, x)`` of ``z``; ``u`` from
    :func:`kernel_transform`, ``scratch`` the arrays of :func:`block_shapes`. One numba call,
    the 16 products included."""
    _forward_block(address_for(x.dtype), x, n0, n1, tiling.pad_top, tiling.pad_left,
                   tiling.tiles_h, tiling.tiles_w, tiling.out_h, tiling.out_w, u,
                   scratch["xp"], scratch["v"], scratch["m"], z)


def backward_block(tiling: Tiling, x: np.ndarray, n0: int, n1: int, u_t: np.ndarray,
                   dz: np.ndarray, scratch: dict[str, np.ndarray], d_u: np.ndarray,
                   dx: np.ndarray | None) -> None:
    """For the output gradient rows ``dz`` of samples ``n0 .. n1 - 1``: their part of the
    gradient of ``U`` into ``d_u`` ``(16, in, out)`` and, when ``dx`` is given, their samples of
    the input gradient; ``u_t`` is ``U`` with its last two axes swapped, C-contiguous."""
    _backward_block(address_for(x.dtype), x, n0, n1, tiling.pad_top, tiling.pad_left,
                    tiling.tiles_h, tiling.tiles_w, tiling.out_h, tiling.out_w, u_t, dz,
                    dz.dtype.type(0), scratch["xp"], scratch["v"], scratch["m"],
                    scratch["dd"], d_u, x[:0] if dx is None else dx, dx is not None)


def tiling_of(geometry: tuple[int, ...], height: int, width: int) -> Tiling:
    """The :class:`Tiling` of a stride-1 3x3 convolution geometry (``ops.conv.geometry``)."""
    return Tiling(height, width, geometry[8], geometry[9], geometry[6], geometry[7])


def block_shapes(tiling: Tiling, samples: int, channels: int, filters: int
                 ) -> dict[str, Any]:
    """Shapes of a block's scratch arrays."""
    tiles = samples * tiling.tiles
    return {"xp": (samples, tiling.padded_h, tiling.padded_w, channels),
            "v": (16, tiles, channels), "m": (16, tiles, filters),
            "dd": (16, tiles, channels)}
