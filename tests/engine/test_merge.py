"""Merge layers: values, Keras broadcasting, gradients, shape checks, masks, configs."""

from __future__ import annotations

import numpy as np
import pytest

from numkeras import layers
from numkeras.layers import Input
from tests.engine.gradcheck import build_and_call, check_config_roundtrip, check_layer_gradients

RNG = np.random.default_rng(3)
A = RNG.standard_normal((3, 4)).astype(np.float32)
B = RNG.standard_normal((3, 4)).astype(np.float32)
C = RNG.standard_normal((3, 4)).astype(np.float32)
A3 = RNG.standard_normal((3, 2, 4)).astype(np.float32)

ELEMENTWISE = {
    "Add": lambda xs: xs[0] + xs[1] + xs[2],
    "Multiply": lambda xs: xs[0] * xs[1] * xs[2],
    "Average": lambda xs: (xs[0] + xs[1] + xs[2]) / 3,
    "Maximum": lambda xs: np.maximum(np.maximum(xs[0], xs[1]), xs[2]),
    "Minimum": lambda xs: np.minimum(np.minimum(xs[0], xs[1]), xs[2]),
}


@pytest.mark.parametrize("name", sorted(ELEMENTWISE))
def test_elementwise_values_and_gradients(name: str) -> None:
    layer = getattr(layers, name)()
    out = build_and_call(layer, A, B, C)
    np.testing.assert_allclose(out, ELEMENTWISE[name]([A, B, C]), rtol=1e-6)
    check_layer_gradients(layer, [A, B, C])
    check_config_roundtrip(layer)


@pytest.mark.parametrize("name", sorted(ELEMENTWISE))
def test_elementwise_broadcasts_like_keras(name: str) -> None:
    # (3, 4) against (3, 2, 4): the lower-rank input gets a new axis after the batch axis;
    # (3, 1, 4) stretches along axis 1.
    small = RNG.standard_normal((3, 1, 4)).astype(np.float32)
    layer = getattr(layers, name)()
    out = build_and_call(layer, A, A3, small)
    assert out.shape == (3, 2, 4)
    np.testing.assert_allclose(out, ELEMENTWISE[name]([A[:, None, :], A3, small]), rtol=1e-6)
    check_layer_gradients(layer, [A, A3, small])


def test_subtract() -> None:
    layer = layers.Subtract()
    np.testing.assert_array_equal(build_and_call(layer, A, B), A - B)
    check_layer_gradients(layer, [A, B])
    with pytest.raises(ValueError, match="exactly 2 inputs"):
        layers.Subtract()([Input((4,)), Input((4,)), Input((4,))])


def test_maximum_gives_a_tie_to_the_first_input() -> None:
    x = np.array([[1.0, 2.0, 3.0]], np.float32)
    y = np.array([[1.0, 5.0, 3.0]], np.float32)
    layer = layers.Maximum()
    build_and_call(layer, x, y)
    from numkeras.engine.kernels import forward_of

    _, backward = forward_of(layer)(layer, [x, y], False)
    (dx, dy), _ = backward(np.ones((1, 3), np.float32))
    np.testing.assert_array_equal(dx, [[1, 0, 1]])
    np.testing.assert_array_equal(dy, [[0, 1, 0]])


def test_elementwise_shape_errors_name_the_layer_and_shapes() -> None:
    with pytest.raises(ValueError, match=r"add_bad.*\(5,\).*\(4,\)|add_bad.*\(4,\).*\(5,\)"):
        layers.Add(name="add_bad")([Input((4,)), Input((5,))])
    with pytest.raises(ValueError, match="different batch sizes"):
        layers.Add()([Input(batch_shape=(2, 4)), Input(batch_shape=(3, 4))])
    with pytest.raises(ValueError, match="list of inputs"):
        layers.Add()(Input((4,)))
    assert layers.Add().compute_output_shape([(None, 4), (5, 1), (None, 3, 1)]) == (5, 3, 4)


def test_elementwise_mask_is_the_and_of_masks() -> None:
    m1 = np.array([[True, True, False]])
    m2 = np.array([[True, False, False]])
    layer = layers.Add()
    np.testing.assert_array_equal(layer.compute_mask([A, B], [m1, m2]), m1 & m2)
    np.testing.assert_array_equal(layer.compute_mask([A, B], [None, m2]), m2)
    assert layer.compute_mask([A, B], [None, None]) is None
    assert layer.compute_mask([A, B], None) is None


def test_concatenate() -> None:
    z = RNG.standard_normal((3, 2)).astype(np.float32)
    layer = layers.Concatenate()
    np.testing.assert_array_equal(build_and_call(layer, A, z), np.concatenate([A, z], axis=1))
    check_layer_gradients(layer, [A, z])
    middle = layers.Concatenate(axis=1)
    out = build_and_call(middle, A3, A3[:, :1] * 2)
    np.testing.assert_array_equal(out, np.concatenate([A3, A3[:, :1] * 2], axis=1))
    check_layer_gradients(middle, [A3, A3[:, :1] * 2])
    assert middle.compute_output_shape([(None, 2, 4), (None, None, 4)]) == (None, None, 4)
    assert check_config_roundtrip(middle).axis == 1


def test_concatenate_errors() -> None:
    with pytest.raises(ValueError, match="cat_bad.*matching shapes"):
        layers.Concatenate(name="cat_bad")([Input((2, 3)), Input((4, 5))])
    with pytest.raises(ValueError, match="matching shapes"):
        layers.Concatenate()([Input((2, 3)), Input((3,))])
    with pytest.raises(ValueError, match="axis"):
        layers.Concatenate(axis="last")
    with pytest.raises(ValueError, match="axis"):
        layers.Concatenate(axis=3)([Input((2,)), Input((2,))])


def test_concatenate_mask() -> None:
    x = np.zeros((1, 2, 3), np.float32)
    m = np.array([[True, False]])
    mask = layers.Concatenate(axis=1).compute_mask([x, x], [m, None])
    np.testing.assert_array_equal(mask, [[True, False, True, True]])


def test_dot_of_vectors() -> None:
    layer = layers.Dot(axes=1)
    out = build_and_call(layer, A, B)
    np.testing.assert_allclose(out, np.sum(A * B, axis=1, keepdims=True), rtol=1e-5)
    check_layer_gradients(layer, [A, B])
    check_config_roundtrip(layer)
    assert layer.compute_mask([A, B], [None, None]) is None


def test_dot_normalized_is_the_cosine_similarity() -> None:
    layer = layers.Dot(axes=-1, normalize=True)
    cosine = np.sum(A * B, 1) / np.linalg.norm(A, axis=1) / np.linalg.norm(B, axis=1)
    np.testing.assert_allclose(build_and_call(layer, A, B)[:, 0], cosine, rtol=1e-5)
    check_layer_gradients(layer, [A, B])


@pytest.mark.parametrize("axes,shape2,expected", [
    ((2, 1), (3, 4, 5), (3, 2, 5)),
    ((1, 1), (3, 2, 5), (3, 4, 5)),
    ((2, 2), (3, 6, 4), (3, 2, 6)),
])
def test_dot_batch_dot_axes(axes: tuple, shape2: tuple, expected: tuple) -> None:
    y = RNG.standard_normal(shape2).astype(np.float32)
    layer = layers.Dot(axes=axes, normalize=axes == (1, 1))
    out = build_and_call(layer, A3, y)
    assert out.shape == expected
    x, z = A3.astype(np.float64), y.astype(np.float64)
    if layer.normalize:
        x = x / np.linalg.norm(x, axis=axes[0], keepdims=True)
        z = z / np.linalg.norm(z, axis=axes[1], keepdims=True)
    reference = np.stack([np.tensordot(x[i], z[i], axes=(axes[0] - 1, axes[1] - 1))
                          for i in range(3)])
    np.testing.assert_allclose(out, reference, rtol=1e-5, atol=1e-6)
    check_layer_gradients(layer, [A3, y])
    check_config_roundtrip(layer)


def test_dot_errors() -> None:
    for axes in ["1", (1, 2, 3), (1.0, 2), None]:
        with pytest.raises(ValueError, match="axes"):
            layers.Dot(axes=axes)
    with pytest.raises(ValueError, match="dot_bad.*axis values 4.*5"):
        layers.Dot(axes=1, name="dot_bad")([Input((4,)), Input((5,))])
    with pytest.raises(ValueError, match="batch axis"):
        layers.Dot(axes=0)([Input((4,)), Input((4,))])
    with pytest.raises(ValueError, match="2 inputs"):
        layers.Dot(axes=1)([Input((4,)), Input((4,)), Input((4,))])
