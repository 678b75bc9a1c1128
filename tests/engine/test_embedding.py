"""Embedding: lookups, the table's gradient, masks, index checks, config."""

from __future__ import annotations

import numpy as np
import pytest

from numkeras import layers
from numkeras.engine.kernels import forward_of
from numkeras.layers import Input
from tests.engine.gradcheck import build_and_call, check_config_roundtrip, check_layer_gradients

TOKENS = np.array([[1, 4, 4, 0, 9], [2, 2, 7, 1, 0]], np.int32)


def test_lookup_and_shapes() -> None:
    layer = layers.Embedding(10, 3, name="emb")
    out = build_and_call(layer, TOKENS)
    table = layer.embeddings.value
    np.testing.assert_array_equal(out, table[TOKENS])
    assert out.shape == (2, 5, 3) and out.dtype == np.float32
    assert [w.name for w in layer.weights] == ["emb/embeddings:0"]
    assert np.abs(table).max() <= 0.05  # 'uniform' is U(-0.05, 0.05)


def test_table_gradient_accumulates_repeated_indices() -> None:
    layer = layers.Embedding(10, 3)
    build_and_call(layer, TOKENS)
    _, backward = forward_of(layer)(layer, TOKENS, True)
    upstream = np.arange(30, dtype=np.float32).reshape(2, 5, 3)
    d_inputs, (d_table,) = backward(upstream)
    assert d_inputs is None
    expected = np.zeros((10, 3), np.float32)
    for (i, j), token in np.ndenumerate(TOKENS):
        expected[token] += upstream[i, j]
    np.testing.assert_array_equal(d_table, expected)
    check_layer_gradients(layer, TOKENS)


def test_float_indices_are_truncated_like_a_cast() -> None:
    layer = layers.Embedding(5, 2)
    out = build_and_call(layer, np.array([[1.0, 3.7]], np.float32))
    np.testing.assert_array_equal(out, layer.embeddings.value[[[1, 3]]])


@pytest.mark.parametrize("bad", [10, -1])
def test_out_of_range_index_names_the_layer(bad: int) -> None:
    layer = layers.Embedding(10, 3, name="words")
    build_and_call(layer, TOKENS)
    with pytest.raises(ValueError, match=f"words.*{bad}.*out of range"):
        forward_of(layer)(layer, np.array([[1, bad]]), False)


def test_mask_zero() -> None:
    layer = layers.Embedding(10, 3, mask_zero=True)
    np.testing.assert_array_equal(layer.compute_mask(TOKENS), TOKENS != 0)
    assert layers.Embedding(10, 3).compute_mask(TOKENS) is None


def test_input_length_and_default_input_shape() -> None:
    layer = layers.Embedding(10, 4, input_length=5)
    assert layer.get_config()["batch_input_shape"] == [None, 5]
    assert layer.compute_output_shape((None, None)) == (None, 5, 4)
    with pytest.raises(ValueError, match="input_length"):
        layer.compute_output_shape((None, 6))
    assert layers.Embedding(10, 4).get_config()["batch_input_shape"] == [None, None]
    assert layers.Embedding(10, 4)(Input((7,), dtype="int32")).shape == (None, 7, 4)


def test_config_and_arguments() -> None:
    layer = layers.Embedding(10, 3, mask_zero=True, embeddings_regularizer="l2", name="emb")
    clone = check_config_roundtrip(layer)
    assert clone.mask_zero and clone.supports_masking and clone.input_dim == 10
    for dims in [(0, 3), (10, -1), (2.5, 3), ("10", 3)]:
        with pytest.raises(ValueError, match="input_dim|output_dim"):
            layers.Embedding(*dims)
