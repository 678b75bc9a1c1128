"""Keras 2 weight initializers in NumPy, with ``get``, ``serialize`` and ``deserialize``.

Formulas follow tf-keras 2: truncated normals are re-drawn beyond two standard deviations, and
``VarianceScaling``'s truncated normal divides its standard deviation by 0.8796..., the standard
deviation of a unit normal truncated to [-2, 2].

Random numbers: a seeded initializer draws from ``np.random.default_rng(seed)`` afresh on every
call, so it returns the same values each time (as in tf-keras). An unseeded one seeds a fresh
generator from NumPy's global random state, so ``np.random.seed(n)`` makes a whole model's
initial weights reproducible.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from numkeras import backend
from numkeras.utils.generic_utils import deserialize_keras_object, serialize_keras_object

_TRUNCATED_STDDEV = 0.87962566103423978  # std of N(0, 1) truncated to [-2, 2]


def _shape(shape: Any) -> tuple[int, ...]:
    try:
        dims = tuple(int(d) for d in shape)
    except (TypeError, ValueError):
        raise ValueError(f"Invalid shape for an initializer: {shape!r}.") from None
    if any(d < 0 for d in dims):
        raise ValueError(f"Invalid shape for an initializer: {shape!r}.")
    return dims


def _dtype(dtype: Any, floating: bool = True) -> np.dtype:
    dt = np.dtype(dtype if dtype is not None else backend.floatx())
    if floating and not np.issubdtype(dt, np.floating):
        raise ValueError(f"Expected a floating point dtype, got dtype={dt}.")
    return dt


def _generator(seed: int | None) -> np.random.Generator:
    if seed is None:
        seed = np.random.randint(0, 2**31 - 1)
    return np.random.default_rng(seed)


def _truncated_normal(
    rng: np.random.Generator, shape: tuple[int, ...], mean: float, stddev: float
) -> np.ndarray:
    values = rng.standard_normal(shape)
    outside = np.abs(values) > 2.0
    while outside.any():
        values[outside] = rng.standard_normal(int(outside.sum()))
        outside = np.abs(values) > 2.0
    return mean + stddev * values


def _compute_fans(shape: Sequence[int]) -> tuple[int, int]:
    """``(fan_in, fan_out)`` as Keras computes them.

    2D ``(in, out)``; convolution kernels ``(*spatial, in, out)`` multiply both by the receptive
    field size; a vector uses its length for both; a scalar gives ``(1, 1)``.
    """
    if len(shape) < 1:
        return 1, 1
    if len(shape) == 1:
        return int(shape[0]), int(shape[0])
    if len(shape) == 2:
        return int(shape[0]), int(shape[1])
    receptive_field = math.prod(int(d) for d in shape[:-2])
    return int(shape[-2]) * receptive_field, int(shape[-1]) * receptive_field


def _python(value: Any) -> Any:
    return value.tolist() if isinstance(value, (np.ndarray, np.generic)) else value


class Initializer:
    """Base class: ``initializer(shape, dtype=None)`` returns a new NumPy array."""

    def __call__(self, shape: Sequence[int], dtype: Any = None) -> np.ndarray:
        raise NotImplementedError(f"{type(self).__name__} must implement __call__(shape, dtype).")

    def get_config(self) -> dict[str, Any]:
        return {}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Initializer:
        config = dict(config or {})
        config.pop("dtype", None)  # configs written by tf.keras 1.x carry one
        return cls(**config)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


class Zeros(Initializer):
    """All zeros."""

    def __call__(self, shape: Sequence[int], dtype: Any = None) -> np.ndarray:
        return np.zeros(_shape(shape), dtype=_dtype(dtype, floating=False))


class Ones(Initializer):
    """All ones."""

    def __call__(self, shape: Sequence[int], dtype: Any = None) -> np.ndarray:
        return np.ones(_shape(shape), dtype=_dtype(dtype, floating=False))


class Constant(Initializer):
    """Every element equal to ``value`` (or ``value`` reshaped, if it has as many elements).

    Args:
        value: A Python scalar, or a sequence with as many elements as the shape.
    """

    def __init__(self, value: Any = 0) -> None:
        self.value = value

    def __call__(self, shape: Sequence[int], dtype: Any = None) -> np.ndarray:
        shape, dt = _shape(shape), _dtype(dtype, floating=False)
        value = np.asarray(self.value, dtype=dt)
        if value.ndim and value.size == math.prod(shape):
            return value.reshape(shape).copy()
        try:
            return np.broadcast_to(value, shape).copy()
        except ValueError:
            raise ValueError(
                f"Constant value of shape {value.shape} does not fit shape={shape}."
            ) from None

    def get_config(self) -> dict[str, Any]:
        return {"value": _python(self.value)}


class RandomUniform(Initializer):
    """Uniform in ``[minval, maxval)``.

    Args:
        minval: Lower bound.
        maxval: Upper bound (exclusive).
        seed: Integer seed; a seeded initializer returns the same values on every call.
    """

    def __init__(self, minval: float = -0.05, maxval: float = 0.05, seed: int | None = None):
        self.minval = minval
        self.maxval = maxval
        self.seed = seed

    def __call__(self, shape: Sequence[int], dtype: Any = None) -> np.ndarray:
        shape, dt = _shape(shape), _dtype(dtype, floating=False)
        rng = _generator(self.seed)
        if np.issubdtype(dt, np.integer):
            return rng.integers(self.minval, self.maxval, size=shape, dtype=dt)
        if not np.issubdtype(dt, np.floating):
            raise ValueError(f"Expected a float or integer dtype, got dtype={dt}.")
        return rng.uniform(self.minval, self.maxval, size=shape).astype(dt)

    def get_config(self) -> dict[str, Any]:
        return {"minval": self.minval, "maxval": self.maxval, "seed": self.seed}


class RandomNormal(Initializer):
    """Normal with ``mean`` and ``stddev``.

    Args:
        mean: Mean of the values.
        stddev: Standard deviation of the values.
        seed: Integer seed; a seeded initializer returns the same values on every call.
    """

    def __init__(self, mean: float = 0.0, stddev: float = 0.05, seed: int | None = None):
        self.mean = mean
        self.stddev = stddev
        self.seed = seed

    def __call__(self, shape: Sequence[int], dtype: Any = None) -> np.ndarray:
        shape, dt = _shape(shape), _dtype(dtype)
        return _generator(self.seed).normal(self.mean, self.stddev, size=shape).astype(dt)

    def get_config(self) -> dict[str, Any]:
        return {"mean": self.mean, "stddev": self.stddev, "seed": self.seed}


class TruncatedNormal(Initializer):
    """Normal with ``mean`` and ``stddev``, values beyond two ``stddev`` re-drawn.

    Args:
        mean: Mean of the values.
        stddev: Standard deviation before truncation.
        seed: Integer seed; a seeded initializer returns the same values on every call.
    """

    def __init__(self, mean: float = 0.0, stddev: float = 0.05, seed: int | None = None):
        self.mean = mean
        self.stddev = stddev
        self.seed = seed

    def __call__(self, shape: Sequence[int], dtype: Any = None) -> np.ndarray:
        shape, dt = _shape(shape), _dtype(dtype)
        rng = _generator(self.seed)
        return _truncated_normal(rng, shape, self.mean, self.stddev).astype(dt)

    def get_config(self) -> dict[str, Any]:
        return {"mean": self.mean, "stddev": self.stddev, "seed": self.seed}


class VarianceScaling(Initializer):
    """Scale-aware initializer: variance ``scale / n`` with ``n`` the fan chosen by ``mode``.

    Args:
        scale: Positive scaling factor.
        mode: ``"fan_in"``, ``"fan_out"`` or ``"fan_avg"``.
        distribution: ``"truncated_normal"`` (``"normal"`` is an alias),
            ``"untruncated_normal"`` or ``"uniform"`` (within ``[-sqrt(3 scale / n), +...]``).
        seed: Integer seed; a seeded initializer returns the same values on every call.

    Raises:
        ValueError: naming the argument if ``scale``, ``mode`` or ``distribution`` is invalid.
    """

    def __init__(
        self,
        scale: float = 1.0,
        mode: str = "fan_in",
        distribution: str = "truncated_normal",
        seed: int | None = None,
    ) -> None:
        if scale <= 0.0:
            raise ValueError(f"`scale` must be positive float. Received: scale={scale}.")
        if mode not in ("fan_in", "fan_out", "fan_avg"):
            raise ValueError(
                f"Invalid `mode` argument: mode={mode!r}. Use 'fan_in', 'fan_out' or 'fan_avg'."
            )
        dist = str(distribution).lower()
        dist = "truncated_normal" if dist == "normal" else dist
        if dist not in ("truncated_normal", "untruncated_normal", "uniform"):
            raise ValueError(
                f"Invalid `distribution` argument: distribution={distribution!r}. Use "
                "'truncated_normal', 'untruncated_normal' or 'uniform'."
            )
        self.scale = scale
        self.mode = mode
        self.distribution = dist
        self.seed = seed

    def __call__(self, shape: Sequence[int], dtype: Any = None) -> np.ndarray:
        shape, dt = _shape(shape), _dtype(dtype)
        fan_in, fan_out = _compute_fans(shape)
        fan = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2.0}
        scale = self.scale / max(1.0, fan[self.mode])
        rng = _generator(self.seed)
        if self.distribution == "truncated_normal":
            values = _truncated_normal(rng, shape, 0.0, math.sqrt(scale) / _TRUNCATED_STDDEV)
        elif self.distribution == "untruncated_normal":
            values = rng.normal(0.0, math.sqrt(scale), size=shape)
        else:
            limit = math.sqrt(3.0 * scale)
            values = rng.uniform(-limit, limit, size=shape)
        return values.astype(dt)

    def get_config(self) -> dict[str, Any]:
        return {
            "scale": self.scale,
            "mode": self.mode,
            "distribution": self.distribution,
            "seed": self.seed,
        }


class Orthogonal(Initializer):
    """A (semi-)orthogonal matrix times ``gain``, from the QR decomposition of a normal matrix.

    Shapes of rank > 2 are treated as ``(prod(shape[:-1]), shape[-1])`` and reshaped back.

    Args:
        gain: Multiplicative factor.
        seed: Integer seed; a seeded initializer returns the same values on every call.
    """

    def __init__(self, gain: float = 1.0, seed: int | None = None) -> None:
        self.gain = gain
        self.seed = seed

    def __call__(self, shape: Sequence[int], dtype: Any = None) -> np.ndarray:
        shape, dt = _shape(shape), _dtype(dtype)
        if len(shape) < 2:
            raise ValueError(
                "The tensor to initialize must be at least two-dimensional. "
                f"Received: shape={shape} of rank {len(shape)}."
            )
        rows, cols = math.prod(shape[:-1]), shape[-1]
        a = _generator(self.seed).standard_normal((max(rows, cols), min(rows, cols)))
        q, r = np.linalg.qr(a)
        q *= np.sign(np.diag(r))
        if rows < cols:
            q = q.T
        return (self.gain * q.reshape(shape)).astype(dt)

    def get_config(self) -> dict[str, Any]:
        return {"gain": self.gain, "seed": self.seed}


class Identity(Initializer):
    """``gain`` times the identity matrix (2D shapes only; rectangular allowed).

    Args:
        gain: Multiplicative factor.
    """

    def __init__(self, gain: float = 1.0) -> None:
        self.gain = gain

    def __call__(self, shape: Sequence[int], dtype: Any = None) -> np.ndarray:
        shape, dt = _shape(shape), _dtype(dtype)
        if len(shape) != 2:
            raise ValueError(
                "Identity matrix initializer can only be used for 2D matrices. "
                f"Received: shape={shape} of rank {len(shape)}."
            )
        return (self.gain * np.eye(*shape)).astype(dt)

    def get_config(self) -> dict[str, Any]:
        return {"gain": self.gain}


class _FixedVarianceScaling(VarianceScaling):
    """A VarianceScaling whose scale, mode and distribution are fixed by the class."""

    _args: tuple[float, str, str] = (1.0, "fan_in", "truncated_normal")

    def __init__(self, seed: int | None = None) -> None:
        scale, mode, distribution = self._args
        super().__init__(scale=scale, mode=mode, distribution=distribution, seed=seed)

    def get_config(self) -> dict[str, Any]:
        return {"seed": self.seed}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Initializer:
        config = dict(config or {})
        for key in ("scale", "mode", "distribution"):  # older configs repeat the fixed values
            config.pop(key, None)
        return super().from_config(config)


class GlorotUniform(_FixedVarianceScaling):
    """Uniform in ``[-limit, limit]``, ``limit = sqrt(6 / (fan_in + fan_out))``.

    Args:
        seed: Integer seed; a seeded initializer returns the same values on every call.
    """

    _args = (1.0, "fan_avg", "uniform")


class GlorotNormal(_FixedVarianceScaling):
    """Truncated normal with ``stddev = sqrt(2 / (fan_in + fan_out))`` after truncation."""

    _args = (1.0, "fan_avg", "truncated_normal")


class LecunNormal(_FixedVarianceScaling):
    """Truncated normal with ``stddev = sqrt(1 / fan_in)`` after truncation."""

    _args = (1.0, "fan_in", "truncated_normal")


class LecunUniform(_FixedVarianceScaling):
    """Uniform in ``[-limit, limit]``, ``limit = sqrt(3 / fan_in)``."""

    _args = (1.0, "fan_in", "uniform")


class HeNormal(_FixedVarianceScaling):
    """Truncated normal with ``stddev = sqrt(2 / fan_in)`` after truncation."""

    _args = (2.0, "fan_in", "truncated_normal")


class HeUniform(_FixedVarianceScaling):
    """Uniform in ``[-limit, limit]``, ``limit = sqrt(6 / fan_in)``."""

    _args = (2.0, "fan_in", "uniform")


zeros = zero = Zeros
ones = one = Ones
constant = Constant
random_uniform = uniform = RandomUniform
random_normal = normal = RandomNormal
truncated_normal = TruncatedNormal
variance_scaling = VarianceScaling
orthogonal = Orthogonal
identity = Identity
glorot_uniform = GlorotUniform
glorot_normal = GlorotNormal
lecun_normal = LecunNormal
lecun_uniform = LecunUniform
he_normal = HeNormal
he_uniform = HeUniform

_CLASSES = (
    Zeros, Ones, Constant, RandomUniform, RandomNormal, TruncatedNormal, VarianceScaling,
    Orthogonal, Identity, GlorotUniform, GlorotNormal, LecunNormal, LecunUniform, HeNormal,
    HeUniform,
)
_OBJECTS: dict[str, type[Initializer]] = {}
for _cls in _CLASSES:
    _OBJECTS[_cls.__name__] = _cls
    _OBJECTS[backend.to_snake_case(_cls.__name__)] = _cls
    _OBJECTS[_cls.__name__ + "V2"] = _cls  # tf.keras 2.0-2.5 configs name some classes so
_OBJECTS.update(normal=RandomNormal, uniform=RandomUniform, one=Ones, zero=Zeros)


def serialize(initializer: Any) -> Any:
    """The Keras 2 config of an initializer: ``{"class_name": ..., "config": {...}}``."""
    return serialize_keras_object(initializer)


def deserialize(config: Any, custom_objects: dict[str, Any] | None = None) -> Any:
    """An initializer from a name or a config dict (extra keys such as ``module`` are ignored).

    Raises:
        ValueError: naming the identifier if it is not a known initializer.
    """
    obj = deserialize_keras_object(
        config,
        module_objects=_OBJECTS,
        custom_objects=custom_objects,
        printable_module_name="initializer",
    )
    return obj() if isinstance(obj, type) else obj


def get(identifier: Any) -> Any:
    """Resolves an initializer given as None, a name, a config dict, a class or a callable.

    Raises:
        ValueError: naming the identifier if it cannot be interpreted.
    """
    if identifier is None:
        return None
    if isinstance(identifier, (str, dict)):
        return deserialize(identifier)
    if isinstance(identifier, type):
        return identifier()
    if callable(identifier):
        return identifier
    raise ValueError(f"Could not interpret initializer identifier: {identifier!r}.")
