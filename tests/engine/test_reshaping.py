"""UpSampling, ZeroPadding, Cropping and SpatialDropout: hand-computed values, finite-difference
gradients and config round trips of every option, output shapes and bad arguments."""

from __future__ import annotations

import numpy as np
import pytest

import numkeras.engine as keras
from numkeras import backend
from numkeras.layers import (
    Cropping1D,
    Cropping2D,
    SpatialDropout1D,
    SpatialDropout2D,
    UpSampling1D,
    UpSampling2D,
    ZeroPadding1D,
    ZeroPadding2D,
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


def run(layer, x, training=False):
    build_and_call(layer, x, training=training)
    return run_kernel(layer, [x], training)[0][0]


def test_up_sampling_nearest_values():
    x = np.array([[[1.0], [2.0]]], "float32")
    np.testing.assert_array_equal(run(UpSampling1D(3), x)[0, :, 0], [1, 1, 1, 2, 2, 2])
    img = np.array([[1.0, 2.0], [3.0, 4.0]], "float32")[None, :, :, None]
    y = run(UpSampling2D((2, 3)), img)[0, :, :, 0]
    np.testing.assert_array_equal(y, [[1, 1, 1, 2, 2, 2]] * 2 + [[3, 3, 3, 4, 4, 4]] * 2)
    first = run(UpSampling2D(2, data_format="channels_first"), img.transpose(0, 3, 1, 2))
    np.testing.assert_array_equal(first[0, 0], np.kron([[1, 2], [3, 4]], np.ones((2, 2))))


def test_up_sampling_bilinear_matches_tensorflow_half_pixel_resize():
    img = np.array([[1.0, 2.0], [3.0, 4.0]], "float32")[None, :, :, None]
    y = run(UpSampling2D(2, interpolation="bilinear"), img)[0, :, :, 0]
    # tf.image.resize([[1, 2], [3, 4]], (4, 4), "bilinear"): half-pixel centres, edges clamped.
    np.testing.assert_allclose(y, [[1.0, 1.25, 1.75, 2.0], [1.5, 1.75, 2.25, 2.5],
                                   [2.5, 2.75, 3.25, 3.5], [3.0, 3.25, 3.75, 4.0]])


def test_zero_padding_and_cropping_values():
    x = np.arange(1, 4, dtype="float32").reshape(1, 3, 1)
    np.testing.assert_array_equal(run(ZeroPadding1D((2, 1)), x)[0, :, 0], [0, 0, 1, 2, 3, 0])
    np.testing.assert_array_equal(run(Cropping1D((1, 0)), x)[0, :, 0], [2, 3])
    img = np.arange(12, dtype="float32").reshape(1, 3, 4, 1)
    padded = run(ZeroPadding2D(((1, 0), (0, 2))), img)[0, :, :, 0]
    np.testing.assert_array_equal(padded, np.pad(img[0, :, :, 0], ((1, 0), (0, 2))))
    cropped = run(Cropping2D(((1, 1), (0, 2))), img)[0, :, :, 0]
    np.testing.assert_array_equal(cropped, [[4, 5]])
    first = run(ZeroPadding2D(1, data_format="channels_first"), img.transpose(0, 3, 1, 2))
    assert first.shape == (1, 1, 5, 6) and first[0, 0, 1:-1, 1:-1].sum() == img.sum()


def test_spatial_dropout_drops_whole_channels():
    x = np.ones((4, 6, 5, 8), "float32")
    y = run(SpatialDropout2D(0.5, seed=3), x, training=True)
    per_channel = y.reshape(4, 30, 8)
    assert np.all(per_channel == per_channel[:, :1])  # each map is all kept or all dropped
    assert set(np.unique(y)) == {0.0, 2.0}
    y_first = run(SpatialDropout2D(0.5, data_format="channels_first", seed=3), x, training=True)
    per_map = y_first.reshape(4, 6, 40)
    assert np.all(per_map == per_map[:, :, :1]) and set(np.unique(y_first)) == {0.0, 2.0}
    seq = np.ones((3, 7, 10), "float32")
    y1 = run(SpatialDropout1D(0.3, seed=1), seq, training=True)
    assert np.all(y1 == y1[:, :1]) and np.isclose(y1.max(), 1 / 0.7)
    np.testing.assert_array_equal(run(SpatialDropout1D(0.3), seq, training=False), seq)


GRAD_CASES = [
    (UpSampling1D, {"size": 3}, (2, 4, 2), False),
    (UpSampling2D, {"size": (2, 3)}, (2, 3, 2, 2), False),
    (UpSampling2D, {"data_format": "channels_first"}, (2, 2, 3, 2), False),
    (UpSampling2D, {"size": (3, 2), "interpolation": "bilinear"}, (2, 3, 4, 2), False),
    (ZeroPadding1D, {"padding": (1, 2)}, (2, 4, 2), False),
    (ZeroPadding2D, {"padding": ((1, 0), (2, 1))}, (2, 3, 3, 2), False),
    (ZeroPadding2D, {"padding": (1, 2), "data_format": "channels_first"}, (2, 2, 3, 3), False),
    (Cropping1D, {"cropping": (1, 2)}, (2, 6, 2), False),
    (Cropping2D, {"cropping": ((1, 0), (2, 1))}, (2, 4, 5, 2), False),
    (Cropping2D, {"cropping": 1, "data_format": "channels_first"}, (2, 2, 4, 4), False),
    (SpatialDropout1D, {"rate": 0.4, "seed": 2}, (2, 5, 4), True),
    (SpatialDropout2D, {"rate": 0.4, "seed": 2}, (2, 3, 3, 4), True),
    (SpatialDropout2D, {"rate": 0.4, "seed": 2, "data_format": "channels_first"},
     (2, 4, 3, 3), True),
]


@pytest.mark.parametrize("cls, kwargs, shape, training", GRAD_CASES,
                         ids=[f"{c.__name__}-{i}" for i, (c, *_) in enumerate(GRAD_CASES)])
def test_gradients_and_config(cls, kwargs, shape, training):
    layer = cls(**kwargs)
    check_layer_gradients(layer, rand(*shape, seed=4), training=training)
    assert type(check_config_roundtrip(layer)) is cls


def test_configs_match_keras_keys():
    assert ZeroPadding2D(2).get_config()["padding"] == ((2, 2), (2, 2))
    assert ZeroPadding2D((1, 3)).get_config()["padding"] == ((1, 1), (3, 3))
    assert ZeroPadding1D(2).get_config()["padding"] == (2, 2)
    assert Cropping2D().get_config()["cropping"] == ((0, 0), (0, 0))
    assert UpSampling1D().get_config()["size"] == 2
    config = UpSampling2D().get_config()
    assert (config["size"], config["interpolation"]) == ((2, 2), "nearest")
    config = SpatialDropout1D(0.2).get_config()
    assert (config["rate"], config["noise_shape"], config["seed"]) == (0.2, None, None)


@pytest.mark.parametrize("layer, in_shape, out_shape", [
    (lambda: UpSampling1D(3), (None, 4, 2), (None, 12, 2)),
    (lambda: UpSampling2D((2, 3), data_format="channels_first"), (None, 2, 3, 4),
     (None, 2, 6, 12)),
    (lambda: ZeroPadding1D(2), (None, 4, 2), (None, 8, 2)),
    (lambda: ZeroPadding2D(((1, 2), (3, 4))), (None, 5, 5, 1), (None, 8, 12, 1)),
    (lambda: Cropping1D((1, 2)), (None, 6, 2), (None, 3, 2)),
    (lambda: Cropping2D(((1, 2), (0, 1)), data_format="channels_first"), (None, 3, 6, 6),
     (None, 3, 3, 5)),
    (lambda: SpatialDropout2D(0.5), (None, 4, 4, 3), (None, 4, 4, 3)),
])
def test_output_shapes(layer, in_shape, out_shape):
    layer = layer()
    assert layer.compute_output_shape(in_shape) == out_shape
    assert tuple(layer(keras.Input(batch_shape=in_shape)).shape) == out_shape


@pytest.mark.parametrize("make, argument", [
    (lambda: UpSampling1D(0), "size"),
    (lambda: UpSampling2D((2, 2, 2)), "size"),
    (lambda: UpSampling2D(interpolation="bicubic"), "interpolation"),
    (lambda: UpSampling2D(data_format="nhwc"), "data_format"),
    (lambda: ZeroPadding1D(-1), "padding"),
    (lambda: ZeroPadding2D(((1, 2), 3)), "padding"),
    (lambda: Cropping1D("a"), "cropping"),
    (lambda: Cropping2D(((1, 2, 3), (0, 0))), "cropping"),
    (lambda: SpatialDropout1D(1.5), "rate"),
    (lambda: SpatialDropout2D(0.5, data_format="x"), "data_format"),
])
def test_bad_arguments_raise_value_error(make, argument):
    with pytest.raises(ValueError, match=argument):
        make()


def test_bad_inputs_raise_value_error():
    with pytest.raises(ValueError, match="cropping"):
        Cropping1D((2, 2))(keras.Input(shape=(4, 3)))
    with pytest.raises(ValueError, match="rank 4"):
        SpatialDropout2D(0.5)(keras.Input(shape=(4, 3)))
    with pytest.raises(ValueError, match="rank 3"):
        ZeroPadding1D()(keras.Input(shape=(4, 3, 2)))
