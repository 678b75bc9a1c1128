"""Functional: a graph of layers from inputs to outputs (Keras's network topology).

It orders layers and nodes as Keras does, so ``model.layers``, ``get_layer(index=...)``,
``get_weights`` and the Keras 2 JSON config all match Keras.
"""

from __future__ import annotations

import collections
import json
from typing import Any

import numpy as np

from numkeras import backend
from numkeras.graph.keras_tensor import KerasTensor
from numkeras.graph.node import Node, flatten
from numkeras.layers.layer import Layer


def _node_key(layer: Layer, node_index: int) -> str:
    return f"{layer.name}_ib-{node_index}"


def _build_map(outputs: list[KerasTensor]) -> tuple[list[Node], dict[Layer, int]]:
    """Nodes in post-order (inputs first) and each layer's discovery index."""
    finished: set[int] = set()
    in_progress: set[int] = set()
    ordered: list[Node] = []
    layer_indices: dict[Layer, int] = {}

    def visit(tensor: KerasTensor) -> None:
        layer, node_index, _ = tensor._keras_history
        node = layer._inbound_nodes[node_index]
        if id(node) in finished:
            return
        if id(node) in in_progress:
            raise ValueError(
                f"Tensor {tensor.name!r} from layer {layer.name!r} is part of a cycle."
            )
        layer_indices.setdefault(layer, len(layer_indices))
        in_progress.add(id(node))
        for parent in node.input_tensors:
            visit(parent)
        finished.add(id(node))
        in_progress.discard(id(node))
        ordered.append(node)

    for t in outputs:
        visit(t)
    return ordered, layer_indices


class Functional(Layer):
    """A directed acyclic graph of layers with named inputs and outputs."""

    def __init__(self, inputs: Any = None, outputs: Any = None, name: str | None = None,
                 trainable: bool = True, **kwargs: Any) -> None:
        if inputs is None or outputs is None:
            raise ValueError(
                "Model needs both `inputs` and `outputs`: Model(inputs=a, outputs=b) where a "
                "comes from Input() and b from layers called on it."
            )
        super().__init__(name=name or backend.unique_object_name("model"), trainable=trainable,
                         **kwargs)
        self._nested_inputs = inputs
        self._nested_outputs = outputs
        self._input_dict_keys: list[str] | None = None
        if isinstance(inputs, dict):
            self._input_dict_keys = list(inputs.keys())
        self._output_dict_keys = list(outputs.keys()) if isinstance(outputs, dict) else None
        self.inputs: list[KerasTensor] = flatten(inputs)
        self.outputs: list[KerasTensor] = flatten(outputs)
        for role, tensors in (("inputs", self.inputs), ("outputs", self.outputs)):
            for t in tensors:
                if not isinstance(t, KerasTensor):
                    raise ValueError(
                        f"Model {role} must come from `Input` or from layers called on it; "
                        f"found {type(t).__name__}: {t!r}."
                    )
        for t in self.inputs:
            layer = t._keras_history[0]
            if not layer._inbound_nodes[0].is_input:
                raise ValueError(
                    f"Model inputs must come from `Input` (thus holding past layer metadata). "
                    f"Found tensor {t.name!r} produced by layer {layer.name!r}."
                )
        self._map_graph()
        self.built = True
        self.input_names = [t._keras_history[0].name for t in self.inputs]
        self.output_names = [t._keras_history[0].name for t in self.outputs]
        if self._output_dict_keys is not None:
            self.output_names = list(self._output_dict_keys)
        self._input_layers = [t._keras_history[0] for t in self.inputs]
        self._output_layers = [t._keras_history[0] for t in self.outputs]

    # ---------------------------------------------------------------- topology
    def _map_graph(self) -> None:
        ordered, layer_indices = _build_map(self.outputs)
        node_depth: dict[int, int] = {}
        layer_depth: dict[Layer, int] = {}
        nodes_by_id = {id(n): n for n in ordered}
        for node in reversed(ordered):
            depth = node_depth.setdefault(id(node), 0)
            depth = max(depth, layer_depth.get(node.layer, 0))
            layer_depth[node.layer] = depth
            node_depth[id(node)] = depth
            for parent in node.parent_nodes:
                node_depth[id(parent)] = max(depth + 1, node_depth.get(id(parent), 0))
                nodes_by_id[id(parent)] = parent
        for t in self.inputs:
            layer = t._keras_history[0]
            if layer not in layer_depth:
                layer_depth[layer] = 0
                layer_indices[layer] = -1
                node = layer._inbound_nodes[0]
                node_depth[id(node)] = 0
                nodes_by_id[id(node)] = node
        nodes_by_depth: dict[int, list[Node]] = collections.defaultdict(list)
        for node_id, depth in node_depth.items():
            nodes_by_depth[depth].append(nodes_by_id[node_id])
        layers_by_depth: dict[int, list[Layer]] = collections.defaultdict(list)
        for layer, depth in layer_depth.items():
            layers_by_depth[depth].append(layer)
        layers: list[Layer] = []
        for depth in sorted(layers_by_depth, reverse=True):
            layers.extend(sorted(layers_by_depth[depth], key=lambda x: layer_indices[x]))

        computable = {id(t) for t in self.inputs}
        seen_layers: list[str] = []
        self._execution_order: list[Node] = []
        for depth in sorted(nodes_by_depth, reverse=True):
            for node in nodes_by_depth[depth]:
                if node.is_input:
                    if id(node.output_tensors[0]) not in computable:
                        raise ValueError(
                            f"Graph disconnected: cannot obtain value for tensor "
                            f"{node.output_tensors[0].name!r} at layer {node.layer.name!r}. "
                            f"It is an Input that is not among the model's inputs. The "
                            f"following previous layers were accessed without issue: {seen_layers}"
                        )
                    continue
                for t in node.input_tensors:
                    if id(t) not in computable:
                        raise ValueError(
                            f"Graph disconnected: cannot obtain value for tensor {t.name!r} at "
                            f"layer {node.layer.name!r}. The following previous layers were "
                            f"accessed without issue: {seen_layers}"
                        )
                computable.update(id(t) for t in node.output_tensors)
                seen_layers.append(node.layer.name)
                self._execution_order.append(node)
        for t in self.inputs:
            computable.add(id(t))
        names = collections.Counter(layer.name for layer in layers)
        for lname, count in names.items():
            if count != 1:
                raise ValueError(
                    f'The name "{lname}" is used {count} times in the model. All layer names '
                    "should be unique."
                )
        self._layers = layers
        self._network_nodes = {
            _node_key(n.layer, n.layer._inbound_nodes.index(n))
            for n in nodes_by_id.values()
        }

    @property
    def layers(self) -> list[Layer]:
        """Every layer, inputs included, in Keras's order (by depth, then discovery)."""
        return list(self._layers)

    def get_layer(self, name: str | None = None, index: int | None = None) -> Layer:
        """Returns a layer by ``index`` (wins when both are given) or by unique ``name``.

        Raises:
            ValueError: for an index out of range, an unknown name, or neither argument.
        """
        if index is not None:
            if not isinstance(index, (int, np.integer)) or isinstance(index, bool):
                raise ValueError(f"get_layer: index must be an integer, got {index!r}.")
            if not -len(self._layers) <= index < len(self._layers):
                raise ValueError(
                    f"Was asked to retrieve layer at index {index} but model only has "
                    f"{len(self._layers)} layers."
                )
            return self._layers[index]
        if name is not None:
            for layer in self._layers:
                if layer.name == name:
                    return layer
            raise ValueError(
                f"No such layer: {name}. Existing layers are: {[la.name for la in self._layers]}."
            )
        raise ValueError("Provide either a layer name or layer index at `get_layer`.")

    # ----------------------------------------------------------------- weights
    @property
    def trainable_weights(self) -> list:
        if not self.trainable:
            return []
        return _dedup(w for layer in self._layers for w in layer.trainable_weights)

    @property
    def non_trainable_weights(self) -> list:
        if not self.trainable:
            return self.weights
        return _dedup(w for layer in self._layers for w in layer.non_trainable_weights)

    @property
    def weights(self) -> list:
        """Each layer's weights in layer order: the order of ``get_weights``."""
        return _dedup(w for layer in self._layers for w in layer.weights)

    def set_weights(self, weights: list[Any]) -> None:
        params = self.weights
        weights = list(weights)
        if len(params) != len(weights):
            raise ValueError(
                f"You called `set_weights(weights)` on model {self.name!r} with a weight list "
                f"of length {len(weights)}, but the model expects {len(params)} weights."
            )
        for param, value in zip(params, weights, strict=True):
            if param.shape != np.shape(value):
                raise ValueError(
                    f"Weight {param.name!r} has shape {param.shape}, but set_weights received "
                    f"an array of shape {np.shape(value)}."
                )
        for param, value in zip(params, weights, strict=True):
            param.assign(value)

    def count_params(self) -> int:
        return int(sum(int(np.prod(w.shape)) for w in self.weights))

    # -------------------------------------------------------------- as a layer
    def compute_output_shape(self, input_shape: Any) -> Any:
        shapes = [t.shape for t in self.outputs]
        return shapes[0] if len(shapes) == 1 else shapes

    @property
    def input_shape(self) -> Any:
        shapes = [t.shape for t in self.inputs]
        return shapes[0] if len(shapes) == 1 else shapes

    @property
    def output_shape(self) -> Any:
        shapes = [t.shape for t in self.outputs]
        return shapes[0] if len(shapes) == 1 else shapes

    @property
    def input(self) -> Any:
        return self.inputs[0] if len(self.inputs) == 1 else list(self.inputs)

    @property
    def output(self) -> Any:
        return self.outputs[0] if len(self.outputs) == 1 else list(self.outputs)

    # ------------------------------------------------------------------ config
    def get_config(self) -> dict[str, Any]:
        from numkeras import layers as layers_module

        node_map: dict[str, int] = {}
        for layer in self._layers:
            # Keras gives a functional model a node of its own (its construction) at index 0,
            # so the calls of a nested model are numbered from 1 in Keras JSON.
            kept = 1 if isinstance(layer, Functional) else 0
            for i, _node in enumerate(layer._inbound_nodes):
                key = _node_key(layer, i)
                if key in self._network_nodes:
                    node_map[key] = kept if not _node.is_input else 0
                    kept += 1
        layer_configs = []
        for layer in self._layers:
            inbound = []
            for i, node in enumerate(layer._inbound_nodes):
                if _node_key(layer, i) in self._network_nodes and not node.is_input:
                    inbound.append(node.serialize(node_map))
            entry = layers_module.serialize(layer)
            entry["name"] = layer.name
            entry["inbound_nodes"] = inbound
            layer_configs.append(entry)

        def refs(tensors: list[KerasTensor]) -> list:
            out = []
            for t in tensors:
                layer, node_index, tensor_index = t._keras_history
                out.append([layer.name, node_map.get(_node_key(layer, node_index), 0),
                            tensor_index])
            return out

        input_refs: Any = refs(self.inputs)
        output_refs: Any = refs(self.outputs)
        if self._input_dict_keys is not None:
            input_refs = dict(zip(self._input_dict_keys, input_refs, strict=True))
        if self._output_dict_keys is not None:
            output_refs = dict(zip(self._output_dict_keys, output_refs, strict=True))
        return {"name": self.name, "layers": layer_configs, "input_layers": input_refs,
                "output_layers": output_refs}

    @classmethod
    def from_config(cls, config: dict[str, Any], custom_objects: Any = None) -> Functional:
        """Rebuilds a model from its Keras 2 (or tf.keras ``Functional``) config."""
        from numkeras import layers as layers_module

        if not isinstance(config, dict) or "layers" not in config:
            raise ValueError("Model config must be a dict with a 'layers' list.")
        created: dict[str, Layer] = {}
        pending: list[tuple[Layer, list]] = []
        for layer_data in config["layers"]:
            layer = layers_module.deserialize(layer_data, custom_objects=custom_objects)
            lname = layer_data.get("name") or layer.name
            created[lname] = layer
            nodes = layer_data.get("inbound_nodes") or []
            pending.append((layer, [_normalize_node(n, lname) for n in nodes]))

        def tensor_of(ref: list, consumer: str) -> KerasTensor | None:
            lname, node_index, tensor_index = ref[0], ref[1], ref[2]
            if lname not in created:
                raise ValueError(f"Layer {consumer!r} refers to an unknown layer {lname!r}.")
            layer = created[lname]
            if isinstance(layer, Functional):
                node_index -= 1  # Keras numbers a nested model's calls from 1 (see get_config)
            if not 0 <= node_index < len(layer._inbound_nodes):
                return None
            return layer._inbound_nodes[node_index].output_tensors[tensor_index]

        progress = True
        while pending and progress:
            progress = False
            remaining = []
            for layer, nodes in pending:
                while nodes:
                    refs_data = nodes[0]
                    tensors = [tensor_of(r, layer.name) for r in refs_data]
                    if any(t is None for t in tensors):
                        break
                    kwargs = refs_data[0][3] if refs_data and len(refs_data[0]) > 3 else {}
                    layer(tensors[0] if len(tensors) == 1 else tensors, **(kwargs or {}))
                    nodes.pop(0)
                    progress = True
                if nodes:
                    remaining.append((layer, nodes))
            pending = remaining
        if pending:
            raise ValueError(
                "Model config is not a valid graph: could not connect layers "
                f"{[layer.name for layer, _ in pending]} (dangling or cyclic references)."
            )

        def resolve(refs_data: Any) -> Any:
            if isinstance(refs_data, dict):
                return {k: resolve(v) for k, v in refs_data.items()}
            if refs_data and isinstance(refs_data[0], str):
                return tensor_of(refs_data, config.get("name", "model"))
            return [resolve(r) for r in refs_data]

        inputs = resolve(config["input_layers"])
        outputs = resolve(config["output_layers"])
        if isinstance(inputs, list) and len(inputs) == 1:
            inputs = inputs[0]
        if isinstance(outputs, list) and len(outputs) == 1:
            outputs = outputs[0]
        return cls(inputs=inputs, outputs=outputs, name=config.get("name"),
                   trainable=config.get("trainable", True))

    @classmethod
    def from_model_config(cls, config: Any, custom_objects: Any = None) -> Functional:
        """``{"class_name": "Model" | "Functional", "config": {...}}`` -> a model of ``cls``.

        Raises:
            ValueError: for a malformed config or another model class.
        """
        if not isinstance(config, dict) or "config" not in config:
            raise ValueError("model_from_config expects a dict with 'class_name' and 'config'.")
        class_name = config.get("class_name")
        if class_name not in ("Model", "Functional"):
            raise ValueError(
                f"Unknown model class {class_name!r}: numkeras builds functional models "
                "('Model' / 'Functional')."
            )
        return cls.from_config(config["config"], custom_objects=custom_objects)

    @classmethod
    def from_json(cls, json_string: str, custom_objects: Any = None) -> Functional:
        """Parses Keras 2 (or tf.keras) model JSON, as ``models.model_from_json`` does."""
        try:
            config = json.loads(json_string)
        except (TypeError, json.JSONDecodeError) as e:
            raise ValueError(f"model_from_json: not valid JSON: {e}") from None
        return cls.from_model_config(config, custom_objects=custom_objects)

    def to_json(self, **kwargs: Any) -> str:
        """The Keras 2 JSON of the architecture (``model_from_json`` reads it back)."""
        from numkeras import __version__

        return json.dumps({"class_name": "Model", "config": self.get_config(),
                           "keras_version": "2.15.0", "backend": "tensorflow",
                           "numkeras_version": __version__}, default=_json_default, **kwargs)

    # ----------------------------------------------------------------- summary
    def summary(self, line_length: int | None = None, positions: list[float] | None = None,
                print_fn: Any = None, expand_nested: bool = False,
                show_trainable: bool = False) -> None:
        """Prints the layer table, parameter counts and the trainable split, as Keras 2."""
        from numkeras.utils.layer_utils import print_summary

        print_summary(self, line_length=line_length, positions=positions, print_fn=print_fn)


def _dedup(weights: Any) -> list:
    seen: set[int] = set()
    out = []
    for w in weights:
        if id(w) not in seen:
            seen.add(id(w))
            out.append(w)
    return out


def _normalize_node(node: Any, lname: str) -> list:
    """Accepts Keras 2 node lists and tf.keras 2.13+'s ``{"args", "kwargs"}`` dicts."""
    if isinstance(node, dict):
        raise ValueError(
            f"Layer {lname!r}: Keras 3 style inbound nodes are not supported; save the model "
            "with Keras 2 (tf.keras / tf_keras)."
        )
    if not isinstance(node, list):
        raise ValueError(f"Layer {lname!r}: malformed inbound node {node!r}.")
    out = []
    for ref in node:
        if not isinstance(ref, list) or len(ref) < 3 or not isinstance(ref[0], str):
            raise ValueError(f"Layer {lname!r}: malformed inbound node reference {ref!r}.")
        out.append(ref)
    return out


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating):
        return float(obj)
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, tuple):
        return list(obj)
    raise TypeError(f"Not JSON serializable: {obj!r}")
