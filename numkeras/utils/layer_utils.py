"""``model.summary()``: the Keras 2 table of layers, output shapes and parameter counts."""

from __future__ import annotations

from typing import Any


def _shape_text(tensors: list) -> str:
    shapes = [tuple(t.shape) for t in tensors]
    text = [("(" + ", ".join("None" if d is None else str(d) for d in s)
             + ("," if len(s) == 1 else "") + ")") for s in shapes]
    return text[0] if len(text) == 1 else "[" + ", ".join(text) + "]"


def _size_text(count: int) -> str:
    size = float(count * 4)
    for unit in ("Byte", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.2f} {unit}"
        size /= 1024
    return f"{size:.2f} GB"


def print_summary(model: Any, line_length: int | None = None, positions: list[float] | None = None,
                  print_fn: Any = None) -> None:
    """Prints one row per layer; a "Connected to" column when the graph is not a chain."""
    print_fn = print_fn or print
    layers = model.layers
    sequential = all(len(layer._inbound_nodes) <= 1 for layer in layers) and all(
        len(node.input_tensors) <= 1 for layer in layers for node in layer._inbound_nodes)
    if sequential:
        line_length = line_length or 65
        positions = positions or [0.45, 0.85, 1.0]
        headers = ["Layer (type)", "Output Shape", "Param #"]
    else:
        line_length = line_length or 98
        positions = positions or [0.33, 0.55, 0.67, 1.0]
        headers = ["Layer (type)", "Output Shape", "Param #", "Connected to"]
    if positions[-1] <= 1:
        positions = [int(line_length * p) for p in positions]

    def row(fields: list[str]) -> None:
        line = ""
        for i, field in enumerate(fields):
            if i > 0:
                line = line[:-1] + " "
            line += field
            line = line[: positions[i]]
            line += " " * (positions[i] - len(line))
        print_fn(line)

    print_fn(f'Model: "{model.name}"')
    print_fn("_" * line_length)
    row(headers)
    print_fn("=" * line_length)
    for i, layer in enumerate(layers):
        node = layer._inbound_nodes[0] if layer._inbound_nodes else None
        out = _shape_text(node.output_tensors) if node else "multiple"
        count = layer.count_params() if layer.built else 0
        fields = [f"{layer.name} ({type(layer).__name__})", out, str(count)]
        if not sequential:
            connections = []
            for n in layer._inbound_nodes:
                for t in n.input_tensors:
                    src, node_index, tensor_index = t._keras_history
                    connections.append(f"{src.name}[{node_index}][{tensor_index}]")
            fields.append(", ".join(connections))
        row(fields)
        print_fn("=" * line_length if i == len(layers) - 1 else "_" * line_length)
    trainable = sum(int(w.value.size) for w in model.trainable_weights)
    total = model.count_params()
    print_fn(f"Total params: {total:,} ({_size_text(total)})")
    print_fn(f"Trainable params: {trainable:,} ({_size_text(trainable)})")
    print_fn(f"Non-trainable params: {total - trainable:,} ({_size_text(total - trainable)})")
    print_fn("_" * line_length)
