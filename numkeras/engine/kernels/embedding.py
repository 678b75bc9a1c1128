"""Embedding: a row lookup; the table's gradient scatters the output gradient back."""

from __future__ import annotations

from typing import Any

import numpy as np

from numkeras.engine.kernels import register
from numkeras.layers.embedding import Embedding


@register(Embedding)
def forward(layer: Embedding, x: np.ndarray, training: bool) -> tuple[np.ndarray, Any]:
    x = np.asarray(x)
    indices = x if np.issubdtype(x.dtype, np.integer) else x.astype(np.int64)
    if indices.size:
        low, high = int(indices.min()), int(indices.max())
        if low < 0 or high >= layer.input_dim:
            bad = low if low < 0 else high
            raise ValueError(
                f"Embedding layer {layer.name!r}: input index {bad} is out of range "
                f"[0, {layer.input_dim}) (input_dim={layer.input_dim})."
            )
    table = layer.embeddings.value
    y = table[indices]

    def backward(dy: np.ndarray) -> tuple[None, list]:
        d_table = np.zeros_like(table)
        np.add.at(d_table, indices.reshape(-1), dy.reshape(-1, table.shape[1]))
        return None, [d_table]

    return y, backward
