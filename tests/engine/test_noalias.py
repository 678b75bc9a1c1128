"""The no-alias loads and stores of numba kernels (ops/noalias.py): their values, the
vectorized loop they exist for, and what they refuse."""

from __future__ import annotations

import re

import numpy as np
import pytest
from numba import njit

from numkeras.engine.ops import noalias


@njit
def _sixteen_streams(src, dst, channels, plane):
    for c in range(channels):
        a = noalias.load(src, c)
        b = noalias.load(src, c + channels)
        noalias.store(dst, c, a + b, 0)
        noalias.store(dst, c + plane, a - b, 1)
        noalias.store(dst, c + 2 * plane, a * b, 2)
        noalias.store(dst, c + 3 * plane, b - a, 3)
        noalias.store(dst, c + 4 * plane, a, 4)
        noalias.store(dst, c + 5 * plane, b, 5)
        noalias.store(dst, c + 6 * plane, a + a, 6)
        noalias.store(dst, c + 7 * plane, b + b, 7)
        noalias.store(dst, c + 8 * plane, a + 1, 8)
        noalias.store(dst, c + 9 * plane, b + 1, 9)


def test_noalias_loads_and_stores_compute_and_vectorize():
    src = np.arange(64, dtype=np.float32)
    dst = np.zeros(10 * 40, dtype=np.float32)
    _sixteen_streams(src, dst, 32, 40)
    a, b = src[:32], src[32:]
    for k, expected in enumerate([a + b, a - b, a * b, b - a, a, b, 2 * a, 2 * b, a + 1,
                                  b + 1]):
        np.testing.assert_array_equal(dst[40 * k:40 * k + 32], expected)
    assert not dst.reshape(10, 40)[:, 32:].any()
    # 2 loads and 10 stores need 20 run-time overlap checks without the metadata (LLVM gives up
    # above 8 and the loop stays scalar); with it the loop runs on packed float32 vectors.
    asm = _sixteen_streams.inspect_asm(_sixteen_streams.signatures[0])
    assert re.search(r"\b(v?addps|v?subps)\b", asm)


def test_noalias_rejects_what_it_cannot_index():
    @njit
    def two_d(a):
        return noalias.load(a, 0)

    @njit
    def stream_out_of_range(a):
        noalias.store(a, 0, 1.0, 16)  # noalias.STREAMS

    with pytest.raises(Exception, match="flat C-contiguous"):
        two_d(np.zeros((2, 2)))
    with pytest.raises(Exception, match="stream must be a literal"):
        stream_out_of_range(np.zeros(3))
