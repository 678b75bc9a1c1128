"""The Layer base class and the Weight it owns (Keras's base_layer, without execution).

A layer here is declarative: arguments, weights, shape inference and config. The engine
(``numkeras.engine.kernels``) supplies each layer's forward and backward.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from numkeras import backend, constraints, initializers, regularizers

_BASE_KWARGS = {"input_shape", "batch_input_shape", "batch_size", "weights", "input_dim",
                "input_length", "autocast", "dynamic"}


def _to_shape(shape: Any) -> tuple:
    return tuple(None if d is None else int(d) for d in shape)


class Weight:
    """A layer's variable: a named float32 array (``dense/kernel:0``) and its training options."""

    def __init__(self, name: str, value: np.ndarray, trainable: bool = True,
                 regularizer: Any = None, constraint: Any = None) -> None:
        self.name = name
        self.value = value
        self.trainable = trainable
        self.regularizer = regularizer
        self.constraint = constraint

    @property
    def shape(self) -> tuple[int, ...]:
        return self.value.shape

    @property
    def dtype(self) -> np.dtype:
        return self.value.dtype

    def numpy(self) -> np.ndarray:
        return self.value.copy()

    def assign(self, value: Any) -> None:
        """Writes into the existing array, so every holder of it sees the new value."""
        value = np.asarray(value)
        if value.shape != self.value.shape:
            raise ValueError(
                f"Weight {self.name!r} has shape {self.value.shape}, got an array of shape "
                f"{value.shape}."
            )
        self.value[...] = value

    def __repr__(self) -> str:
        return f"<Weight {self.name!r} shape={self.shape} dtype={self.dtype}>"


class Layer:
    """Base of every layer: name, trainable flag, weights, nodes of the graph, config.

    Subclasses override ``build(input_shape)`` (create weights with ``add_weight``),
    ``compute_output_shape(input_shape)``, ``compute_mask`` if they change masks, and
    ``get_config``.
    """

    supports_masking = False

    def __init__(self, trainable: bool = True, name: str | None = None, dtype: Any = None,
                 activity_regularizer: Any = None, **kwargs: Any) -> None:
        unknown = set(kwargs) - _BASE_KWARGS
        if unknown:
            raise TypeError(
                f"Keyword argument not understood by {type(self).__name__}: "
                f"{', '.join(sorted(unknown))}"
            )
        self.name = name or backend.unique_object_name(backend.to_snake_case(type(self).__name__))
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"Layer name must be a non-empty string, got {name!r}.")
        self._trainable = bool(trainable)
        if isinstance(dtype, dict):  # tf-keras serializes mixed-precision policies as dicts
            dtype = dtype.get("config", {}).get("name", "float32")
        self.dtype = np.dtype(dtype or backend.floatx()).name
        self.activity_regularizer = regularizers.get(activity_regularizer)
        self._weights: list[Weight] = []
        self._inbound_nodes: list[Any] = []
        self._outbound_nodes: list[Any] = []
        self.built = False
        self._initial_weights = kwargs.get("weights")
        batch_input_shape = kwargs.get("batch_input_shape")
        if batch_input_shape is None:
            input_shape = kwargs.get("input_shape")
            if input_shape is None and kwargs.get("input_dim") is not None:
                input_shape = (kwargs["input_dim"],)
            if input_shape is not None:
                batch_input_shape = (kwargs.get("batch_size"), *tuple(input_shape))
        self._batch_input_shape = (
            None if batch_input_shape is None else _to_shape(batch_input_shape)
        )

    # ----------------------------------------------------------------- weights
    @property
    def trainable(self) -> bool:
        return self._trainable

    @trainable.setter
    def trainable(self, value: bool) -> None:
        self._trainable = bool(value)

    def add_weight(self, name: str, shape: Any, initializer: Any = "glorot_uniform",
                   regularizer: Any = None, constraint: Any = None, trainable: bool = True,
                   dtype: Any = None) -> Weight:
        """Creates a weight named ``<layer>/<name>:0`` initialised by ``initializer``."""
        shape = tuple(int(d) for d in shape)
        init = initializers.get(initializer)
        value = np.ascontiguousarray(
            np.asarray(init(shape, dtype=dtype or self.dtype), dtype=dtype or self.dtype)
        )
        weight = Weight(f"{self.name}/{name}:0", value, trainable=trainable,
                        regularizer=regularizers.get(regularizer),
                        constraint=constraints.get(constraint))
        self._weights.append(weight)
        return weight

    @property
    def weights(self) -> list[Weight]:
        """Trainable weights, then non-trainable ones: Keras's ``get_weights`` order."""
        return self.trainable_weights + self.non_trainable_weights

    @property
    def trainable_weights(self) -> list[Weight]:
        if not self.trainable:
            return []
        return [w for w in self._weights if w.trainable]

    @property
    def non_trainable_weights(self) -> list[Weight]:
        frozen = [w for w in self._weights if not w.trainable]
        if not self.trainable:  # Keras's order: the would-be trainable ones first
            return [w for w in self._weights if w.trainable] + frozen
        return frozen

    @property
    def variables(self) -> list[Weight]:
        return self.weights

    def get_weights(self) -> list[np.ndarray]:
        return [w.numpy() for w in self.weights]

    def set_weights(self, weights: list[Any]) -> None:
        """Sets every weight from a list of arrays in ``get_weights`` order.

        Raises:
            ValueError: if the number of arrays or a shape does not match.
        """
        params = self.weights
        weights = list(weights)
        if len(params) != len(weights):
            raise ValueError(
                f"Layer {self.name!r} expects {len(params)} weight arrays, "
                f"but set_weights received {len(weights)}."
            )
        for param, value in zip(params, weights, strict=True):
            value = np.asarray(value)
            if param.shape != value.shape:
                raise ValueError(
                    f"Layer {self.name!r} weight {param.name!r} has shape {param.shape}, "
                    f"but set_weights received an array of shape {value.shape}."
                )
        for param, value in zip(params, weights, strict=True):
            param.assign(value)

    def count_params(self) -> int:
        if not self.built:
            raise ValueError(
                f"You tried to call count_params on layer {self.name!r}, but the layer isn't "
                "built. You can build it manually via: layer.build(batch_input_shape)."
            )
        return int(sum(int(np.prod(w.shape)) for w in self.weights))

    # ------------------------------------------------------------ shape / build
    def build(self, input_shape: Any) -> None:
        self.built = True

    def _maybe_build(self, input_shape: Any) -> None:
        if not self.built:
            self.build(input_shape)
            self.built = True
            if self._initial_weights is not None:
                self.set_weights(self._initial_weights)
                self._initial_weights = None

    def compute_output_shape(self, input_shape: Any) -> Any:
        return input_shape

    def compute_output_dtype(self, input_dtype: Any) -> Any:
        return self.dtype

    def compute_mask(self, inputs: Any, mask: Any = None) -> Any:
        """The mask of the outputs: layers that support masking pass it on; others drop it."""
        if not self.supports_masking:
            return None
        return mask

    # ------------------------------------------------------------------- graph
    def __call__(self, inputs: Any, **kwargs: Any) -> Any:
        """Connects the layer to symbolic tensors and returns its symbolic outputs."""
        from numkeras.graph.node import Node  # the graph imports layers; call time is fine

        return Node.create(self, inputs, kwargs)

    def _get_node_attribute(self, attr: str, node_index: int) -> Any:
        if not self._inbound_nodes:
            raise AttributeError(
                f"Layer {self.name!r} is not connected: no {attr} to return."
            )
        if len(self._inbound_nodes) > 1 and node_index is None:
            raise AttributeError(
                f"Layer {self.name!r} has multiple inbound nodes; use get_{attr}_at(index)."
            )
        values = getattr(self._inbound_nodes[node_index or 0], attr)
        return values[0] if len(values) == 1 else values

    @property
    def input(self) -> Any:
        return self._get_node_attribute("input_tensors", None)

    @property
    def output(self) -> Any:
        return self._get_node_attribute("output_tensors", None)

    def get_input_at(self, node_index: int) -> Any:
        return self._get_node_attribute("input_tensors", node_index)

    def get_output_at(self, node_index: int) -> Any:
        return self._get_node_attribute("output_tensors", node_index)

    @property
    def input_shape(self) -> Any:
        shapes = [t.shape for t in self._inbound_nodes[0].input_tensors] if self._inbound_nodes \
            else None
        if shapes is None:
            raise AttributeError(f"The layer {self.name!r} has never been called.")
        return shapes[0] if len(shapes) == 1 else shapes

    @property
    def output_shape(self) -> Any:
        if not self._inbound_nodes:
            raise AttributeError(f"The layer {self.name!r} has never been called.")
        shapes = [t.shape for t in self._inbound_nodes[0].output_tensors]
        return shapes[0] if len(shapes) == 1 else shapes

    # ------------------------------------------------------------------ config
    def get_config(self) -> dict[str, Any]:
        config: dict[str, Any] = {"name": self.name, "trainable": self.trainable,
                                  "dtype": self.dtype}
        if self._batch_input_shape is not None:
            config["batch_input_shape"] = list(self._batch_input_shape)
        return config

    @classmethod
    def from_config(cls, config: dict[str, Any], custom_objects: Any = None) -> Layer:
        return cls(**config)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name!r}>"
