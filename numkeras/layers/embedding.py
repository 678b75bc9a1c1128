"""Embedding: turns integer indices into dense vectors of a learned table."""

from __future__ import annotations

import operator
from typing import Any

import numpy as np

from numkeras import constraints, initializers, regularizers
from numkeras.layers.layer import Layer


def _positive_int(name: str, value: Any) -> int:
    try:
        number = operator.index(value)
    except TypeError:
        number = 0
    if isinstance(value, bool) or number <= 0:
        raise ValueError(f"Embedding: `{name}` must be a positive integer, got {value!r}.")
    return number


class Embedding(Layer):
    """Maps each index in ``[0, input_dim)`` to row ``index`` of an ``(input_dim, output_dim)``
    table; an input of shape ``(batch, ...)`` gives ``(batch, ..., output_dim)``.

    Args:
        input_dim: Size of the vocabulary (largest index + 1).
        output_dim: Size of each vector.
        embeddings_initializer: Initializer of the table (default ``uniform``: U(-0.05, 0.05)).
        embeddings_regularizer: Regularizer of the table.
        activity_regularizer: Regularizer of the output.
        embeddings_constraint: Constraint of the table.
        mask_zero: Treat index 0 as padding: the layer outputs the mask ``inputs != 0`` (so
            index 0 should not be a real token and ``input_dim`` should count it).
        input_length: Length of the input sequences, when it is constant.
    """

    def __init__(self, input_dim: int, output_dim: int, embeddings_initializer: Any = "uniform",
                 embeddings_regularizer: Any = None, activity_regularizer: Any = None,
                 embeddings_constraint: Any = None, mask_zero: bool = False,
                 input_length: Any = None, sparse: bool = False, **kwargs: Any) -> None:
        if "input_shape" not in kwargs and "batch_input_shape" not in kwargs:
            if isinstance(input_length, (list, tuple)):
                kwargs["input_shape"] = tuple(input_length)
            else:
                kwargs["input_shape"] = (input_length or None,)
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        self.input_dim = _positive_int("input_dim", input_dim)
        self.output_dim = _positive_int("output_dim", output_dim)
        if sparse:
            raise ValueError("Embedding: `sparse=True` (SparseTensor inputs) is not supported.")
        self.embeddings_initializer = initializers.get(embeddings_initializer)
        self.embeddings_regularizer = regularizers.get(embeddings_regularizer)
        self.embeddings_constraint = constraints.get(embeddings_constraint)
        self.mask_zero = bool(mask_zero)
        self.supports_masking = self.mask_zero
        self.input_length = input_length

    def build(self, input_shape: Any = None) -> None:
        if isinstance(input_shape, list):
            raise ValueError(
                f"Embedding layer {self.name!r} takes one input, got {len(input_shape)}."
            )
        self.embeddings = self.add_weight(
            "embeddings", (self.input_dim, self.output_dim), self.embeddings_initializer,
            self.embeddings_regularizer, self.embeddings_constraint)
        self.built = True

    def compute_output_shape(self, input_shape: Any) -> Any:
        input_shape = tuple(input_shape)
        if self.input_length is None:
            return (*input_shape, self.output_dim)
        lengths = list(self.input_length) if isinstance(self.input_length, (list, tuple)) \
            else [self.input_length]
        message = (
            f'Embedding layer {self.name!r}: "input_length" is {self.input_length}, but '
            f"received input has shape {input_shape}"
        )
        if len(lengths) != len(input_shape) - 1:
            raise ValueError(message)
        for i, (expected, actual) in enumerate(zip(lengths, input_shape[1:], strict=True)):
            if expected is not None and actual is not None and expected != actual:
                raise ValueError(message)
            if expected is None:
                lengths[i] = actual
        return (input_shape[0], *lengths, self.output_dim)

    def compute_output_dtype(self, input_dtype: Any) -> Any:
        return self.dtype

    def compute_mask(self, inputs: Any, mask: Any = None) -> Any:
        """``inputs != 0`` when ``mask_zero``, else None."""
        if not self.mask_zero:
            return None
        return np.not_equal(inputs, 0)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "input_dim": self.input_dim,
            "output_dim": self.output_dim,
            "embeddings_initializer": initializers.serialize(self.embeddings_initializer),
            "embeddings_regularizer": regularizers.serialize(self.embeddings_regularizer),
            "activity_regularizer": regularizers.serialize(self.activity_regularizer),
            "embeddings_constraint": constraints.serialize(self.embeddings_constraint),
            "mask_zero": self.mask_zero,
            "input_length": self.input_length,
        }
