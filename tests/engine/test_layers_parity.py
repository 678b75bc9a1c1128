"""Parity with tf-keras: every layer of tests/fixtures/reference/layers.json (written by
tests/fixtures/make_reference.py) rebuilt from its Keras config gives the same config, weight
names and outputs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from numkeras import layers
from numkeras.engine.kernels import forward_of
from tests.engine.gradcheck import build_and_call

REFERENCE = Path(__file__).resolve().parents[1] / "fixtures" / "reference"
META = json.loads((REFERENCE / "layers.json").read_text())["layers"]
ARRAYS = np.load(REFERENCE / "layers.npz")


def _without_module_keys(value: Any) -> Any:
    """Drops the keys tf-keras adds to nested objects ('module', 'registered_name')."""
    if isinstance(value, dict):
        return {k: _without_module_keys(v) for k, v in value.items()
                if k not in ("module", "registered_name")}
    if isinstance(value, list):
        return [_without_module_keys(v) for v in value]
    return value


@pytest.mark.parametrize("key", sorted(META))
def test_layer_matches_tf_keras(key: str) -> None:
    entry = META[key]
    layer = layers.deserialize(entry["serialized"])
    inputs = [ARRAYS[f"{key}__input_{i}"] for i in range(entry["num_inputs"])]
    build_and_call(layer, *inputs)
    assert [w.name for w in layer.weights] == entry["weight_names"]
    if entry["weight_names"]:
        layer.set_weights([ARRAYS[f"{key}__weight_{i}"]
                           for i in range(len(entry["weight_names"]))])
    assert _without_module_keys(layer.get_config()) == _without_module_keys(entry["config"])
    training = bool(entry["call_kwargs"].get("training", False))
    out, _ = forward_of(layer)(layer, inputs if len(inputs) > 1 else inputs[0], training)
    assert list(out.shape) == entry["output_shape"]
    np.testing.assert_allclose(out, ARRAYS[f"{key}__output"], rtol=2e-6, atol=1e-6)
    if key == "BatchNormalization_training":
        np.testing.assert_allclose(layer.moving_mean.value,
                                   ARRAYS[f"{key}__moving_mean_after"], rtol=1e-6, atol=1e-7)
        np.testing.assert_allclose(layer.moving_variance.value,
                                   ARRAYS[f"{key}__moving_variance_after"], rtol=1e-6)
