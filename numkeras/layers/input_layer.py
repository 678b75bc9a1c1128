"""InputLayer and Input(): the entry points of a functional model."""

from __future__ import annotations

from typing import Any

import numpy as np

from numkeras import backend
from numkeras.graph.keras_tensor import KerasTensor
from numkeras.graph.node import Node
from numkeras.layers.layer import Layer


def _input_name() -> str:
    # Keras counts input names from 1: input_1, input_2, ...
    return f"input_{backend.get_uid('input') + 1}"


class InputLayer(Layer):
    """The layer behind ``Input``: it has no weights and one output, the model's input."""

    def __init__(self, input_shape: Any = None, batch_size: int | None = None,
                 dtype: Any = None, input_tensor: Any = None, sparse: bool = False,
                 name: str | None = None, ragged: bool = False,
                 batch_input_shape: Any = None, **kwargs: Any) -> None:
        kwargs.pop("type_spec", None)
        if kwargs.pop("optional", False):  # tf-keras 2.16+ writes "optional": false
            raise ValueError(f"InputLayer {name or ''}: optional inputs are not supported.")
        if sparse or ragged:
            raise ValueError(
                f"InputLayer {name or ''}: sparse and ragged inputs are not supported."
            )
        if input_tensor is not None:
            raise ValueError("InputLayer: input_tensor is not supported; use shape= instead.")
        if batch_input_shape is None:
            if input_shape is None:
                raise ValueError("Please provide to Input a `shape` or a `batch_shape` argument.")
            batch_input_shape = (batch_size, *tuple(input_shape))
        try:
            batch_input_shape = tuple(None if d is None else int(d) for d in batch_input_shape)
        except (TypeError, ValueError):
            raise ValueError(
                f"Input shape must be a tuple of integers or None, got {batch_input_shape!r}."
            ) from None
        if any(d is not None and d < 0 for d in batch_input_shape):
            raise ValueError(f"Input shape must not contain negative sizes: {batch_input_shape}.")
        super().__init__(name=name or _input_name(), dtype=dtype, **kwargs)
        self._batch_input_shape = batch_input_shape
        self.built = True
        self.is_placeholder = True
        tensor = KerasTensor(batch_input_shape, dtype=self.dtype, name=self.name,
                             keras_history=(self, 0, 0))
        Node(self, [], [tensor])

    def get_config(self) -> dict[str, Any]:
        return {"batch_input_shape": list(self._batch_input_shape), "dtype": self.dtype,
                "sparse": False, "ragged": False, "name": self.name}


def Input(shape: Any = None, batch_size: int | None = None, name: str | None = None,
          dtype: Any = None, sparse: bool = False, tensor: Any = None, ragged: bool = False,
          batch_shape: Any = None, **kwargs: Any) -> KerasTensor:
    """Creates a symbolic input of the given shape (without the batch dimension).

    Raises:
        ValueError: if neither ``shape`` nor ``batch_shape`` is given or they are invalid.
    """
    if shape is None and batch_shape is None:
        raise ValueError("Please provide to Input a `shape` or a `batch_shape` argument. "
                         "Note that `shape` does not include the batch dimension.")
    if shape is not None and batch_shape is not None:
        raise ValueError("Only provide the `shape` OR `batch_shape` argument to Input, not both.")
    if isinstance(shape, (int, np.integer)):
        shape = (int(shape),)
    layer = InputLayer(input_shape=shape, batch_size=batch_size, name=name, dtype=dtype,
                       sparse=sparse, input_tensor=tensor, ragged=ragged,
                       batch_input_shape=batch_shape, **kwargs)
    return layer._inbound_nodes[0].output_tensors[0]
