"""KerasTensor: the symbolic value that flows between layers while a model is defined."""

from __future__ import annotations

from typing import Any


class KerasTensor:
    """A placeholder with a static shape (batch dimension ``None``) and a dtype.

    ``_keras_history`` is ``(layer, node_index, tensor_index)``: where the tensor came from.
    """

    def __init__(self, shape: tuple, dtype: str = "float32", name: str | None = None,
                 keras_history: tuple | None = None) -> None:
        self.shape = tuple(shape)
        self.dtype = dtype
        self.name = name
        self._keras_history = keras_history

    @property
    def node(self) -> Any:
        layer, node_index, _ = self._keras_history
        return layer._inbound_nodes[node_index]

    def __repr__(self) -> str:
        return f"<KerasTensor shape={self.shape} dtype={self.dtype} name={self.name!r}>"

    def __hash__(self) -> int:
        return id(self)

    def __eq__(self, other: object) -> bool:
        return self is other

    def __len__(self) -> int:
        raise TypeError("A symbolic KerasTensor has no length; index its shape instead.")

    def __iter__(self) -> Any:
        raise TypeError(
            "A symbolic KerasTensor is not iterable. Layers that return several tensors "
            "return a list."
        )

    def __bool__(self) -> bool:
        return True


def is_keras_tensor(x: Any) -> bool:
    return isinstance(x, KerasTensor)
