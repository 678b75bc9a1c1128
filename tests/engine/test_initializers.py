"""Initializers: statistics against Keras's formulas, seeds, fans, identifiers and configs."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from numkeras import initializers as I

SHAPE = (250, 800)  # 200k draws; fan_in 250, fan_out 800
N = SHAPE[0] * SHAPE[1]
TRUNC_STD = 0.87962566103423978  # std of a unit normal truncated to [-2, 2]


def check_stats(w: np.ndarray, mean: float, std: float) -> None:
    """Sample mean within 5 standard errors, sample std within 1.5%."""
    assert w.dtype == np.float32
    assert abs(float(w.mean(dtype=np.float64)) - mean) < 5 * std / math.sqrt(w.size)
    assert abs(float(w.std(dtype=np.float64)) / std - 1) < 0.015


def test_compute_fans() -> None:
    assert I._compute_fans(()) == (1, 1)
    assert I._compute_fans((7,)) == (7, 7)
    assert I._compute_fans((3, 4)) == (3, 4)
    assert I._compute_fans((5, 3, 4)) == (15, 20)  # Conv1D kernel: receptive field 5
    assert I._compute_fans((3, 3, 16, 32)) == (144, 288)  # Conv2D 3x3, 16 -> 32
    assert I._compute_fans((2, 3, 3, 8, 4)) == (144, 72)  # Conv3D


def test_constant_initializers() -> None:
    z = I.Zeros()((2, 3))
    assert z.dtype == np.float32 and z.shape == (2, 3) and not z.any()
    o = I.Ones()((4,), dtype="float64")
    assert o.dtype == np.float64 and (o == 1).all()
    assert I.Ones()((2,), dtype="int32").dtype == np.int32
    c = I.Constant(2.5)((2, 2))
    assert c.dtype == np.float32 and (c == 2.5).all()
    np.testing.assert_array_equal(I.Constant([1, 2, 3, 4])((2, 2)), [[1, 2], [3, 4]])
    with pytest.raises(ValueError, match="shape"):
        I.Constant([1, 2, 3])((2, 2))


def test_random_normal_and_uniform() -> None:
    check_stats(I.RandomNormal(mean=1.0, stddev=0.5, seed=1)(SHAPE), 1.0, 0.5)
    check_stats(I.RandomNormal(seed=2)(SHAPE), 0.0, 0.05)  # Keras defaults
    u = I.RandomUniform(-0.3, 0.7, seed=3)(SHAPE)
    assert u.min() >= -0.3 and u.max() < 0.7
    check_stats(u, 0.2, 1.0 / math.sqrt(12))
    d = I.RandomUniform(seed=4)(SHAPE)
    assert d.min() >= -0.05 and d.max() <= 0.05 and d.max() > 0.049
    ints = I.RandomUniform(0, 5, seed=5)((1000,), dtype="int64")
    assert ints.dtype == np.int64 and set(np.unique(ints)) == {0, 1, 2, 3, 4}


def test_truncated_normal_cuts_at_two_stddev() -> None:
    w = I.TruncatedNormal(mean=0.5, stddev=0.2, seed=6)(SHAPE)
    assert w.min() >= 0.5 - 0.4 - 1e-7 and w.max() <= 0.5 + 0.4 + 1e-7
    assert w.min() < 0.11 and w.max() > 0.89  # the whole interval is used
    check_stats(w, 0.5, 0.2 * TRUNC_STD)


@pytest.mark.parametrize("mode", ["fan_in", "fan_out", "fan_avg"])
@pytest.mark.parametrize("distribution", ["truncated_normal", "untruncated_normal", "uniform"])
def test_variance_scaling(mode: str, distribution: str) -> None:
    scale = 3.0
    n = {"fan_in": 250, "fan_out": 800, "fan_avg": 525}[mode]
    std = math.sqrt(scale / n)  # every distribution has variance scale / n
    w = I.VarianceScaling(scale, mode, distribution, seed=7)(SHAPE)
    check_stats(w, 0.0, std)
    if distribution == "uniform":
        limit = math.sqrt(3 * scale / n)
        assert np.abs(w).max() <= limit and np.abs(w).max() > 0.999 * limit
    elif distribution == "truncated_normal":
        assert np.abs(w).max() <= 2 * std / TRUNC_STD * (1 + 1e-6)


def test_variance_scaling_conv_kernel_and_legacy_normal() -> None:
    # 3x3 kernel, 32 -> 64 channels: fan_in = 288
    w = I.VarianceScaling(2.0, "fan_in", "normal", seed=8)((3, 3, 32, 64))
    assert I.VarianceScaling(distribution="normal").distribution == "truncated_normal"
    assert abs(w.std() / math.sqrt(2.0 / 288) - 1) < 0.03


@pytest.mark.parametrize(
    ("cls", "limit_or_std", "kind"),
    [
        (I.GlorotUniform, math.sqrt(6 / (250 + 800)), "uniform"),
        (I.GlorotNormal, math.sqrt(2 / (250 + 800)), "normal"),
        (I.HeUniform, math.sqrt(6 / 250), "uniform"),
        (I.HeNormal, math.sqrt(2 / 250), "normal"),
        (I.LecunUniform, math.sqrt(3 / 250), "uniform"),
        (I.LecunNormal, math.sqrt(1 / 250), "normal"),
    ],
)
def test_named_variance_scalings(cls: type, limit_or_std: float, kind: str) -> None:
    w = cls(seed=9)(SHAPE)
    if kind == "uniform":
        assert np.abs(w).max() <= limit_or_std and np.abs(w).max() > 0.999 * limit_or_std
        check_stats(w, 0.0, limit_or_std / math.sqrt(3))
    else:
        check_stats(w, 0.0, limit_or_std)
        assert np.abs(w).max() <= 2 * limit_or_std / TRUNC_STD * (1 + 1e-6)


def test_seeds() -> None:
    for cls in (I.RandomNormal, I.RandomUniform, I.TruncatedNormal, I.GlorotUniform,
                I.HeNormal, I.Orthogonal, I.VarianceScaling):
        a, b = cls(seed=11), cls(seed=11)
        w = a((20, 30))
        np.testing.assert_array_equal(w, a((20, 30)))  # same on every call, as in tf-keras
        np.testing.assert_array_equal(w, b((20, 30)))
        assert not np.array_equal(w, cls(seed=12)((20, 30)))
    unseeded = I.GlorotUniform()
    assert not np.array_equal(unseeded((20, 30)), unseeded((20, 30)))
    np.random.seed(123)
    first = I.GlorotUniform()((20, 30))
    np.random.seed(123)
    np.testing.assert_array_equal(first, I.GlorotUniform()((20, 30)))


@pytest.mark.parametrize("shape", [(50, 30), (30, 50), (40, 40), (3, 3, 4, 8)])
def test_orthogonal(shape: tuple[int, ...]) -> None:
    w = I.Orthogonal(gain=2.0, seed=13)(shape)
    assert w.shape == shape and w.dtype == np.float32
    m = w.reshape(-1, shape[-1]).astype(np.float64)
    gram = m.T @ m if m.shape[0] >= m.shape[1] else m @ m.T
    np.testing.assert_allclose(gram, 4.0 * np.eye(gram.shape[0]), atol=1e-5)
    with pytest.raises(ValueError, match="two-dimensional"):
        I.Orthogonal()((5,))


def test_identity() -> None:
    np.testing.assert_array_equal(I.Identity(gain=3.0)((3, 3)), 3 * np.eye(3))
    np.testing.assert_array_equal(I.Identity()((2, 4)), [[1, 0, 0, 0], [0, 1, 0, 0]])
    assert I.Identity()((2, 2)).dtype == np.float32
    with pytest.raises(ValueError, match="2D"):
        I.Identity()((2, 2, 2))


def test_float_dtype_is_required_for_random() -> None:
    with pytest.raises(ValueError, match="int32"):
        I.RandomNormal()((2,), dtype="int32")


NAMES = {
    "zeros": I.Zeros, "zero": I.Zeros, "Zeros": I.Zeros, "ones": I.Ones, "one": I.Ones,
    "Ones": I.Ones, "constant": I.Constant, "Constant": I.Constant,
    "random_normal": I.RandomNormal, "normal": I.RandomNormal, "RandomNormal": I.RandomNormal,
    "random_uniform": I.RandomUniform, "uniform": I.RandomUniform,
    "RandomUniform": I.RandomUniform, "truncated_normal": I.TruncatedNormal,
    "TruncatedNormal": I.TruncatedNormal, "variance_scaling": I.VarianceScaling,
    "VarianceScaling": I.VarianceScaling, "orthogonal": I.Orthogonal,
    "Orthogonal": I.Orthogonal, "identity": I.Identity, "Identity": I.Identity,
    "glorot_uniform": I.GlorotUniform, "GlorotUniform": I.GlorotUniform,
    "GlorotUniformV2": I.GlorotUniform, "glorot_normal": I.GlorotNormal,
    "he_normal": I.HeNormal, "HeNormal": I.HeNormal, "he_uniform": I.HeUniform,
    "lecun_normal": I.LecunNormal, "lecun_uniform": I.LecunUniform,
    "LecunUniform": I.LecunUniform,
}


@pytest.mark.parametrize("name", sorted(NAMES))
def test_get_by_name(name: str) -> None:
    init = I.get(name)
    assert type(init) is NAMES[name]
    assert I.get({"class_name": name, "config": {}}).get_config() == init.get_config()


def test_get_other_identifiers() -> None:
    assert I.get(None) is None
    assert isinstance(I.get(I.HeUniform), I.HeUniform)
    init = I.Orthogonal(gain=0.5)
    assert I.get(init) is init

    def custom(shape, dtype=None):
        return np.full(shape, 7.0, dtype=np.float32)

    assert I.get(custom) is custom
    assert I.serialize(custom) == "custom"
    assert I.deserialize("custom", custom_objects={"custom": custom}) is custom


def test_keras_json_forms() -> None:
    keras2 = {"class_name": "GlorotUniform", "config": {"seed": None}}
    assert I.serialize(I.get(keras2)) == keras2
    tf_keras = {"module": "keras.initializers", "class_name": "RandomNormal",
                "config": {"mean": 0.1, "stddev": 0.2, "seed": 5}, "registered_name": None}
    init = I.get(tf_keras)
    assert isinstance(init, I.RandomNormal)
    assert I.serialize(init) == {"class_name": "RandomNormal",
                                 "config": {"mean": 0.1, "stddev": 0.2, "seed": 5}}
    # tf.keras 1.x writes dtype into configs; older Keras repeats VarianceScaling's fixed values
    legacy = {"class_name": "GlorotUniform",
              "config": {"seed": 3, "dtype": "float32", "scale": 1.0, "mode": "fan_avg",
                         "distribution": "uniform"}}
    np.testing.assert_array_equal(I.get(legacy)((4, 5)), I.GlorotUniform(seed=3)((4, 5)))


ROUND_TRIP = [
    I.Zeros(), I.Ones(), I.Constant(0.3), I.Constant([1.0, 2.0]), I.RandomNormal(0.5, 2.0, 1),
    I.RandomUniform(-1.0, 2.0, 2), I.TruncatedNormal(0.0, 0.3, 3),
    I.VarianceScaling(2.0, "fan_out", "uniform", 4), I.Orthogonal(1.5, 5), I.Identity(0.7),
    I.GlorotUniform(6), I.GlorotNormal(7), I.HeNormal(8), I.HeUniform(9), I.LecunNormal(10),
    I.LecunUniform(11),
]


@pytest.mark.parametrize("init", ROUND_TRIP, ids=lambda i: type(i).__name__)
def test_config_round_trip(init: I.Initializer) -> None:
    config = json.loads(json.dumps(I.serialize(init)))
    assert config["class_name"] == type(init).__name__
    restored = I.deserialize(config)
    assert type(restored) is type(init)
    assert restored.get_config() == init.get_config()
    np.testing.assert_array_equal(restored((2, 2)), init((2, 2)))


def test_bad_identifiers_and_arguments() -> None:
    with pytest.raises(ValueError, match="glorot_uniformm"):
        I.get("glorot_uniformm")
    with pytest.raises(ValueError, match="Glorot"):
        I.get({"class_name": "Glorot", "config": {}})
    with pytest.raises(ValueError, match="42"):
        I.get(42)
    with pytest.raises(ValueError, match="scale"):
        I.VarianceScaling(scale=0.0)
    with pytest.raises(ValueError, match="mode"):
        I.VarianceScaling(mode="fan_sum")
    with pytest.raises(ValueError, match="distribution"):
        I.VarianceScaling(distribution="cauchy")
    with pytest.raises(ValueError, match="shape"):
        I.Zeros()((2, -1))


def test_initializer_configs_written_by_tf_keras() -> None:
    fixtures = Path(__file__).resolve().parents[1] / "fixtures" / "reference"
    found: list[dict] = []

    def walk(node: object) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key.endswith("_initializer") and isinstance(value, dict):
                    found.append(value)
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    for path in sorted(fixtures.glob("*.json")):
        with open(path) as f:
            data = json.load(f)
        walk(data)
        if isinstance(data, dict) and isinstance(data.get("model_json"), str):
            walk(json.loads(data["model_json"]))
    assert found, "no tf-keras reference fixtures with initializer configs"
    for config in found:
        init = I.get(config)
        assert I.serialize(init) == {"class_name": config["class_name"],
                                     "config": config["config"]}
        assert init((3, 2)).shape == (3, 2)
