"""Pooling: forward values against naive NumPy loops and hand-computed numbers (TensorFlow's
"same" windows cover real inputs only), finite-difference gradients and config round trips of
every option, output shapes and bad arguments."""

from __future__ import annotations

import numpy as np
import pytest

import numkeras.engine as keras
from numkeras import backend
from numkeras.layers import (
    AveragePooling1D,
    AveragePooling2D,
    Embedding,
    GlobalAveragePooling1D,
    GlobalAveragePooling2D,
    GlobalMaxPooling1D,
    GlobalMaxPooling2D,
    MaxPooling1D,
    MaxPooling2D,
)
from tests.engine.gradcheck import (
    build_and_call,
    check_config_roundtrip,
    check_layer_gradients,
    run_kernel,
)


@pytest.fixture(autouse=True)
def _fresh_names():
    backend.clear_session()


def rand(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


def naive_pool2d(x, pool, strides, padding, reduce):
    """Channels-last pooling by loops over output pixels; "same" windows are clipped to the
    input, so padding never enters a max or an average."""
    n, h, w, c = x.shape
    (ph, pw), (sh, sw) = pool, strides
    if padding == "same":
        oh, ow = -(-h // sh), -(-w // sw)
        top = max((oh - 1) * sh + ph - h, 0) // 2
        left = max((ow - 1) * sw + pw - w, 0) // 2
    else:
        oh, ow, top, left = (h - ph) // sh + 1, (w - pw) // sw + 1, 0, 0
    out = np.zeros((n, oh, ow, c))
    for i in range(oh):
        for j in range(ow):
            r0, c0 = i * sh - top, j * sw - left
            win = x[:, max(r0, 0):r0 + ph, max(c0, 0):c0 + pw, :]
            out[:, i, j, :] = reduce(win, axis=(1, 2))
    return out


def run(layer, x, training=False):
    build_and_call(layer, x, training=training)
    return run_kernel(layer, [x], training)[0][0]


@pytest.mark.parametrize("cls, reduce", [(MaxPooling2D, np.max), (AveragePooling2D, np.mean)])
@pytest.mark.parametrize("kwargs", [
    {},
    {"pool_size": 3, "strides": 2},
    {"pool_size": (2, 3), "strides": (1, 2), "padding": "same"},
    {"pool_size": 3, "padding": "same"},
    {"pool_size": (3, 2), "strides": 1},
])
def test_pooling2d_matches_naive_loops(cls, reduce, kwargs):
    x = rand(2, 7, 6, 3, seed=1).astype("float32")
    layer = cls(**kwargs)
    y = run(layer, x)
    expected = naive_pool2d(x.astype(float), layer.pool_size, layer.strides, layer.padding,
                            reduce)
    assert y.dtype == np.float32
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("cls, reduce", [(MaxPooling1D, np.max), (AveragePooling1D, np.mean)])
@pytest.mark.parametrize("kwargs", [{}, {"pool_size": 3, "strides": 1},
                                    {"pool_size": 3, "strides": 2, "padding": "same"}])
def test_pooling1d_matches_naive_loops(cls, reduce, kwargs):
    x = rand(2, 9, 3, seed=2).astype("float32")
    layer = cls(**kwargs)
    y = run(layer, x)
    expected = naive_pool2d(x.astype(float)[:, None], (1, *layer.pool_size),
                            (1, *layer.strides), layer.padding, reduce)[:, 0]
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-6)


def test_same_padding_hand_values():
    x = np.array([[-1.0, -2.0, -3.0]], "float32")[..., None]
    # The last window holds only -3: padding is not a zero in either pooling.
    np.testing.assert_allclose(run(MaxPooling1D(2, padding="same"), x)[0, :, 0], [-1.0, -3.0])
    np.testing.assert_allclose(run(AveragePooling1D(2, padding="same"), x)[0, :, 0],
                               [-1.5, -3.0])
    img = np.arange(9, dtype="float32").reshape(1, 3, 3, 1)
    np.testing.assert_allclose(run(AveragePooling2D(2, 1, padding="same"), img)[0, :, :, 0],
                               [[2, 3, 3.5], [5, 6, 6.5], [6.5, 7.5, 8]])


def test_channels_first_matches_channels_last():
    x = rand(2, 3, 6, 5, seed=3).astype("float32")  # (batch, channels, rows, cols)
    for cls in (MaxPooling2D, AveragePooling2D):
        first = run(cls(2, padding="same", data_format="channels_first"), x)
        last = run(cls(2, padding="same"), np.ascontiguousarray(x.transpose(0, 2, 3, 1)))
        np.testing.assert_allclose(first, last.transpose(0, 3, 1, 2))
    x1 = rand(2, 3, 7, seed=4).astype("float32")  # (batch, channels, steps)
    first = run(MaxPooling1D(3, data_format="channels_first"), x1)
    last = run(MaxPooling1D(3), np.ascontiguousarray(x1.transpose(0, 2, 1)))
    np.testing.assert_allclose(first, last.transpose(0, 2, 1))


def test_max_pooling_gradient_goes_to_the_arg_max_only():
    x = np.array([[1.0, 5.0, 2.0, 2.0]], "float32")[..., None]
    layer = MaxPooling1D(2)
    build_and_call(layer, x)
    _, backward = run_kernel(layer, [x], True)
    dx, dw = backward(np.array([[[10.0], [20.0]]], "float32"))
    # Ties (2, 2) send the gradient to the first maximum, as a cached arg-max does.
    np.testing.assert_allclose(dx[0, :, 0], [0.0, 10.0, 20.0, 0.0])
    assert dw == []


def test_global_pooling_values():
    x = rand(2, 4, 5, 3, seed=5).astype("float32")
    np.testing.assert_allclose(run(GlobalMaxPooling2D(), x), x.max(axis=(1, 2)))
    np.testing.assert_allclose(run(GlobalAveragePooling2D(), x), x.mean(axis=(1, 2)),
                               rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(run(GlobalAveragePooling2D(data_format="channels_first"), x),
                               x.mean(axis=(2, 3)), rtol=1e-6, atol=1e-6)
    kept = run(GlobalMaxPooling2D(keepdims=True), x)
    assert kept.shape == (2, 1, 1, 3)
    np.testing.assert_allclose(kept[:, 0, 0], x.max(axis=(1, 2)))
    x1 = rand(2, 6, 3, seed=6).astype("float32")
    np.testing.assert_allclose(run(GlobalMaxPooling1D(), x1), x1.max(axis=1))
    np.testing.assert_allclose(run(GlobalAveragePooling1D(data_format="channels_first"), x1),
                               x1.mean(axis=2), rtol=1e-6, atol=1e-6)


def test_global_average_pooling1d_skips_masked_steps():
    tokens = np.array([[3, 1, 0, 0], [2, 2, 2, 0]])
    inputs = keras.Input(shape=(4,), dtype="int32")
    emb = Embedding(5, 2, mask_zero=True)
    model = keras.Model(inputs, GlobalAveragePooling1D()(emb(inputs)))
    table = np.arange(10, dtype="float32").reshape(5, 2)
    emb.set_weights([table])
    out = model.predict(tokens, verbose=0)
    np.testing.assert_allclose(out, [(table[3] + table[1]) / 2, table[2]], rtol=1e-6, atol=1e-6)


GRAD_CASES = [
    (MaxPooling2D, {}, (2, 4, 6, 2)),
    (MaxPooling2D, {"pool_size": 3, "strides": 2, "padding": "same",
                    "data_format": "channels_first"}, (2, 2, 5, 5)),
    (AveragePooling2D, {"pool_size": (2, 3), "strides": (1, 2), "padding": "same"},
     (2, 5, 6, 2)),
    (AveragePooling2D, {"data_format": "channels_first"}, (2, 2, 4, 5)),
    (MaxPooling1D, {"pool_size": 3, "strides": 1}, (2, 6, 2)),
    (MaxPooling1D, {"padding": "same", "data_format": "channels_first"}, (2, 2, 5)),
    (AveragePooling1D, {"pool_size": 3, "strides": 2, "padding": "same"}, (2, 7, 2)),
    (GlobalMaxPooling2D, {}, (2, 3, 4, 2)),
    (GlobalMaxPooling2D, {"data_format": "channels_first", "keepdims": True}, (2, 2, 3, 4)),
    (GlobalAveragePooling2D, {"keepdims": True}, (2, 3, 4, 2)),
    (GlobalMaxPooling1D, {"data_format": "channels_first"}, (2, 3, 5)),
    (GlobalAveragePooling1D, {}, (2, 5, 3)),
]


@pytest.mark.parametrize("cls, kwargs, shape", GRAD_CASES,
                         ids=[f"{c.__name__}-{i}" for i, (c, _, _) in enumerate(GRAD_CASES)])
def test_gradients_and_config(cls, kwargs, shape):
    layer = cls(**kwargs)
    check_layer_gradients(layer, rand(*shape, seed=7))
    assert type(check_config_roundtrip(layer)) is cls


def test_config_matches_keras_keys():
    assert MaxPooling2D().get_config() | {"name": None} == {
        "name": None, "trainable": True, "dtype": "float32", "pool_size": (2, 2),
        "padding": "valid", "strides": (2, 2), "data_format": "channels_last"}
    assert GlobalAveragePooling1D().get_config()["keepdims"] is False


@pytest.mark.parametrize("layer, in_shape, out_shape", [
    (lambda: MaxPooling2D(), (None, 28, 28, 3), (None, 14, 14, 3)),
    (lambda: MaxPooling2D(3, 2, padding="same"), (None, 7, 7, 3), (None, 4, 4, 3)),
    (lambda: AveragePooling2D(3, data_format="channels_first"), (None, 3, 10, 7),
     (None, 3, 3, 2)),
    (lambda: MaxPooling1D(), (None, 9, 4), (None, 4, 4)),
    (lambda: AveragePooling1D(3, 1, padding="same"), (None, 9, 4), (None, 9, 4)),
    (lambda: GlobalMaxPooling2D(), (None, 5, 5, 3), (None, 3)),
    (lambda: GlobalAveragePooling2D(keepdims=True, data_format="channels_first"),
     (None, 3, 5, 5), (None, 3, 1, 1)),
    (lambda: GlobalMaxPooling1D(keepdims=True), (None, 5, 4), (None, 1, 4)),
])
def test_output_shapes(layer, in_shape, out_shape):
    layer = layer()
    assert layer.compute_output_shape(in_shape) == out_shape
    assert tuple(layer(keras.Input(batch_shape=in_shape)).shape) == out_shape


@pytest.mark.parametrize("make, argument", [
    (lambda: MaxPooling2D(0), "pool_size"),
    (lambda: MaxPooling2D((2, 2, 2)), "pool_size"),
    (lambda: AveragePooling2D(2, strides=-1), "strides"),
    (lambda: MaxPooling1D(padding="causal"), "padding"),
    (lambda: AveragePooling1D(data_format="nchw"), "data_format"),
    (lambda: GlobalMaxPooling2D(keepdims="yes"), "keepdims"),
    (lambda: GlobalAveragePooling1D(data_format="x"), "data_format"),
])
def test_bad_arguments_raise_value_error(make, argument):
    with pytest.raises(ValueError, match=argument):
        make()


def test_wrong_rank_raises_value_error():
    with pytest.raises(ValueError, match="rank 4"):
        MaxPooling2D()(keras.Input(shape=(4, 3)))
    with pytest.raises(ValueError, match="rank 3"):
        GlobalAveragePooling1D()(keras.Input(shape=(4, 3, 2)))
