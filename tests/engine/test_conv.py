"""Convolutions: forward values against naive NumPy loops, finite-difference gradients and
config round trips of every option, Keras's weight layouts and output shapes, bad arguments,
and a small CNN learning scikit-learn's digits."""

from __future__ import annotations

import numpy as np
import pytest

import numkeras.engine as keras
from numkeras import backend
from numkeras.layers import (
    Conv1D,
    Conv2D,
    Conv2DTranspose,
    DepthwiseConv2D,
    SeparableConv1D,
    SeparableConv2D,
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


# ----------------------------------------------------------------------------- naive loops


def naive_conv2d(x, k, strides=(1, 1), dilation=(1, 1), padding="valid"):
    """Channels-last convolution by explicit loops over output pixels and kernel taps.

    "same" pads so that out = ceil(in / stride), the smaller half before (TensorFlow).
    """
    n, h, w, _ = x.shape
    kh, kw, _, f = k.shape
    (sh, sw), (dh, dw) = strides, dilation
    eh, ew = (kh - 1) * dh + 1, (kw - 1) * dw + 1
    if padding == "same":
        oh, ow = -(-h // sh), -(-w // sw)
        ph, pw = max((oh - 1) * sh + eh - h, 0), max((ow - 1) * sw + ew - w, 0)
        x = np.pad(x, ((0, 0), (ph // 2, ph - ph // 2), (pw // 2, pw - pw // 2), (0, 0)))
    else:
        oh, ow = (h - eh) // sh + 1, (w - ew) // sw + 1
    out = np.zeros((n, oh, ow, f))
    for i in range(oh):
        for j in range(ow):
            for a in range(kh):
                for b in range(kw):
                    out[:, i, j, :] += x[:, i * sh + a * dh, j * sw + b * dw, :] @ k[a, b]
    return out


def naive_conv1d(x, k, stride=1, dilation=1, padding="valid"):
    if padding == "causal":
        x = np.pad(x, ((0, 0), ((k.shape[0] - 1) * dilation, 0), (0, 0)))
        padding = "valid"
    return naive_conv2d(x[:, None], k[None], (1, stride), (1, dilation), padding)[:, 0]


def naive_depthwise(x, k, strides=(1, 1), dilation=(1, 1), padding="valid"):
    """Output channel c * M + m convolves input channel c with k[:, :, c, m]."""
    c, m = k.shape[2], k.shape[3]
    outs = [naive_conv2d(x[..., ci:ci + 1], k[:, :, ci:ci + 1, mi:mi + 1], strides, dilation,
                         padding) for ci in range(c) for mi in range(m)]
    return np.concatenate(outs, axis=-1)


def set_weights(layer, *arrays):
    layer.set_weights([np.asarray(a, dtype="float32") for a in arrays])


# ----------------------------------------------------------------------------- forward values


@pytest.mark.parametrize("kwargs", [
    {"kernel_size": 3},
    {"kernel_size": (2, 3), "strides": (2, 1)},
    {"kernel_size": 3, "strides": 2, "padding": "same"},
    {"kernel_size": (3, 2), "padding": "same"},
    {"kernel_size": 2, "dilation_rate": 2},
    {"kernel_size": 3, "dilation_rate": (1, 2), "padding": "same"},
])
def test_conv2d_matches_naive_loops(kwargs):
    x = rand(2, 7, 8, 3, seed=1).astype("float32")
    layer = Conv2D(4, **kwargs)
    build_and_call(layer, x)
    k, b = rand(*layer.kernel.shape, seed=2), rand(4, seed=3)
    set_weights(layer, k, b)
    y = run_kernel(layer, [x], False)[0][0]
    expected = naive_conv2d(x.astype(float), k, layer.strides, layer.dilation_rate,
                            layer.padding) + b
    assert y.dtype == np.float32
    np.testing.assert_allclose(y, expected, rtol=1e-4, atol=1e-4)


def test_conv2d_channels_first_and_activation():
    x = rand(2, 3, 6, 5, seed=4).astype("float32")  # (batch, channels, rows, cols)
    layer = Conv2D(2, (3, 2), strides=(1, 2), padding="same", data_format="channels_first",
                   activation="relu")
    build_and_call(layer, x)
    k, b = rand(3, 2, 3, 2, seed=5), rand(2, seed=6)
    set_weights(layer, k, b)
    y = run_kernel(layer, [x], False)[0][0]
    z = naive_conv2d(x.transpose(0, 2, 3, 1).astype(float), k, (1, 2), (1, 1), "same") + b
    expected = np.maximum(z, 0).transpose(0, 3, 1, 2)
    assert y.shape == (2, 2, 6, 3)
    np.testing.assert_allclose(y, expected, rtol=1e-4, atol=1e-4)


def test_conv2d_hand_computed():
    x = np.arange(16, dtype="float32").reshape(1, 4, 4, 1)
    layer = Conv2D(1, 2, strides=2, use_bias=False)
    build_and_call(layer, x)
    set_weights(layer, np.array([1.0, 2.0, 3.0, 4.0]).reshape(2, 2, 1, 1))
    y = run_kernel(layer, [x], False)[0][0]
    # top-left window [[0, 1], [4, 5]] -> 0 + 2 + 12 + 20 = 34
    np.testing.assert_allclose(y[0, :, :, 0], [[34.0, 54.0], [114.0, 134.0]])


@pytest.mark.parametrize("kwargs", [
    {"kernel_size": 3},
    {"kernel_size": 2, "strides": 2},
    {"kernel_size": 3, "padding": "same", "strides": 2},
    {"kernel_size": 3, "padding": "causal", "dilation_rate": 2},
    {"kernel_size": 2, "dilation_rate": 3, "padding": "same"},
])
def test_conv1d_matches_naive_loops(kwargs):
    x = rand(3, 9, 2, seed=7).astype("float32")
    layer = Conv1D(5, **kwargs)
    build_and_call(layer, x)
    k, b = rand(*layer.kernel.shape, seed=8), rand(5, seed=9)
    set_weights(layer, k, b)
    y = run_kernel(layer, [x], False)[0][0]
    expected = naive_conv1d(x.astype(float), k, layer.strides[0], layer.dilation_rate[0],
                            layer.padding) + b
    np.testing.assert_allclose(y, expected, rtol=1e-4, atol=1e-4)


def test_conv1d_causal_output_ignores_the_future():
    layer = Conv1D(1, 3, padding="causal", use_bias=False)
    x = np.zeros((1, 6, 1), "float32")
    build_and_call(layer, x)
    set_weights(layer, np.ones((3, 1, 1)))
    x[0, 4, 0] = 1.0
    y = run_kernel(layer, [x], False)[0][0][0, :, 0]
    np.testing.assert_allclose(y, [0, 0, 0, 0, 1, 1])


def test_depthwise_and_separable_match_naive_loops():
    x = rand(2, 6, 5, 3, seed=10).astype("float32")
    dw = DepthwiseConv2D(3, depth_multiplier=2, padding="same", strides=2)
    build_and_call(dw, x)
    assert dw.depthwise_kernel.shape == (3, 3, 3, 2) and dw.bias.shape == (6,)
    k, b = rand(3, 3, 3, 2, seed=11), rand(6, seed=12)
    set_weights(dw, k, b)
    expected = naive_depthwise(x.astype(float), k, (2, 2), (1, 1), "same") + b
    np.testing.assert_allclose(run_kernel(dw, [x], False)[0][0], expected, rtol=1e-4, atol=1e-4)

    sep = SeparableConv2D(4, 2, depth_multiplier=2, dilation_rate=2)
    build_and_call(sep, x)
    assert [w.name.split("/")[1] for w in sep.weights] == [
        "depthwise_kernel:0", "pointwise_kernel:0", "bias:0"]
    assert sep.pointwise_kernel.shape == (1, 1, 6, 4)
    dk, pk, b = rand(2, 2, 3, 2, seed=13), rand(1, 1, 6, 4, seed=14), rand(4, seed=15)
    set_weights(sep, dk, pk, b)
    d = naive_depthwise(x.astype(float), dk, (1, 1), (2, 2), "valid")
    np.testing.assert_allclose(run_kernel(sep, [x], False)[0][0], d @ pk[0, 0] + b,
                               rtol=1e-4, atol=1e-4)


def test_conv2d_transpose_is_the_adjoint_of_conv2d():
    """<conv(y), x> == <y, conv_transpose(x)> for the same kernel, with Keras's output size."""
    for kwargs, out_hw in [({"strides": 2, "padding": "same"}, (10, 8)),
                           ({"strides": 2, "padding": "valid"}, (11, 9)),
                           ({"strides": 2, "padding": "valid", "output_padding": 1}, (12, 10)),
                           ({"strides": 3, "padding": "same", "output_padding": (2, 0)},
                            (15, 10)),
                           ({"padding": "same", "dilation_rate": 2}, (5, 4))]:
        x = rand(2, 5, 4, 3, seed=16).astype("float32")
        layer = Conv2DTranspose(2, 3, use_bias=False, **kwargs)
        build_and_call(layer, x)
        assert layer.kernel.shape == (3, 3, 2, 3)  # (kh, kw, filters, in)
        k = rand(3, 3, 2, 3, seed=17)
        set_weights(layer, k)
        y = run_kernel(layer, [x], False)[0][0]
        assert y.shape[1:3] == out_hw, kwargs
        probe = rand(*y.shape, seed=18)
        # The conv whose transpose this is, evaluated on the full-size probe; output padding
        # and "same" cropping are part of its padding, so compare on TensorFlow's layout.
        s, d = layer.strides, layer.dilation_rate
        e = [(3 - 1) * dd + 1 for dd in d]
        pads = [max((n - 1) * ss + ee - o, 0) // 2 if layer.padding == "same" else 0
                for n, ss, ee, o in zip((5, 4), s, e, out_hw, strict=True)]
        big = np.pad(probe, ((0, 0), (pads[0], 3 * e[0]), (pads[1], 3 * e[1]), (0, 0)))
        conv = naive_conv2d(big, k, s, d, "valid")[:, :5, :4]
        np.testing.assert_allclose(np.sum(conv * x), np.sum(probe * y), rtol=1e-4)


# ----------------------------------------------------------------------------- gradients


GRAD_CASES = [
    (Conv2D, {"filters": 3, "kernel_size": 3, "activation": "tanh"}, (2, 5, 6, 2)),
    (Conv2D, {"filters": 2, "kernel_size": (2, 3), "strides": (2, 1), "padding": "same",
              "use_bias": False}, (2, 5, 6, 2)),
    (Conv2D, {"filters": 2, "kernel_size": 2, "dilation_rate": 2, "padding": "same",
              "data_format": "channels_first", "activation": "sigmoid"}, (2, 3, 5, 4)),
    (Conv1D, {"filters": 3, "kernel_size": 3, "padding": "causal", "dilation_rate": 2},
     (2, 7, 2)),
    (Conv1D, {"filters": 2, "kernel_size": 2, "strides": 2, "padding": "same",
              "data_format": "channels_first", "use_bias": False}, (2, 3, 5)),
    (Conv1D, {"filters": 2, "kernel_size": 3, "activation": "elu"}, (2, 6, 3)),
    (Conv2DTranspose, {"filters": 2, "kernel_size": 3, "strides": 2, "padding": "same",
                       "activation": "tanh"}, (2, 3, 4, 2)),
    (Conv2DTranspose, {"filters": 2, "kernel_size": 3, "strides": 2, "output_padding": 1,
                       "use_bias": False}, (2, 3, 3, 2)),
    (Conv2DTranspose, {"filters": 3, "kernel_size": (2, 3), "strides": (1, 2),
                       "padding": "same", "output_padding": (0, 1),
                       "data_format": "channels_first"}, (2, 2, 3, 4)),
    (Conv2DTranspose, {"filters": 2, "kernel_size": 2, "dilation_rate": 2}, (2, 3, 3, 2)),
    (DepthwiseConv2D, {"kernel_size": 3, "depth_multiplier": 2, "padding": "same",
                       "activation": "tanh"}, (2, 4, 5, 3)),
    (DepthwiseConv2D, {"kernel_size": 2, "strides": 2, "use_bias": False,
                       "data_format": "channels_first"}, (2, 3, 5, 4)),
    (DepthwiseConv2D, {"kernel_size": 2, "dilation_rate": 2}, (2, 5, 5, 2)),
    (SeparableConv2D, {"filters": 3, "kernel_size": 2, "depth_multiplier": 2, "strides": 2},
     (2, 5, 6, 2)),
    (SeparableConv2D, {"filters": 2, "kernel_size": 3, "padding": "same", "use_bias": False,
                       "dilation_rate": 2, "data_format": "channels_first"}, (2, 2, 5, 5)),
    (SeparableConv1D, {"filters": 3, "kernel_size": 3, "padding": "causal",
                       "depth_multiplier": 3, "activation": "sigmoid"}, (2, 6, 2)),
    (SeparableConv1D, {"filters": 2, "kernel_size": 2, "strides": 2, "padding": "same",
                       "data_format": "channels_first"}, (2, 3, 5)),
]


@pytest.mark.parametrize("cls, kwargs, shape", GRAD_CASES,
                         ids=[f"{c.__name__}-{i}" for i, (c, _, _) in enumerate(GRAD_CASES)])
def test_gradients_and_config(cls, kwargs, shape):
    layer = cls(**kwargs)
    check_layer_gradients(layer, rand(*shape, seed=19))
    clone = check_config_roundtrip(layer)
    assert type(clone) is cls


# ----------------------------------------------------------------------------- layouts, shapes


def test_weight_layouts_and_counts_match_keras():
    x = np.zeros((1, 8, 8, 3), "float32")
    cases = [
        (Conv2D(16, 3), [(3, 3, 3, 16), (16,)], 448),
        (Conv2DTranspose(16, 3), [(3, 3, 16, 3), (16,)], 448),
        (DepthwiseConv2D(3, depth_multiplier=2), [(3, 3, 3, 2), (6,)], 60),
        (SeparableConv2D(16, 3, depth_multiplier=2), [(3, 3, 3, 2), (1, 1, 6, 16), (16,)], 166),
    ]
    for layer, shapes, count in cases:
        build_and_call(layer, x)
        assert [w.shape for w in layer.weights] == shapes
        assert layer.count_params() == count
    conv1 = Conv1D(4, 5, use_bias=False)
    build_and_call(conv1, np.zeros((1, 9, 2), "float32"))
    assert [w.shape for w in conv1.weights] == [(5, 2, 4)]
    sep1 = SeparableConv1D(4, 3)
    build_and_call(sep1, np.zeros((1, 9, 2), "float32"))
    assert [w.shape for w in sep1.weights] == [(3, 2, 1), (1, 2, 4), (4,)]


@pytest.mark.parametrize("layer, in_shape, out_shape", [
    (lambda: Conv2D(8, 3), (None, 28, 28, 1), (None, 26, 26, 8)),
    (lambda: Conv2D(8, 3, strides=2, padding="same"), (None, 7, 7, 2), (None, 4, 4, 8)),
    (lambda: Conv2D(8, 3, dilation_rate=2), (None, 9, 9, 2), (None, 5, 5, 8)),
    (lambda: Conv2D(8, 3, data_format="channels_first"), (None, 2, 9, 9), (None, 8, 7, 7)),
    (lambda: Conv1D(4, 3, padding="causal", dilation_rate=4), (None, 10, 2), (None, 10, 4)),
    (lambda: Conv1D(4, 3, strides=3), (None, 10, 2), (None, 3, 4)),
    (lambda: Conv2DTranspose(4, 3, strides=2), (None, 5, 5, 2), (None, 11, 11, 4)),
    (lambda: Conv2DTranspose(4, 3, strides=2, padding="same"), (None, 5, 5, 2),
     (None, 10, 10, 4)),
    (lambda: Conv2DTranspose(4, 4, strides=2, padding="same", output_padding=1),
     (None, 5, 5, 2), (None, 9, 9, 4)),
    (lambda: DepthwiseConv2D(3, depth_multiplier=3), (None, 6, 6, 2), (None, 4, 4, 6)),
    (lambda: SeparableConv1D(5, 2, strides=2), (None, 9, 3), (None, 4, 5)),
])
def test_output_shapes(layer, in_shape, out_shape):
    layer = layer()
    assert layer.compute_output_shape(in_shape) == out_shape
    out = layer(keras.Input(batch_shape=in_shape))
    assert tuple(out.shape) == out_shape


@pytest.mark.parametrize("make, argument", [
    (lambda: Conv2D(0, 3), "filters"),
    (lambda: Conv2D("8", 3), "filters"),
    (lambda: Conv1D(None, 3), "filters"),
    (lambda: Conv2D(8, (3, 3, 3)), "kernel_size"),
    (lambda: Conv2D(8, 0), "kernel_size"),
    (lambda: Conv2D(8, 3, strides=0), "strides"),
    (lambda: Conv2D(8, 3, padding="full"), "padding"),
    (lambda: Conv2D(8, 3, padding="causal"), "padding"),
    (lambda: Conv2D(8, 3, data_format="nhwc"), "data_format"),
    (lambda: Conv2D(8, 3, strides=2, dilation_rate=2), "dilation_rate"),
    (lambda: Conv2D(8, 3, groups=2), "groups"),
    (lambda: Conv1D(8, 3, padding="circular"), "padding"),
    (lambda: Conv2DTranspose(8, 3, strides=2, output_padding=2), "output_padding"),
    (lambda: Conv2DTranspose(8, 3, output_padding=-1), "output_padding"),
    (lambda: DepthwiseConv2D(3, depth_multiplier=0), "depth_multiplier"),
    (lambda: SeparableConv2D(4, 3, depth_multiplier=1.5), "depth_multiplier"),
    (lambda: SeparableConv1D(4, 3, padding="bad"), "padding"),
])
def test_bad_arguments_raise_value_error(make, argument):
    with pytest.raises(ValueError, match=argument):
        make()


def test_bad_input_shapes_raise_value_error():
    with pytest.raises(ValueError, match="rank 4"):
        Conv2D(2, 3)(keras.Input(shape=(5, 3)))
    with pytest.raises(ValueError, match="channel"):
        Conv1D(2, 3)(keras.Input(shape=(5, None)))


# ----------------------------------------------------------------------------- learning


def test_small_cnn_learns_digits_to_97_percent():
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    np.random.seed(0)  # test accuracy over seeds 0-5 measured 0.978-0.987, ~3 s each
    digits = load_digits()
    x = (digits.images / 16.0).astype("float32").reshape(-1, 8, 8, 1)
    y = keras.utils.to_categorical(digits.target, 10)
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.25, random_state=0)
    inputs = keras.Input(shape=(8, 8, 1))
    h = keras.layers.Conv2D(64, 3, activation="relu")(inputs)
    h = keras.layers.MaxPooling2D()(h)
    h = keras.layers.Flatten()(h)
    model = keras.Model(inputs, keras.layers.Dense(10, activation="softmax")(h))
    model.compile(keras.optimizers.Adam(0.003), "categorical_crossentropy",
                  metrics=["accuracy"])
    model.fit(x_train, y_train, epochs=30, batch_size=16, verbose=0)
    _, accuracy = model.evaluate(x_test, y_test, verbose=0)
    assert accuracy >= 0.97, accuracy


def test_model_mixing_the_layers_trains_and_round_trips_through_h5(tmp_path):
    inputs = keras.Input(shape=(8, 8, 2))
    h = keras.layers.Conv2D(4, 3, padding="same", activation="relu")(inputs)
    h = keras.layers.SeparableConv2D(4, 3, depth_multiplier=2)(h)
    h = keras.layers.DepthwiseConv2D(2, data_format="channels_last")(h)
    h = keras.layers.Conv2DTranspose(3, 3, strides=2, padding="same")(h)
    h = keras.layers.SpatialDropout2D(0.2)(h)
    h = keras.layers.ZeroPadding2D(1)(h)
    h = keras.layers.Cropping2D(2)(h)
    h = keras.layers.UpSampling2D(interpolation="bilinear")(h)
    h = keras.layers.AveragePooling2D()(h)
    h = keras.layers.GlobalMaxPooling2D()(h)
    model = keras.Model(inputs, keras.layers.Dense(2, activation="softmax")(h))
    model.compile("adam", "categorical_crossentropy")
    rng = np.random.default_rng(0)
    x = rng.random((16, 8, 8, 2), dtype=np.float32)
    y = np.eye(2, dtype="float32")[rng.integers(0, 2, 16)]
    history = model.fit(x, y, epochs=3, verbose=0)
    assert np.all(np.isfinite(history.history["loss"]))
    path = str(tmp_path / "model.h5")
    model.save(path)
    restored = keras.models.load_model(path)
    np.testing.assert_allclose(restored.predict(x, verbose=0), model.predict(x, verbose=0),
                               rtol=1e-6)
    clone = keras.models.model_from_json(model.to_json())
    assert [type(layer).__name__ for layer in clone.layers] == [
        type(layer).__name__ for layer in model.layers]


def test_regularizers_and_constraints_reach_the_training_loop():
    inputs = keras.Input(shape=(4, 4, 1))
    conv = SeparableConv2D(2, 2, depthwise_regularizer=keras.regularizers.l2(0.1),
                           pointwise_constraint=keras.constraints.NonNeg(),
                           bias_regularizer="l1")
    model = keras.Model(inputs, keras.layers.Flatten()(conv(inputs)))
    model.compile("sgd", "mse")
    x = np.zeros((2, 4, 4, 1), "float32")
    y = np.zeros((2, 18), "float32")
    conv.set_weights([np.full((2, 2, 1, 1), 2.0), -np.ones((1, 1, 1, 2)), np.ones(2)])
    # zero inputs: outputs equal the bias, so mse = 1; l2: 0.1 * 4 * 2^2; l1: 0.01 * 2
    np.testing.assert_allclose(model.evaluate(x, y, verbose=0), 1.0 + 1.6 + 0.02, rtol=1e-5)
    model.train_on_batch(x, y)
    assert np.all(conv.pointwise_kernel.value >= 0)
