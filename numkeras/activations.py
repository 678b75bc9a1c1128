"""Keras 2 activation functions in NumPy, with ``get``, ``serialize`` and ``deserialize``.

These are the reference definitions (tf-keras 2 formulas). The engine computes the same functions
and their gradients with fused kernels in ``numkeras.engine.ops.activations``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from numkeras import backend
from numkeras.utils.generic_utils import deserialize_keras_object, serialize_keras_object

SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946

_erf = np.frompyfunc(math.erf, 1, 1)


def _as_float(x: Any) -> np.ndarray:
    x = np.asarray(x)
    if not np.issubdtype(x.dtype, np.floating):
        x = x.astype(backend.floatx())
    return x


def relu(
    x: Any, alpha: float = 0.0, max_value: float | None = None, threshold: float = 0.0
) -> np.ndarray:
    """Rectified linear unit: ``x`` above ``threshold``, ``alpha * (x - threshold)`` below.

    Args:
        x: Input array.
        alpha: Slope below the threshold.
        max_value: Upper saturation value, or None for no upper bound.
        threshold: Value below which the unit is inactive.
    """
    x = _as_float(x)
    negative = np.maximum(threshold - x, 0) if alpha != 0.0 else None
    if threshold != 0:
        y = np.where(x > threshold, x, 0).astype(x.dtype)
    else:
        y = np.maximum(x, 0)
    if max_value is not None:
        y = np.clip(y, 0, max_value).astype(x.dtype)
    if negative is not None:
        y = (y - alpha * negative).astype(x.dtype)
    return y


def sigmoid(x: Any) -> np.ndarray:
    """``1 / (1 + exp(-x))``, computed without overflow."""
    x = _as_float(x)
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(x.dtype)


def tanh(x: Any) -> np.ndarray:
    """Hyperbolic tangent."""
    return np.tanh(_as_float(x))


def softmax(x: Any, axis: int | tuple[int, ...] = -1) -> np.ndarray:
    """``exp(x) / sum(exp(x))`` along ``axis``.

    Raises:
        ValueError: if ``x`` is 1D, as in Keras.
    """
    x = _as_float(x)
    if x.ndim <= 1:
        raise ValueError(f"Cannot apply softmax to a tensor that is 1D. Received input: {x}")
    e = np.exp(x - np.max(x, axis=axis, keepdims=True))
    return e / np.sum(e, axis=axis, keepdims=True)


def log_softmax(x: Any, axis: int = -1) -> np.ndarray:
    """``x - log(sum(exp(x)))`` along ``axis``."""
    x = _as_float(x)
    shifted = x - np.max(x, axis=axis, keepdims=True)
    return shifted - np.log(np.sum(np.exp(shifted), axis=axis, keepdims=True))


def softplus(x: Any) -> np.ndarray:
    """``log(exp(x) + 1)``."""
    return np.logaddexp(0, _as_float(x))


def softsign(x: Any) -> np.ndarray:
    """``x / (abs(x) + 1)``."""
    x = _as_float(x)
    return x / (np.abs(x) + 1)


def elu(x: Any, alpha: float = 1.0) -> np.ndarray:
    """Exponential linear unit: ``x`` if ``x > 0`` else ``alpha * (exp(x) - 1)``."""
    x = _as_float(x)
    return np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0))).astype(x.dtype)


def selu(x: Any) -> np.ndarray:
    """Scaled exponential linear unit with Keras's ``alpha`` and ``scale`` constants."""
    x = _as_float(x)
    return (SELU_SCALE * elu(x, SELU_ALPHA)).astype(x.dtype)


def exponential(x: Any) -> np.ndarray:
    """``exp(x)``."""
    return np.exp(_as_float(x))


def hard_sigmoid(x: Any) -> np.ndarray:
    """Piecewise linear sigmoid of tf-keras 2: ``clip(0.2 * x + 0.5, 0, 1)``."""
    x = _as_float(x)
    return np.clip(0.2 * x + 0.5, 0, 1).astype(x.dtype)


def linear(x: Any) -> Any:
    """The identity: returns ``x`` unchanged."""
    return x


def swish(x: Any) -> np.ndarray:
    """``x * sigmoid(x)`` (also called silu)."""
    x = _as_float(x)
    return x * sigmoid(x)


silu = swish


def gelu(x: Any, approximate: bool = False) -> np.ndarray:
    """Gaussian error linear unit: ``x * Phi(x)``, or its tanh approximation.

    Args:
        x: Input array.
        approximate: Use ``0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))``.
    """
    x = _as_float(x)
    if approximate:
        inner = math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)
        return (0.5 * x * (1 + np.tanh(inner))).astype(x.dtype)
    erf = _erf(x.astype(np.float64) / math.sqrt(2)).astype(np.float64)
    return (0.5 * x * (1 + erf)).astype(x.dtype)


def mish(x: Any) -> np.ndarray:
    """``x * tanh(softplus(x))``."""
    x = _as_float(x)
    return x * np.tanh(softplus(x))


def relu6(x: Any) -> np.ndarray:
    """``min(max(x, 0), 6)``."""
    x = _as_float(x)
    return np.clip(x, 0, 6).astype(x.dtype)


def leaky_relu(x: Any, alpha: float = 0.2) -> np.ndarray:
    """``x`` if ``x > 0`` else ``alpha * x`` (``tf.nn.leaky_relu``'s default slope)."""
    x = _as_float(x)
    return np.where(x > 0, x, alpha * x).astype(x.dtype)


_ACTIVATIONS: dict[str, Callable[..., Any]] = {
    fn.__name__: fn
    for fn in (
        relu, sigmoid, tanh, softmax, log_softmax, softplus, softsign, elu, selu, exponential,
        hard_sigmoid, linear, swish, gelu, mish, relu6, leaky_relu,
    )
}
_ACTIVATIONS["silu"] = swish
# TF 2 names softmax's function softmax_v2; configs written from tf.nn.softmax may carry it.
_ACTIVATIONS["softmax_v2"] = softmax


def serialize(activation: Callable[..., Any]) -> Any:
    """The identifier Keras stores in a layer config: a built-in's name, e.g. ``"relu"``.

    A custom function serializes to its ``__name__``; an object with ``get_config`` to its
    ``{"class_name", "config"}`` dict.

    Raises:
        ValueError: if ``activation`` has neither a name nor a config.
    """
    name = getattr(activation, "__name__", None)
    if name == "softmax_v2":
        return "softmax"
    try:
        return serialize_keras_object(activation)
    except ValueError:
        raise ValueError(
            f"Unknown activation function {activation!r} cannot be serialized."
        ) from None


def deserialize(name: Any, custom_objects: dict[str, Any] | None = None) -> Callable[..., Any]:
    """The activation function for ``name`` (a string, or a config dict of tf-keras's new format).

    Raises:
        ValueError: naming ``name`` if it is not a known activation function.
    """
    if isinstance(name, dict) and name.get("class_name") == "function":
        # tf-keras's newer format for functions: {"class_name": "function", "config": "relu", ...}
        name = name.get("config")
    obj = deserialize_keras_object(
        name,
        module_objects=_ACTIVATIONS,
        custom_objects=custom_objects,
        printable_module_name="activation function",
    )
    if not callable(obj):
        raise ValueError(f"Unknown activation function {name!r} cannot be deserialized.")
    return obj


def get(identifier: Any) -> Callable[..., Any]:
    """Resolves an activation identifier: None -> ``linear``, a name, a dict, or a callable.

    Raises:
        ValueError: naming the identifier when it is not a known activation.
    """
    if identifier is None:
        return linear
    if isinstance(identifier, (str, dict)):
        return deserialize(identifier)
    if callable(identifier):
        return identifier
    raise ValueError(f"Could not interpret activation function identifier: {identifier!r}.")
