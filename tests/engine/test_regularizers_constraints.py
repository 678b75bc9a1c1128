"""Regularizers (penalty, gradient by finite differences, configs) and constraints (hand-computed
projections, configs)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from numkeras import constraints as C
from numkeras import regularizers as R

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "reference"
W = np.array([[1.0, -2.0], [3.0, -4.0]])  # sum|w| = 10, sum w^2 = 30


def f32(value: float) -> float:
    return float(np.float32(value))


# ----------------------------------------------------------------------------- regularizers


def test_penalties_by_hand() -> None:
    assert R.L1L2(l1=0.1, l2=0.2)(W) == pytest.approx(f32(0.1) * 10 + f32(0.2) * 30, rel=1e-12)
    assert R.L1L2()(W) == 0.0
    assert R.L1()(W) == pytest.approx(f32(0.01) * 10, rel=1e-12)
    assert R.L2()(W) == pytest.approx(f32(0.01) * 30, rel=1e-12)
    assert R.L1(0.5)(W) == pytest.approx(5.0)
    assert R.L1(l=0.5)(W) == pytest.approx(5.0)
    assert R.l1(0.3)(W) == pytest.approx(f32(0.3) * 10, rel=1e-12)
    assert R.l2(l=0.25)(W) == pytest.approx(7.5)
    both = R.l1_l2()
    assert (both.l1, both.l2) == (np.float32(0.01), np.float32(0.01))
    assert isinstance(R.L2()(W.astype(np.float32)), float)


@pytest.mark.parametrize(
    "reg", [R.L1L2(0.1, 0.2), R.L1(0.3), R.L2(0.05), R.l1_l2(0.02, 0.07)], ids=repr
)
def test_gradient_matches_finite_differences(reg: R.Regularizer) -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3, 4))
    x[np.abs(x) < 0.05] += 0.2  # away from the kink of |x|
    grad = reg.gradient(x)
    eps = 1e-6
    numeric = np.zeros_like(x)
    for idx in np.ndindex(x.shape):
        plus, minus = x.copy(), x.copy()
        plus[idx] += eps
        minus[idx] -= eps
        numeric[idx] = (reg(plus) - reg(minus)) / (2 * eps)
    np.testing.assert_allclose(grad, numeric, rtol=1e-6, atol=1e-9)
    assert reg.gradient(x.astype(np.float32)).dtype == np.float32


def test_l1_gradient_at_zero_is_zero() -> None:
    np.testing.assert_array_equal(R.L1(0.5).gradient(np.array([0.0, 2.0, -1.0])), [0, 0.5, -0.5])


def test_base_regularizer() -> None:
    base = R.Regularizer()
    assert base(W) == 0.0
    np.testing.assert_array_equal(base.gradient(W), np.zeros_like(W))

    class PenaltyOnly(R.Regularizer):
        def __call__(self, x):
            return float(np.sum(x))

    with pytest.raises(NotImplementedError, match="PenaltyOnly"):
        PenaltyOnly().gradient(W)


def test_regularizer_configs() -> None:
    # factors are float32, as tf-keras writes them into model JSON
    assert R.L2(0.01).get_config() == {"l2": 0.009999999776482582}
    assert R.L1L2(0.5, 0.25).get_config() == {"l1": 0.5, "l2": 0.25}
    for reg in (R.L1L2(0.1, 0.2), R.L1(0.3), R.L2(0.4), R.l1_l2()):
        config = json.loads(json.dumps(R.serialize(reg)))
        assert config["class_name"] == type(reg).__name__
        restored = R.deserialize(config)
        assert type(restored) is type(reg) and restored.get_config() == reg.get_config()
        assert restored(W) == reg(W)


def test_regularizer_identifiers() -> None:
    assert R.get(None) is None
    assert R.get("l1").get_config() == {"l1": f32(0.01)}
    assert R.get("l2").get_config() == {"l2": f32(0.01)}
    assert R.get("l1_l2").get_config() == {"l1": f32(0.01), "l2": f32(0.01)}
    assert R.get("L1L2").get_config() == {"l1": 0.0, "l2": 0.0}
    assert isinstance(R.get("L2"), R.L2)
    tf_keras = {"module": "keras.regularizers", "class_name": "L1",
                "config": {"l1": 0.0010000000474974513}, "registered_name": None}
    assert R.get(tf_keras).get_config() == {"l1": 0.0010000000474974513}
    reg = R.L2(0.2)
    assert R.get(reg) is reg
    with pytest.raises(ValueError, match="l3"):
        R.get("l3")
    with pytest.raises(ValueError, match="3.5"):
        R.get(3.5)
    with pytest.raises(ValueError, match="l1"):
        R.L1L2(l1=float("nan"))
    with pytest.raises(ValueError, match="l2"):
        R.L2("big")


def test_penalty_matches_tf_keras_fixture() -> None:
    path = FIXTURES / "regularizers.json"
    with open(path) as f:
        ref = json.load(f)
    with np.load(FIXTURES / "regularizers.npz") as npz:
        kernel, bias = npz["final_0"], npz["final_1"]
        x = npz["eval_x_features"]
    layers = json.loads(ref["model_json"])["config"]["layers"]
    hidden = next(layer for layer in layers if layer["config"].get("name") == "hidden")
    kernel_reg = R.get(hidden["config"]["kernel_regularizer"])
    activity_reg = R.get(hidden["config"]["activity_regularizer"])
    checks = ref["checks"]
    assert kernel_reg(kernel) == pytest.approx(
        checks["final_l2_kernel_penalty_0.01*sum(k^2)"], rel=1e-6)
    # tf-keras divides the activity penalty by the batch size
    h = np.maximum(x @ kernel + bias, 0)
    assert activity_reg(h) / len(x) == pytest.approx(
        checks["eval_activity_penalty_full_set_0.001*sum|h|/N"], rel=1e-5)


# ----------------------------------------------------------------------------- constraints

EPS = 1e-7


def test_max_norm() -> None:
    w = np.array([[3.0, 0.0], [4.0, 1.0]], dtype=np.float32)  # column norms 5 and 1
    out = C.MaxNorm(max_value=2.0)(w)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, [[3 * 2 / (5 + EPS), 0], [4 * 2 / (5 + EPS), 1 / (1 + EPS)]],
                               rtol=1e-7)
    rows = C.MaxNorm(max_value=2.0, axis=1)(w)  # row norms 3 and sqrt(17)
    np.testing.assert_allclose(rows[1], np.array([4.0, 1.0]) * 2 / np.sqrt(17), rtol=1e-6)
    np.testing.assert_allclose(rows[0], [2.0, 0.0], rtol=1e-6)
    small = np.array([[0.6, 0.8]], dtype=np.float32)  # norm 1 <= 2: unchanged
    np.testing.assert_allclose(C.MaxNorm(2.0, axis=1)(small), small, rtol=1e-6)
    # a conv kernel (kh, kw, in, out) constrained per output filter over axes [0, 1, 2]
    k = np.ones((2, 2, 1, 2), dtype=np.float32)
    k[..., 1] *= 0.1  # filter norms 2 and 0.2
    out = C.MaxNorm(1.0, axis=[0, 1, 2])(k)
    np.testing.assert_allclose(out[..., 0], 0.5, rtol=1e-6)
    np.testing.assert_allclose(out[..., 1], 0.1, rtol=1e-6)


def test_non_neg() -> None:
    w = np.array([[-1.0, 2.0], [0.0, -3.0]], dtype=np.float32)
    out = C.NonNeg()(w)
    np.testing.assert_array_equal(out, [[0, 2], [0, 0]])
    assert out.dtype == np.float32


def test_unit_norm() -> None:
    w = np.array([[3.0, 4.0], [0.0, 2.0]])
    np.testing.assert_allclose(C.UnitNorm(axis=1)(w), [[0.6, 0.8], [0.0, 1.0]], rtol=1e-6)
    np.testing.assert_allclose(C.UnitNorm()(w), [[1.0, 4 / np.sqrt(20)], [0.0, 2 / np.sqrt(20)]],
                               rtol=1e-6)
    np.testing.assert_array_equal(C.UnitNorm()(np.zeros((2, 2))), np.zeros((2, 2)))


def test_min_max_norm() -> None:
    w = np.array([[0.3, 6.0], [0.4, 8.0]])  # column norms 0.5 and 10
    out = C.MinMaxNorm(min_value=1.0, max_value=2.0, rate=0.5)(w)
    # desired = 0.5 * clip(norm, 1, 2) + 0.5 * norm: 0.75 and 6
    np.testing.assert_allclose(out, [[0.45, 3.6], [0.6, 4.8]], rtol=1e-6)
    full = C.MinMaxNorm(min_value=1.0, max_value=2.0)(w)
    np.testing.assert_allclose(np.linalg.norm(full, axis=0), [1.0, 2.0], rtol=1e-6)
    inside = np.array([[0.6], [0.8]])  # norm 1 lies in [0, 1]: unchanged
    np.testing.assert_allclose(C.MinMaxNorm()(inside), inside, rtol=1e-6)


def test_base_constraint_is_identity() -> None:
    assert C.Constraint()(W) is W


@pytest.mark.parametrize(
    "constraint",
    [C.MaxNorm(3.0, axis=1), C.NonNeg(), C.UnitNorm(axis=[0, 1]), C.MinMaxNorm(0.5, 2.0, 0.3, 1)],
    ids=lambda c: type(c).__name__,
)
def test_constraint_config_round_trip(constraint: C.Constraint) -> None:
    config = json.loads(json.dumps(C.serialize(constraint)))
    assert config["class_name"] == type(constraint).__name__
    restored = C.deserialize(config)
    assert type(restored) is type(constraint)
    assert restored.get_config() == constraint.get_config()
    np.testing.assert_array_equal(restored(W), constraint(W))


def test_constraint_identifiers() -> None:
    names = {
        "max_norm": C.MaxNorm, "maxnorm": C.MaxNorm, "MaxNorm": C.MaxNorm,
        "non_neg": C.NonNeg, "nonneg": C.NonNeg, "NonNeg": C.NonNeg,
        "unit_norm": C.UnitNorm, "unitnorm": C.UnitNorm, "UnitNorm": C.UnitNorm,
        "min_max_norm": C.MinMaxNorm, "MinMaxNorm": C.MinMaxNorm,
    }
    for name, cls in names.items():
        assert type(C.get(name)) is cls, name
    assert C.get("max_norm").get_config() == {"max_value": 2, "axis": 0}
    assert C.get(None) is None
    tf_keras = {"module": "keras.constraints", "class_name": "MaxNorm",
                "config": {"max_value": 1.5, "axis": 0}, "registered_name": None}
    assert C.get(tf_keras).max_value == 1.5
    assert C.serialize(C.get(tf_keras)) == {"class_name": "MaxNorm",
                                             "config": {"max_value": 1.5, "axis": 0}}
    with pytest.raises(ValueError, match="max_normal"):
        C.get("max_normal")
    with pytest.raises(ValueError, match="7"):
        C.get(7)
