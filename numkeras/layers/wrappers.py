"""Layer wrappers: TimeDistributed and Bidirectional."""

from __future__ import annotations

import copy
from typing import Any

from numkeras.layers.layer import Layer
from numkeras.layers.recurrent import RecurrentBase

_MERGE_MODES = ("concat", "sum", "mul", "ave", None)


def _deserialize_layer(config: Any, custom_objects: Any = None) -> Layer:
    from numkeras import layers  # the layer registry imports this module

    return layers.deserialize(config, custom_objects=custom_objects)


def _serialize_layer(layer: Layer) -> dict[str, Any]:
    return {"class_name": type(layer).__name__, "config": layer.get_config()}


class Wrapper(Layer):
    """A layer that runs another layer: its weights are the wrapped layer's."""

    def __init__(self, layer: Layer, **kwargs: Any) -> None:
        if not isinstance(layer, Layer):
            raise ValueError(
                f"{type(self).__name__}: `layer` must be a Layer instance, got {layer!r}."
            )
        super().__init__(**kwargs)
        self.layer = layer

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "layer": _serialize_layer(self.layer)}

    @classmethod
    def from_config(cls, config: dict[str, Any], custom_objects: Any = None) -> Layer:
        config = copy.deepcopy(config)
        config["layer"] = _deserialize_layer(config["layer"], custom_objects)
        return cls(**config)


class TimeDistributed(Wrapper):
    """Applies ``layer`` to every temporal slice of an input ``(batch, time, ...)``.

    The engine runs the wrapped layer once on ``(batch * time, ...)``.

    Args:
        layer: The layer to apply at every step.
    """

    supports_masking = True

    def build(self, input_shape: Any) -> None:
        if isinstance(input_shape, list) or len(input_shape) < 3:
            raise ValueError(
                f"TimeDistributed layer {self.name!r} expects one input of rank >= 3 "
                f"(batch, time, ...), got input_shape={input_shape}."
            )
        self.layer._maybe_build((input_shape[0], *tuple(input_shape[2:])))
        self._weights = self.layer._weights
        prefix = f"{self.layer.name}/"
        for weight in self._weights:  # Keras names them time_distributed/kernel:0
            if weight.name.startswith(prefix):
                weight.name = f"{self.name}/{weight.name[len(prefix):]}"
        self.built = True

    def compute_output_shape(self, input_shape: Any) -> Any:
        inner = self.layer.compute_output_shape((input_shape[0], *tuple(input_shape[2:])))
        if isinstance(inner, list):
            raise ValueError(
                f"TimeDistributed layer {self.name!r}: the wrapped layer must have one output."
            )
        return (input_shape[0], input_shape[1], *tuple(inner[1:]))

    def compute_mask(self, inputs: Any, mask: Any = None) -> Any:
        return mask


class Bidirectional(Wrapper):
    """Runs a recurrent layer forwards and a copy of it backwards, and merges the outputs.

    Weights are the forward layer's, then the backward layer's.

    Args:
        layer: A SimpleRNN, LSTM or GRU instance; the forward and backward layers are rebuilt
            from its config and named ``forward_<name>`` and ``backward_<name>``.
        merge_mode: ``"concat"``, ``"sum"``, ``"mul"``, ``"ave"`` or None (a list of both).
        backward_layer: Optional layer for the backward direction, with ``go_backwards``
            opposite to ``layer``'s and the same ``return_sequences``, ``return_state`` and
            ``stateful``.
    """

    supports_masking = True

    def __init__(self, layer: Layer, merge_mode: str | None = "concat",
                 backward_layer: Layer | None = None, **kwargs: Any) -> None:
        if not isinstance(layer, RecurrentBase):
            raise ValueError(
                f"Bidirectional: `layer` must be a SimpleRNN, LSTM or GRU instance, got "
                f"{layer!r}."
            )
        if merge_mode not in _MERGE_MODES:
            raise ValueError(
                f"Bidirectional: invalid `merge_mode` {merge_mode!r}; it should be one of "
                "'concat', 'sum', 'mul', 'ave' or None."
            )
        super().__init__(layer, **kwargs)
        self.merge_mode = merge_mode
        self._backward_layer_config = None
        config = layer.get_config()
        config["name"] = "forward_" + layer.name
        self.forward_layer = type(layer).from_config(config)
        if backward_layer is None:
            config = layer.get_config()
            config["go_backwards"] = not config["go_backwards"]
            config["name"] = "backward_" + layer.name
            self.backward_layer = type(layer).from_config(config)
        else:
            if not isinstance(backward_layer, RecurrentBase):
                raise ValueError(
                    "Bidirectional: `backward_layer` must be a SimpleRNN, LSTM or GRU "
                    f"instance, got {backward_layer!r}."
                )
            if backward_layer.go_backwards == layer.go_backwards:
                raise ValueError(
                    "Bidirectional: `backward_layer.go_backwards` must be the opposite of "
                    f"`layer.go_backwards`, got {backward_layer.go_backwards!r} for both."
                )
            for attr in ("return_sequences", "return_state", "stateful"):
                if getattr(backward_layer, attr) != getattr(layer, attr):
                    raise ValueError(
                        f"Bidirectional: `backward_layer.{attr}` "
                        f"({getattr(backward_layer, attr)!r}) must equal `layer.{attr}` "
                        f"({getattr(layer, attr)!r})."
                    )
            self.backward_layer = backward_layer
            self._backward_layer_config = _serialize_layer(backward_layer)
        self.return_sequences = layer.return_sequences
        self.return_state = layer.return_state
        self.stateful = layer.stateful
        for sub in (self.forward_layer, self.backward_layer):
            sub.zero_output_for_mask = self.return_sequences  # as tf-keras

    def __call__(self, inputs: Any, initial_state: Any = None, **kwargs: Any) -> Any:
        """Calls the layer; ``initial_state`` lists the forward states, then the backward ones."""
        if initial_state is not None:
            states = list(initial_state) if isinstance(initial_state, (list, tuple)) \
                else [initial_state]
            if isinstance(inputs, (list, tuple)):
                raise ValueError("Bidirectional: pass initial states either as "
                                 "`initial_state` or in the input list, not both.")
            inputs = [inputs, *states]
        if isinstance(inputs, (list, tuple)) and len(inputs) != 1 + 2 * self.layer.state_count:
            raise ValueError(
                f"Bidirectional layer {self.name!r} expects {2 * self.layer.state_count} "
                f"initial states (forward then backward), got {len(inputs) - 1}."
            )
        return super().__call__(inputs, **kwargs)

    def build(self, input_shape: Any) -> None:
        x_shape = input_shape[0] if isinstance(input_shape, list) else input_shape
        self.forward_layer._maybe_build(x_shape)
        self.backward_layer._maybe_build(x_shape)
        self._weights = self.forward_layer._weights + self.backward_layer._weights
        for weight in self._weights:  # Keras: bidirectional/forward_lstm/lstm_cell/kernel:0
            if not weight.name.startswith(f"{self.name}/"):
                weight.name = f"{self.name}/{weight.name}"
        self.built = True

    def compute_output_shape(self, input_shape: Any) -> Any:
        shape = self.forward_layer.compute_output_shape(input_shape)
        back = self.backward_layer.compute_output_shape(input_shape)
        states: list = []
        if self.return_state:
            states = list(shape[1:]) + list(back[1:])
            shape, back = shape[0], back[0]
        if self.merge_mode == "concat":
            out: Any = (*tuple(shape[:-1]), shape[-1] + back[-1])
        elif self.merge_mode is None:
            out = [tuple(shape), tuple(back)]
        else:
            out = tuple(shape)
        if self.return_state:
            return (out if isinstance(out, list) else [out]) + states
        return out

    def compute_mask(self, inputs: Any, mask: Any = None) -> Any:
        if isinstance(mask, list):
            mask = mask[0]
        output_mask: Any = mask if self.return_sequences else None
        if self.merge_mode is None:
            output_mask = [output_mask, output_mask]
        if self.return_state:
            state_masks = [None] * (2 * self.layer.state_count)
            return (output_mask if isinstance(output_mask, list) else [output_mask]) \
                + state_masks
        return output_mask

    def reset_states(self, states: Any = None) -> None:
        """Resets the states of both directions (``states``: forward ones, then backward)."""
        if not self.stateful and states is None:
            return
        if states is None:
            self.forward_layer.reset_states()
            self.backward_layer.reset_states()
            return
        half = len(states) // 2
        self.forward_layer.reset_states(states[:half])
        self.backward_layer.reset_states(states[half:])

    def get_config(self) -> dict[str, Any]:
        config = {**super().get_config(), "merge_mode": self.merge_mode}
        if self._backward_layer_config is not None:
            config["backward_layer"] = _serialize_layer(self.backward_layer)
        return config

    @classmethod
    def from_config(cls, config: dict[str, Any], custom_objects: Any = None) -> Layer:
        config = copy.deepcopy(config)
        config.pop("num_constants", None)
        config["layer"] = _deserialize_layer(config["layer"], custom_objects)
        if config.get("backward_layer") is not None:
            config["backward_layer"] = _deserialize_layer(config["backward_layer"],
                                                          custom_objects)
        return cls(**config)
