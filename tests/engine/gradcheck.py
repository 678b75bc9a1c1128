"""The gradient check and config round trip shared by every layer test.

``check_layer_gradients`` runs a layer's kernel in float64 (weights copied to float64 for the
check, then restored) and compares ``d_inputs`` and every ``d_weight`` with central finite
differences of ``sum(upstream * forward(...))`` for a random ``upstream``: step 1e-6, default
tolerances ``rtol=1e-5, atol=1e-7``. It also runs the kernel in float32 and checks that
outputs and gradients stay float32 and agree with float64 (``rtol=atol=1e-4``).

Random layers (those with a ``_generator``) have their generator restarted from their seed
before every forward, so every evaluation sees the same noise.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from numkeras import layers
from numkeras.engine.kernels import forward_of
from numkeras.layers import Input

FD_STEP = 1e-6


def _as_list(value: Any) -> list:
    return list(value) if isinstance(value, (list, tuple)) else [value]


def _pack(arrays: list) -> Any:
    return arrays if len(arrays) > 1 else arrays[0]


def _is_float(a: np.ndarray) -> bool:
    return np.issubdtype(a.dtype, np.floating)


def run_kernel(layer: Any, arrays: list[np.ndarray], training: bool) -> tuple[list, Any]:
    """Runs the kernel of a built layer: ``(outputs as a list, backward)``."""
    if hasattr(layer, "_generator"):
        layer._generator = None
    outputs, backward = forward_of(layer)(layer, _pack(arrays), training)
    return _as_list(outputs), backward


def build_and_call(layer: Any, *arrays: np.ndarray, training: bool = False) -> Any:
    """Calls ``layer`` on symbolic inputs shaped like ``arrays`` (batch axis None), which
    builds it, then runs its kernel on ``arrays``.

    Checks that the symbolic output shape, ``compute_output_shape`` of the concrete shapes and
    the kernel's output shape agree, and that float32 inputs give float32 outputs. Returns the
    output (a list for several).
    """
    arrays = [np.asarray(a) for a in arrays]
    symbolic = [Input(batch_shape=(None, *a.shape[1:]), dtype=a.dtype.name) for a in arrays]
    symbolic_out = _as_list(layer(_pack(symbolic)))
    outputs, _ = run_kernel(layer, arrays, training)
    expected = _as_list(layer.compute_output_shape(_pack([a.shape for a in arrays])))
    if not isinstance(expected[0], (tuple, list)):
        expected = [tuple(expected)]
    assert len(outputs) == len(symbolic_out) == len(expected)
    for out, sym, exp in zip(outputs, symbolic_out, expected, strict=True):
        assert tuple(exp) == out.shape, f"compute_output_shape {tuple(exp)} != {out.shape}"
        assert len(sym.shape) == out.ndim and all(
            s is None or s == n for s, n in zip(sym.shape, out.shape, strict=True)
        ), f"symbolic shape {sym.shape} != {out.shape}"
        if any(a.dtype == np.float32 for a in arrays) or all(not _is_float(a) for a in arrays):
            assert out.dtype == np.float32, f"output dtype {out.dtype}"
    return _pack(outputs)


def _numeric_gradient(objective: Any, array: np.ndarray) -> np.ndarray:
    grad = np.zeros(array.shape)
    flat = array.reshape(-1)
    out = grad.reshape(-1)
    for i in range(flat.size):
        saved = flat[i]
        flat[i] = saved + FD_STEP
        plus = objective()
        flat[i] = saved - FD_STEP
        minus = objective()
        flat[i] = saved
        out[i] = (plus - minus) / (2 * FD_STEP)
    return grad


def check_layer_gradients(layer: Any, inputs: Any, training: bool = False, rtol: float = 1e-5,
                          atol: float = 1e-7, seed: int = 0) -> None:
    """Asserts that the layer's backward matches finite differences of its forward.

    Builds the layer on ``inputs`` if needed. Integer inputs must get a ``None`` gradient;
    a weight may get ``None`` only if it is non-trainable. Weights are left unchanged.
    """
    arrays = [np.asarray(a) for a in _as_list(inputs)]
    if not layer.built:
        build_and_call(layer, *arrays, training=training)
    weights = list(layer._weights)
    originals = [w.value for w in weights]
    snapshot = [v.copy() for v in originals]
    try:
        # float32: dtypes are kept and the numbers agree with float64 below.
        x32 = [a.astype(np.float32) if _is_float(a) else a for a in arrays]
        outs32, back32 = run_kernel(layer, x32, training)
        rng = np.random.default_rng(seed)
        upstream = [rng.standard_normal(o.shape) for o in outs32]
        d_in32, d_w32 = back32(_pack([u.astype(np.float32) for u in upstream]))
        for v, s in zip(originals, snapshot, strict=True):
            v[...] = s  # e.g. BatchNormalization moved its statistics
        for w in weights:
            w.value = w.value.astype(np.float64)
        x64 = [a.astype(np.float64) if _is_float(a) else a.copy() for a in arrays]
        outs, backward = run_kernel(layer, x64, training)
        d_in, d_w = backward(_pack(upstream))
        d_in = _as_list(d_in)
        assert len(d_w) == len(weights), f"{len(d_w)} weight gradients for {len(weights)} weights"

        for o32, o in zip(outs32, outs, strict=True):
            assert o32.dtype == np.float32 and o.dtype == np.float64
            np.testing.assert_allclose(o32, o, rtol=1e-4, atol=1e-4)
        for g32, g in zip(_as_list(d_in32) + list(d_w32), d_in + list(d_w), strict=True):
            assert (g32 is None) == (g is None)
            if g is not None:
                assert g32.dtype == np.float32, f"float32 gradient came back as {g32.dtype}"
                np.testing.assert_allclose(g32, g, rtol=1e-4, atol=1e-4)

        def objective() -> float:
            outs_now, _ = run_kernel(layer, x64, training)
            return float(sum(np.sum(u * o) for u, o in zip(upstream, outs_now, strict=True)))

        for i, (x, g) in enumerate(zip(x64, d_in, strict=True)):
            if not _is_float(x):
                assert g is None, f"integer input {i} got a gradient"
                continue
            assert g is not None and g.shape == x.shape, f"d_input[{i}] shape"
            np.testing.assert_allclose(g, _numeric_gradient(objective, x), rtol=rtol, atol=atol,
                                       err_msg=f"{layer.name}: d_input[{i}]")
        for w, g in zip(weights, d_w, strict=True):
            if g is None:
                assert not w.trainable, f"trainable weight {w.name} got no gradient"
                continue
            assert g.shape == w.shape, f"{w.name}: gradient shape {g.shape} != {w.shape}"
            np.testing.assert_allclose(g, _numeric_gradient(objective, w.value), rtol=rtol,
                                       atol=atol, err_msg=f"{layer.name}: d_{w.name}")
    finally:
        for w, v, s in zip(weights, originals, snapshot, strict=True):
            v[...] = s
            w.value = v
        if hasattr(layer, "_generator"):
            layer._generator = None


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value))


def check_config_roundtrip(layer: Any) -> Any:
    """``get_config -> from_config`` gives the same config (also through JSON), and
    ``numkeras.layers.serialize/deserialize`` rebuilds the same class. Returns the clone."""
    config = layer.get_config()
    clone = type(layer).from_config(config)
    assert clone.get_config() == config
    assert type(layer).from_config(_jsonable(config)).get_config() == config
    data = _jsonable(layers.serialize(layer))
    assert data["class_name"] == type(layer).__name__
    restored = layers.deserialize(data)
    assert type(restored) is type(layer)
    assert _jsonable(restored.get_config()) == _jsonable(config)
    return clone
