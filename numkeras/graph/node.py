"""Node: one call of a layer on symbolic inputs, linking producing and consuming layers."""

from __future__ import annotations

from typing import Any

from numkeras.graph.keras_tensor import KerasTensor


def flatten(structure: Any) -> list:
    """Flattens lists, tuples and dicts (dicts by their insertion order) into a list."""
    if isinstance(structure, dict):
        return [leaf for value in structure.values() for leaf in flatten(value)]
    if isinstance(structure, (list, tuple)):
        return [leaf for item in structure for leaf in flatten(item)]
    return [structure]


def _shape_of(tensors: list[KerasTensor]) -> Any:
    shapes = [t.shape for t in tensors]
    return shapes[0] if len(shapes) == 1 else shapes


class Node:
    """A layer called on ``input_tensors`` with ``call_kwargs``, producing ``output_tensors``."""

    def __init__(self, layer: Any, input_tensors: list[KerasTensor],
                 output_tensors: list[KerasTensor], call_kwargs: dict[str, Any] | None = None,
                 input_structure: str = "single") -> None:
        self.layer = layer
        self.input_tensors = input_tensors
        self.output_tensors = output_tensors
        self.call_kwargs = call_kwargs or {}
        # "single" when the layer was called on one tensor, "list" for a list of tensors.
        self.input_structure = input_structure
        self.is_input = not input_tensors
        layer._inbound_nodes.append(self)
        for t in input_tensors:
            t._keras_history[0]._outbound_nodes.append(self)

    @property
    def parent_nodes(self) -> list[Node]:
        return [t.node for t in self.input_tensors]

    @property
    def inbound_layers(self) -> list[Any]:
        return [t._keras_history[0] for t in self.input_tensors]

    def unpack_inputs(self, values: list) -> Any:
        """Returns ``values`` in the structure the layer was called with."""
        return values[0] if self.input_structure == "single" else list(values)

    @classmethod
    def create(cls, layer: Any, inputs: Any, call_kwargs: dict[str, Any]) -> Any:
        """Calls ``layer`` symbolically: builds it, infers shapes, records the node."""
        input_tensors = flatten(inputs)
        for t in input_tensors:
            if not isinstance(t, KerasTensor):
                raise ValueError(
                    f"Layer {layer.name!r} was called with an input that isn't a symbolic "
                    f"tensor (got {type(t).__name__}). Layers are connected by calling them on "
                    "the output of Input() or of other layers; to compute on arrays, build a "
                    "Model and call predict."
                )
        structure = "single" if isinstance(inputs, KerasTensor) else "list"
        input_shape = _shape_of(input_tensors) if structure == "single" else \
            [t.shape for t in input_tensors]
        layer._maybe_build(input_shape)
        output_shape = layer.compute_output_shape(input_shape)
        multi = isinstance(output_shape, list)
        shapes = output_shape if multi else [output_shape]
        dtype = layer.compute_output_dtype(input_tensors[0].dtype if input_tensors else None)
        node_index = len(layer._inbound_nodes)
        outputs = [
            KerasTensor(tuple(s), dtype=dtype,
                        name=f"{layer.name}/out:{i}" if multi else f"{layer.name}/out",
                        keras_history=(layer, node_index, i))
            for i, s in enumerate(shapes)
        ]
        cls(layer, input_tensors, outputs, dict(call_kwargs), structure)
        return outputs if multi else outputs[0]

    def serialize(self, node_conversion_map: dict[str, int]) -> list:
        """``[[layer_name, node_index, tensor_index, kwargs], ...]`` (Keras 2 JSON)."""
        data = []
        kwargs = {k: v for k, v in self.call_kwargs.items() if _jsonable(v)}
        for t in self.input_tensors:
            layer, node_index, tensor_index = t._keras_history
            key = f"{layer.name}_ib-{node_index}"
            data.append([layer.name, node_conversion_map.get(key, 0), tensor_index, kwargs])
        return data


def _jsonable(value: Any) -> bool:
    return value is None or isinstance(value, (bool, int, float, str, list, tuple, dict))
