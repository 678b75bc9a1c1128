"""Activations: numkeras.activations (reference) against hand values and tf-keras numbers, and
numkeras.engine.ops.activations (forward, backward, fused bias) against the reference and central
finite differences."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from numkeras import activations as A
from numkeras.engine.ops import activations as E

NAMES = [
    "linear", "relu", "relu6", "leaky_relu", "hard_sigmoid", "softsign", "sigmoid", "tanh",
    "softplus", "elu", "selu", "exponential", "swish", "gelu", "mish", "softmax", "log_softmax",
]
KINKS = (0.0, 6.0, 2.5, -2.5)  # relu*, relu6, hard_sigmoid: finite differences avoid them


def smooth_points(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    x = rng.uniform(-7.0, 7.5, size=shape)
    for kink in KINKS:
        near = np.abs(x - kink) < 0.05
        x[near] += 0.1
    return x


def numeric_grad(f, x: np.ndarray, dy: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """Central finite difference of sum(f(x) * dy) with respect to every element of x."""
    grad = np.zeros_like(x)
    flat, gflat = x.reshape(-1), grad.reshape(-1)
    for i in range(flat.size):
        old = flat[i]
        flat[i] = old + eps
        plus = np.sum(f(x) * dy)
        flat[i] = old - eps
        minus = np.sum(f(x) * dy)
        flat[i] = old
        gflat[i] = (plus - minus) / (2 * eps)
    return grad


# ----------------------------------------------------------------------------- reference module

# tf-keras 2.21 (float32) at x = POINTS: activation values and the gradient of
# sum(act(x) * [1, 2, 3, 4, 5, 6]), i.e. act'(x) * weight.
POINTS = np.array([[-4.0, -1.5, -0.25, 0.5, 2.0, 7.0]], dtype=np.float32)
WEIGHTS = np.array([[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]], dtype=np.float32)
TF_KERAS = {
    "relu": ([0.0, 0.0, 0.0, 0.5, 2.0, 7.0], [0.0, 0.0, 0.0, 4.0, 5.0, 6.0]),
    "sigmoid": (
        [0.01798621006309986, 0.18242551386356354, 0.43782350420951843, 0.622459352016449,
         0.8807970881462097, 0.9990889430046082],
        [0.01766270585358143, 0.2982929050922394, 0.7384021878242493, 0.9400148391723633,
         0.5249679088592529, 0.005461361724883318],
    ),
    "tanh": (
        [-0.9993292689323425, -0.9051483273506165, -0.24491865932941437, 0.46211713552474976,
         0.9640275835990906, 0.9999983310699463],
        [0.0013409852981567383, 0.36141300201416016, 2.82004451751709, 3.1457910537719727,
         0.3532540798187256, 2.002716064453125e-05],
    ),
    "softmax": (
        [1.6549909560126252e-05, 0.00020161915745120496, 0.0007037200848571956,
         0.0014897753717377782, 0.006676709279417992, 0.990911602973938],
        [-8.254007843788713e-05, -0.0008039248059503734, -0.002102253492921591,
         -0.0029606951866298914, -0.006592204328626394, 0.012541660107672215],
    ),
    "softplus": (
        [0.018149929121136665, 0.20141328871250153, 0.575939416885376, 0.9740769863128662,
         2.1269280910491943, 7.000911712646484],
        [0.01798621006309986, 0.3648510277271271, 1.313470482826233, 2.489837408065796,
         4.403985500335693, 5.994533538818359],
    ),
    "softsign": (
        [-0.800000011920929, -0.6000000238418579, -0.20000000298023224, 0.3333333432674408,
         0.6666666865348816, 0.875],
        [0.03999999910593033, 0.3199999928474426, 1.9199999570846558, 1.7777777910232544,
         0.5555555820465088, 0.09375],
    ),
    "selu": (
        [-1.7258986234664917, -1.3658143281936646, -0.38889017701148987, 0.5253505110740662,
         2.1014020442962646, 7.354907035827637],
        [0.03220069408416748, 0.7845699787139893, 4.1076273918151855, 4.202804088592529,
         5.253505229949951, 6.304205894470215],
    ),
    "elu": (
        [-0.9816843867301941, -0.7768698334693909, -0.22119921445846558, 0.5, 2.0, 7.0],
        [0.018315613269805908, 0.44626033306121826, 2.336402416229248, 4.0, 5.0, 6.0],
    ),
    "exponential": (
        [0.018315639346837997, 0.22313016653060913, 0.7788007855415344, 1.6487212181091309,
         7.389056205749512, 1096.6331787109375],
        [0.018315639346837997, 0.44626033306121826, 2.336402416229248, 6.594884872436523,
         36.945281982421875, 6579.798828125],
    ),
    "hard_sigmoid": (
        [0.0, 0.19999998807907104, 0.44999998807907104, 0.6000000238418579, 0.8999999761581421,
         1.0],
        [0.0, 0.4000000059604645, 0.6000000238418579, 0.800000011920929, 1.0, 0.0],
    ),
    "swish": (
        [-0.07194484025239944, -0.2736382782459259, -0.10945587605237961, 0.3112296760082245,
         1.7615941762924194, 6.993622779846191],
        [-0.052664611488580704, -0.0825883150100708, 1.1288700103759766, 2.9598448276519775,
         5.453920841217041, 6.032763481140137],
    ),
    "gelu": (
        [-0.0001266850158572197, -0.10021083056926727, -0.10032341629266739, 0.3457312285900116,
         1.9544997215270996, 7.0],
        [-0.0005036499351263046, -0.25493836402893066, 0.913879930973053, 3.469980478286743,
         5.426159381866455, 6.0],
    ),
    "mish": (
        [-0.07259173691272736, -0.2980997562408447, -0.12992696464061737, 0.37524524331092834,
         1.9439589977264404, 6.999989032745361],
        [-0.05377320572733879, -0.12819558382034302, 1.3194468021392822, 3.5456976890563965,
         5.3465895652771, 6.000120639801025],
    ),
    "relu6": ([0.0, 0.0, 0.0, 0.5, 2.0, 6.0], [0.0, 0.0, 0.0, 4.0, 5.0, 0.0]),
    "leaky_relu": (
        [-0.800000011920929, -0.30000001192092896, -0.05000000074505806, 0.5, 2.0, 7.0],
        [0.20000000298023224, 0.4000000059604645, 0.6000000238418579, 4.0, 5.0, 6.0],
    ),
    "log_softmax": (
        [-11.009129524230957, -8.509129524230957, -7.259130001068115, -6.509130001068115,
         -5.009130001068115, -0.009129919111728668],
        [0.9996524453163147, 1.995766043663025, 2.9852218627929688, 3.968714714050293,
         4.85978889465332, -14.80914306640625],
    ),
}


@pytest.mark.parametrize("name", sorted(TF_KERAS))
def test_reference_and_engine_match_tf_keras(name: str) -> None:
    values, grads = (np.array([v], dtype=np.float32) for v in TF_KERAS[name])
    np.testing.assert_allclose(A.get(name)(POINTS), values, rtol=2e-6, atol=1e-7)
    y = E.forward(name, POINTS)
    assert y.dtype == np.float32
    np.testing.assert_allclose(y, values, rtol=2e-6, atol=1e-7)
    dx = E.backward(name, POINTS, y, WEIGHTS)
    np.testing.assert_allclose(dx, grads, rtol=1e-5, atol=1e-6)


def test_hand_computed_values() -> None:
    x = np.array([-3.0, -2.5, -1.0, 0.0, 1.0, 2.5, 3.0])
    np.testing.assert_allclose(A.hard_sigmoid(x), [0, 0, 0.3, 0.5, 0.7, 1, 1], atol=1e-15)
    np.testing.assert_allclose(A.relu(x), [0, 0, 0, 0, 1, 2.5, 3])
    np.testing.assert_allclose(A.relu(x, max_value=2.0), [0, 0, 0, 0, 1, 2, 2])
    np.testing.assert_allclose(A.relu(x, alpha=0.5), [-1.5, -1.25, -0.5, 0, 1, 2.5, 3])
    # x > threshold passes, below it the slope alpha applies from the threshold: alpha*(x - t)
    np.testing.assert_allclose(
        A.relu(x, alpha=0.5, threshold=1.0), [-2, -1.75, -1, -0.5, 0, 2.5, 3]
    )
    np.testing.assert_allclose(A.relu(x, threshold=-2.0), [0, 0, -1, 0, 1, 2.5, 3])
    np.testing.assert_allclose(
        A.relu(x, alpha=0.1, max_value=2.0, threshold=0.5),
        [-0.35, -0.3, -0.15, -0.05, 1, 2, 2],
    )
    np.testing.assert_allclose(A.elu(x, alpha=2.0)[:3], 2 * (np.exp([-3.0, -2.5, -1.0]) - 1))
    np.testing.assert_allclose(A.selu(np.array([1.0, -1.0])),
                               [1.0507009873554805, 1.0507009873554805 * 1.6732632423543772
                                * (math.exp(-1) - 1)])
    np.testing.assert_allclose(A.softsign(np.array([3.0, -1.0])), [0.75, -0.5])
    np.testing.assert_allclose(A.softplus(np.array([0.0, 800.0])), [math.log(2), 800.0])
    np.testing.assert_allclose(A.sigmoid(np.array([0.0, -800.0, 800.0])), [0.5, 0.0, 1.0])
    # Phi(1) = 0.8413447460685429
    np.testing.assert_allclose(A.gelu(np.array([1.0, -1.0])),
                               [0.8413447460685429, -(1 - 0.8413447460685429)], rtol=1e-14)
    approx = 0.5 * (1 + math.tanh(math.sqrt(2 / math.pi) * 1.044715))
    np.testing.assert_allclose(A.gelu(np.array([1.0]), approximate=True), [approx], rtol=1e-14)
    np.testing.assert_allclose(A.swish(np.array([2.0])), [2 / (1 + math.exp(-2))])
    assert A.silu is A.swish
    assert A.linear(x) is x


def test_softmax_rows_and_axis() -> None:
    x = np.array([[1.0, 2.0, 3.0], [0.0, 0.0, 0.0]])
    e = np.exp([1.0, 2.0, 3.0])
    np.testing.assert_allclose(A.softmax(x)[0], e / e.sum())
    np.testing.assert_allclose(A.softmax(x)[1], [1 / 3] * 3)
    np.testing.assert_allclose(A.softmax(x, axis=0)[:, 0], np.exp([1, 0]) / np.exp([1, 0]).sum())
    np.testing.assert_allclose(A.softmax(np.array([[1000.0, 1000.0]])), [[0.5, 0.5]])
    with pytest.raises(ValueError, match="1D"):
        A.softmax(np.array([1.0, 2.0]))


def test_reference_float32_in_float32_out() -> None:
    x = np.linspace(-3, 3, 12, dtype=np.float32).reshape(3, 4)
    for name in NAMES:
        assert A.get(name)(x).dtype == np.float32, name
    assert A.relu([1, -2]).dtype == np.float32  # ints become floatx


def test_get_serialize_deserialize() -> None:
    assert A.get(None) is A.linear
    assert A.get("relu") is A.relu
    assert A.get("silu") is A.swish
    assert A.get(abs) is abs
    for name in NAMES:
        fn = A.get(name)
        assert A.serialize(fn) == name
        assert A.deserialize(A.serialize(fn)) is fn
    assert A.serialize(A.silu) == "swish"
    assert A.deserialize({"module": "keras.activations", "class_name": "function",
                          "config": "tanh", "registered_name": None}) is A.tanh

    def my_act(x):
        return x * 2

    assert A.serialize(my_act) == "my_act"
    assert A.deserialize("my_act", custom_objects={"my_act": my_act}) is my_act
    with pytest.raises(ValueError, match="relux"):
        A.get("relux")
    with pytest.raises(ValueError, match="42"):
        A.get(42)
    with pytest.raises(ValueError, match="my_act"):
        A.deserialize("my_act")


# ----------------------------------------------------------------------------- engine


@pytest.mark.parametrize("name", NAMES)
def test_engine_forward_equals_reference(name: str) -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(0.0, 3.0, size=(4, 3, 5))
    np.testing.assert_allclose(E.forward(name, x), A.get(name)(x), rtol=1e-13, atol=1e-14)
    x32 = x.astype(np.float32)
    y32 = E.forward(name, x32)
    assert y32.dtype == np.float32 and y32.shape == x.shape
    np.testing.assert_allclose(y32, A.get(name)(x32), rtol=2e-6, atol=1e-6)
    assert E.forward(name, np.zeros((0, 5))).shape == (0, 5)


@pytest.mark.parametrize("name", NAMES)
def test_engine_backward_matches_finite_differences(name: str) -> None:
    rng = np.random.default_rng(2)
    x = smooth_points(rng, (3, 2, 5))
    dy = rng.normal(size=x.shape)
    ref = A.get(name)
    y = E.forward(name, x)
    saved = {"x": None, "y": y} if E.backward_uses_output(name) else {"x": x, "y": None}
    dx = E.backward(name, saved["x"], saved["y"], dy)
    expected = numeric_grad(ref, x.copy(), dy)
    np.testing.assert_allclose(dx, expected, rtol=1e-6, atol=1e-7)
    # float32: same numbers within float32 precision
    dx32 = E.backward(name, x.astype(np.float32), y.astype(np.float32), dy.astype(np.float32))
    assert dx32.dtype == np.float32
    np.testing.assert_allclose(dx32, expected, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name", NAMES)
def test_fused_bias_act_forward_and_backward(name: str) -> None:
    rng = np.random.default_rng(3)
    z = smooth_points(rng, (2, 3, 4)) * 0.5
    bias = rng.normal(size=4)
    dy = rng.normal(size=z.shape)
    ref = A.get(name)
    expected = ref(z + bias)

    work = z.copy()
    y = E.fused_bias_act_forward(work, bias, name)
    np.testing.assert_allclose(y, expected, rtol=1e-13, atol=1e-14)
    if E.backward_uses_output(name):
        assert y is work  # computed in place
        saved = y
    else:
        assert y is not work
        np.testing.assert_allclose(work, z + bias, rtol=1e-15)
        saved = work

    dz, dbias = E.fused_bias_act_backward(saved, dy, name)
    np.testing.assert_allclose(dz, numeric_grad(lambda v: ref(v + bias), z.copy(), dy),
                               rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(dbias, numeric_grad(lambda b: ref(z + b), bias.copy(), dy),
                               rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("name", ["relu", "sigmoid", "softmax", "gelu", "tanh", "linear"])
def test_fused_float32_and_no_bias(name: str) -> None:
    rng = np.random.default_rng(4)
    z = rng.normal(size=(64, 10)).astype(np.float32)
    bias = rng.normal(size=10).astype(np.float32)
    y = E.fused_bias_act_forward(z.copy(), bias, name)
    assert y.dtype == np.float32
    np.testing.assert_allclose(y, A.get(name)(z.astype(np.float64) + bias), rtol=2e-6, atol=1e-6)
    y0 = E.fused_bias_act_forward(z.copy(), None, name)
    np.testing.assert_allclose(y0, A.get(name)(z.astype(np.float64)), rtol=2e-6, atol=1e-6)
    dy = rng.normal(size=z.shape).astype(np.float32)
    saved = y if E.backward_uses_output(name) else z + bias
    dz, dbias = E.fused_bias_act_backward(saved, dy, name)
    assert dz.dtype == dbias.dtype == np.float32 and dbias.shape == (10,)
    np.testing.assert_allclose(dbias, dz.astype(np.float64).sum(axis=0), rtol=1e-5, atol=1e-5)


def test_engine_names_and_errors() -> None:
    assert E.resolve(None) == "linear"
    assert E.resolve("silu") == "swish"
    assert E.resolve(A.relu) == "relu"
    assert E.resolve(A.silu) == "swish"

    def tanh(x):  # a user function carrying a built-in's name is taken as that built-in
        return np.tanh(x)

    assert E.resolve(tanh) == "tanh"
    with pytest.raises(ValueError, match="reluu"):
        E.forward("reluu", np.zeros(3))
    with pytest.raises(ValueError, match="only built-in"):
        E.forward(lambda x: x * 2, np.zeros(3))
    with pytest.raises(ValueError, match="needs y"):
        E.backward("sigmoid", np.zeros(3), None, np.ones(3))
    with pytest.raises(ValueError, match="needs x"):
        E.backward("swish", None, np.zeros(3), np.ones(3))
    with pytest.raises(ValueError, match="bias"):
        E.fused_bias_act_forward(np.zeros((2, 3)), np.zeros(4), "relu")
    with pytest.raises(ValueError, match="C-contiguous"):
        E.fused_bias_act_forward(np.zeros((3, 2)).T, np.zeros(3), "relu")


def test_backward_reads_only_what_it_declares() -> None:
    # sigmoid's gradient comes from y alone: a garbage x must not change it
    y = np.array([0.2, 0.5, 0.9])
    dx = E.backward("sigmoid", np.full(3, np.nan), y, np.ones(3))
    np.testing.assert_allclose(dx, y * (1 - y))
    x = np.array([-1.0, 0.0, 2.0])
    dx = E.backward("softsign", x, np.full(3, np.nan), np.ones(3))
    np.testing.assert_allclose(dx, 1 / (1 + np.abs(x)) ** 2)


# ----------------------------------------------------------------------------- tf-keras fixtures

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "reference"


def _layer_fixtures() -> tuple[dict, dict]:
    assert (FIXTURES / "layers.json").exists(), "tf-keras reference layers.json is missing"
    with open(FIXTURES / "layers.json") as f:
        layers = json.load(f)["layers"]
    with np.load(FIXTURES / "layers.npz") as npz:
        arrays = {k: npz[k] for k in npz.files}
    return layers, arrays


def test_activation_layers_match_tf_keras_fixture() -> None:
    layers, arrays = _layer_fixtures()
    keys = [k for k in layers if k.startswith("Activation_")]
    assert len(keys) >= 10
    for key in keys:
        name = layers[key]["config"]["activation"]
        x, expected = arrays[f"{key}__input_0"], arrays[f"{key}__output"]
        assert x.dtype == np.float32
        np.testing.assert_allclose(A.get(name)(x), expected, rtol=2e-6, atol=2e-7, err_msg=key)
        np.testing.assert_allclose(E.forward(name, x), expected, rtol=2e-6, atol=2e-7,
                                   err_msg=key)


def test_parametrised_activation_layers_match_tf_keras_fixture() -> None:
    layers, arrays = _layer_fixtures()

    def io(key: str) -> tuple[np.ndarray, np.ndarray]:
        return arrays[f"{key}__input_0"], arrays[f"{key}__output"]

    for key, config in layers.items():
        cfg = config["config"]
        if config["class_name"] == "ReLU":
            x, expected = io(key)
            y = A.relu(x, alpha=cfg["negative_slope"], max_value=cfg["max_value"],
                       threshold=cfg["threshold"])
        elif config["class_name"] == "ELU":
            x, expected = io(key)
            y = A.elu(x, alpha=cfg["alpha"])
        elif config["class_name"] == "Softmax":
            x, expected = io(key)
            y = A.softmax(x, axis=cfg["axis"])
        else:
            continue
        np.testing.assert_allclose(y, expected, rtol=2e-6, atol=2e-7, err_msg=key)


def test_dense_fused_bias_activation_matches_tf_keras_fixture() -> None:
    layers, arrays = _layer_fixtures()
    assert "Dense" in layers, "no Dense entry in layers.json"
    name = layers["Dense"]["config"]["activation"]
    x, kernel, bias = (arrays[f"Dense__{k}"] for k in ("input_0", "weight_0", "weight_1"))
    z = np.ascontiguousarray(x.reshape(-1, x.shape[-1]) @ kernel)
    y = E.fused_bias_act_forward(z, bias, name)
    np.testing.assert_allclose(y.reshape(arrays["Dense__output"].shape), arrays["Dense__output"],
                               rtol=1e-5, atol=1e-6)
