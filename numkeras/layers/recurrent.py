"""Recurrent layers: SimpleRNN, LSTM and GRU with Keras 2's arguments and weight layouts.

Every layer has ``kernel`` (input_dim, gates * units), ``recurrent_kernel`` (units,
gates * units) and ``bias``, created under the cell's name (``lstm/lstm_cell/kernel:0``) with the
gates in Keras's order: LSTM ``i, f, c, o``; GRU ``z, r, h``. The engine runs them
(``numkeras.engine.kernels.recurrent``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from numkeras import activations, constraints, initializers, regularizers
from numkeras.layers.layer import Layer


def _positive_units(layer: str, units: Any) -> int:
    try:
        value = int(units)
    except (TypeError, ValueError):
        value = 0
    if isinstance(units, bool) or value <= 0 or value != units:
        raise ValueError(f"{layer}: `units` must be a positive integer, got {units!r}.")
    return value


def _fraction(layer: str, name: str, value: Any) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = -1.0
    if isinstance(value, bool) or not 0.0 <= number <= 1.0:
        raise ValueError(f"{layer}: `{name}` must be a number between 0 and 1, got {value!r}.")
    return number


class RecurrentBase(Layer):
    """What SimpleRNN, LSTM and GRU share: the sequence loop options, states, masks, config.

    Inputs are ``(batch, timesteps, features)``; ``layer(x, initial_state=[...])`` (or a list
    ``[x, *states]``) starts from given states instead of zeros. With ``stateful=True`` the final
    states of a batch are the initial states of the next, until ``reset_states()``.
    """

    supports_masking = True
    gates = 1
    state_count = 1
    cell_name = "cell"

    def __init__(self, units: int, activation: Any, recurrent_activation: Any, use_bias: bool,
                 kernel_initializer: Any, recurrent_initializer: Any, bias_initializer: Any,
                 kernel_regularizer: Any, recurrent_regularizer: Any, bias_regularizer: Any,
                 activity_regularizer: Any, kernel_constraint: Any, recurrent_constraint: Any,
                 bias_constraint: Any, dropout: float, recurrent_dropout: float,
                 return_sequences: bool, return_state: bool, go_backwards: bool, stateful: bool,
                 unroll: bool, time_major: bool, zero_output_for_mask: bool = False,
                 **kwargs: Any) -> None:
        kwargs.pop("cell", None)  # tf-keras configs of RNN subclasses may carry it
        kwargs.pop("seed", None)
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        kind = type(self).__name__
        self.units = _positive_units(kind, units)
        self.activation = activations.get(activation)
        self.recurrent_activation = activations.get(recurrent_activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.recurrent_initializer = initializers.get(recurrent_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.recurrent_regularizer = regularizers.get(recurrent_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.kernel_constraint = constraints.get(kernel_constraint)
        self.recurrent_constraint = constraints.get(recurrent_constraint)
        self.bias_constraint = constraints.get(bias_constraint)
        self.dropout = _fraction(kind, "dropout", dropout)
        self.recurrent_dropout = _fraction(kind, "recurrent_dropout", recurrent_dropout)
        if time_major:
            raise ValueError(f"{kind}: `time_major=True` is not supported; got {time_major!r}.")
        self.time_major = False
        self.return_sequences = bool(return_sequences)
        self.return_state = bool(return_state)
        self.go_backwards = bool(go_backwards)
        self.stateful = bool(stateful)
        self.unroll = bool(unroll)  # accepted for Keras compatibility; the engine loops anyway
        self.zero_output_for_mask = bool(zero_output_for_mask)
        self.states: list[np.ndarray] | None = None
        self.seed: int | None = None  # seed of the dropout masks (not part of the config)
        self._generator = None
        self._batch_size: int | None = None

    # ------------------------------------------------------------------ graph
    def __call__(self, inputs: Any, initial_state: Any = None, **kwargs: Any) -> Any:
        """Calls the layer; ``initial_state`` becomes extra inputs ``[x, *initial_state]``."""
        if kwargs.get("constants") is not None:
            raise ValueError(f"{type(self).__name__}: `constants` are not supported.")
        kwargs.pop("constants", None)
        if initial_state is not None:
            if isinstance(inputs, (list, tuple)):
                raise ValueError(
                    f"{type(self).__name__}: pass initial states either as `initial_state` or "
                    "in the input list, not both."
                )
            states = list(initial_state) if isinstance(initial_state, (list, tuple)) \
                else [initial_state]
            inputs = [inputs, *states]
        if isinstance(inputs, (list, tuple)) and len(inputs) == 1:
            inputs = inputs[0]
        if isinstance(inputs, (list, tuple)) and len(inputs) != 1 + self.state_count:
            raise ValueError(
                f"{type(self).__name__} layer {self.name!r} expects {self.state_count} initial "
                f"state(s), got `initial_state` with {len(inputs) - 1}."
            )
        return super().__call__(inputs, **kwargs)

    def build(self, input_shape: Any) -> None:
        if isinstance(input_shape, list):
            input_shape = input_shape[0]
        input_shape = tuple(input_shape)
        kind = type(self).__name__
        if len(input_shape) != 3 or input_shape[-1] is None:
            raise ValueError(
                f"{kind} layer {self.name!r} expects inputs of shape (batch, timesteps, "
                f"features) with features defined, got input_shape={input_shape}."
            )
        if self.stateful and input_shape[0] is None:
            raise ValueError(
                f"{kind} layer {self.name!r} is stateful, so it needs to know its batch size: "
                "pass `batch_input_shape` (or `batch_shape` to Input); got input_shape="
                f"{input_shape}."
            )
        self._batch_size = input_shape[0]
        gu = self.gates * self.units
        name = self.cell_name
        self.kernel = self.add_weight(f"{name}/kernel", (input_shape[-1], gu),
                                      self.kernel_initializer, self.kernel_regularizer,
                                      self.kernel_constraint)
        self.recurrent_kernel = self.add_weight(
            f"{name}/recurrent_kernel", (self.units, gu), self.recurrent_initializer,
            self.recurrent_regularizer, self.recurrent_constraint)
        self.bias = None
        if self.use_bias:
            self.bias = self.add_weight(f"{name}/bias", self._bias_shape(),
                                        self._bias_init(), self.bias_regularizer,
                                        self.bias_constraint)
        if self.stateful:
            self.reset_states()
        self.built = True

    def _bias_shape(self) -> tuple[int, ...]:
        return (self.gates * self.units,)

    def _bias_init(self) -> Any:
        return self.bias_initializer

    def compute_output_shape(self, input_shape: Any) -> Any:
        if isinstance(input_shape, list):
            input_shape = input_shape[0]
        batch = input_shape[0]
        out = (batch, input_shape[1], self.units) if self.return_sequences \
            else (batch, self.units)
        if self.return_state:
            return [out] + [(batch, self.units)] * self.state_count
        return out

    def compute_mask(self, inputs: Any, mask: Any = None) -> Any:
        if isinstance(mask, list):
            mask = mask[0]
        output_mask = mask if self.return_sequences else None
        if self.return_state:
            return [output_mask] + [None] * self.state_count
        return output_mask

    # ----------------------------------------------------------------- states
    def reset_states(self, states: Any = None) -> None:
        """Sets the carried states of a stateful layer to zeros, or to ``states``.

        A layer that is not stateful carries nothing: without ``states`` this does nothing
        (so ``Model.reset_states`` can call it on every layer).

        Raises:
            ValueError: if ``states`` are given to a layer that is not stateful, or do not fit.
        """
        if not self.stateful:
            if states is None:
                return
            raise ValueError(f"Layer {self.name!r} is not stateful: reset_states(states) needs "
                             "stateful=True.")
        if self._batch_size is None:
            raise ValueError(f"Layer {self.name!r}: reset_states needs a known batch size.")
        shape = (self._batch_size, self.units)
        if states is None:
            self.states = [np.zeros(shape, dtype=self.dtype) for _ in range(self.state_count)]
            return
        values = list(states) if isinstance(states, (list, tuple)) else [states]
        if len(values) != self.state_count:
            raise ValueError(f"Layer {self.name!r} expects {self.state_count} states in "
                             f"reset_states, got {len(values)}.")
        arrays = [np.asarray(v, dtype=self.dtype) for v in values]
        for a in arrays:
            if a.shape != shape:
                raise ValueError(f"Layer {self.name!r}: reset_states expects states of shape "
                                 f"{shape}, got {a.shape}.")
        self.states = [a.copy() for a in arrays]

    # ----------------------------------------------------------------- config
    def get_config(self) -> dict[str, Any]:
        config = {
            **super().get_config(),
            "return_sequences": self.return_sequences,
            "return_state": self.return_state,
            "go_backwards": self.go_backwards,
            "stateful": self.stateful,
            "unroll": self.unroll,
            "time_major": self.time_major,
            "units": self.units,
            "activation": activations.serialize(self.activation),
        }
        if self.gates > 1:
            config["recurrent_activation"] = activations.serialize(self.recurrent_activation)
        config.update({
            "use_bias": self.use_bias,
            "kernel_initializer": initializers.serialize(self.kernel_initializer),
            "recurrent_initializer": initializers.serialize(self.recurrent_initializer),
            "bias_initializer": initializers.serialize(self.bias_initializer),
            "kernel_regularizer": regularizers.serialize(self.kernel_regularizer),
            "recurrent_regularizer": regularizers.serialize(self.recurrent_regularizer),
            "bias_regularizer": regularizers.serialize(self.bias_regularizer),
            "activity_regularizer": regularizers.serialize(self.activity_regularizer),
            "kernel_constraint": constraints.serialize(self.kernel_constraint),
            "recurrent_constraint": constraints.serialize(self.recurrent_constraint),
            "bias_constraint": constraints.serialize(self.bias_constraint),
            "dropout": self.dropout,
            "recurrent_dropout": self.recurrent_dropout,
        })
        if self.zero_output_for_mask:
            config["zero_output_for_mask"] = True
        return config


def _implementation(layer: str, implementation: Any, recurrent_dropout: float) -> int:
    if implementation not in (0, 1, 2) or isinstance(implementation, bool):
        raise ValueError(f"{layer}: `implementation` must be 1 or 2, got {implementation!r}.")
    # As tf-keras: recurrent dropout forces implementation 1 (one dropout mask per gate).
    return 1 if implementation == 0 or recurrent_dropout != 0 else int(implementation)


class SimpleRNN(RecurrentBase):
    """Fully-connected RNN: ``h_t = activation(x_t @ kernel + h_{t-1} @ recurrent_kernel + bias)``.

    Args:
        units: Size of the output and state.
        activation: Activation (default tanh).
        use_bias, kernel_initializer, recurrent_initializer, bias_initializer,
        kernel_regularizer, recurrent_regularizer, bias_regularizer, activity_regularizer,
        kernel_constraint, recurrent_constraint, bias_constraint: As Keras.
        dropout: Fraction of the inputs dropped while training (same mask at every step).
        recurrent_dropout: Fraction of the recurrent state dropped while training.
        return_sequences: Return every step's output ``(batch, timesteps, units)``.
        return_state: Also return the final state(s).
        go_backwards: Process the sequence in reverse (and return it reversed).
        stateful: Carry the final states of a batch over to the next batch.
        unroll: Accepted and ignored.
        time_major: Only False is supported.
    """

    cell_name = "simple_rnn_cell"

    def __init__(self, units: int, activation: Any = "tanh", use_bias: bool = True,
                 kernel_initializer: Any = "glorot_uniform",
                 recurrent_initializer: Any = "orthogonal", bias_initializer: Any = "zeros",
                 kernel_regularizer: Any = None, recurrent_regularizer: Any = None,
                 bias_regularizer: Any = None, activity_regularizer: Any = None,
                 kernel_constraint: Any = None, recurrent_constraint: Any = None,
                 bias_constraint: Any = None, dropout: float = 0.0,
                 recurrent_dropout: float = 0.0, return_sequences: bool = False,
                 return_state: bool = False, go_backwards: bool = False, stateful: bool = False,
                 unroll: bool = False, time_major: bool = False, **kwargs: Any) -> None:
        super().__init__(units, activation, None, use_bias, kernel_initializer,
                         recurrent_initializer, bias_initializer, kernel_regularizer,
                         recurrent_regularizer, bias_regularizer, activity_regularizer,
                         kernel_constraint, recurrent_constraint, bias_constraint, dropout,
                         recurrent_dropout, return_sequences, return_state, go_backwards,
                         stateful, unroll, time_major, **kwargs)
        self.implementation = 1


class LSTM(RecurrentBase):
    """Long Short-Term Memory (Hochreiter 1997) with Keras's gate order ``i, f, c, o``.

    States are ``[h, c]``. Arguments as :class:`SimpleRNN`, plus ``recurrent_activation``
    (default sigmoid), ``unit_forget_bias`` (initialise the forget-gate bias to one) and
    ``implementation`` (1: one dropout mask per gate; 2: one shared mask; forced to 1 when
    ``recurrent_dropout`` is set, as in tf-keras).
    """

    gates = 4
    state_count = 2
    cell_name = "lstm_cell"

    def __init__(self, units: int, activation: Any = "tanh",
                 recurrent_activation: Any = "sigmoid", use_bias: bool = True,
                 kernel_initializer: Any = "glorot_uniform",
                 recurrent_initializer: Any = "orthogonal", bias_initializer: Any = "zeros",
                 unit_forget_bias: bool = True, kernel_regularizer: Any = None,
                 recurrent_regularizer: Any = None, bias_regularizer: Any = None,
                 activity_regularizer: Any = None, kernel_constraint: Any = None,
                 recurrent_constraint: Any = None, bias_constraint: Any = None,
                 dropout: float = 0.0, recurrent_dropout: float = 0.0, implementation: int = 2,
                 return_sequences: bool = False, return_state: bool = False,
                 go_backwards: bool = False, stateful: bool = False, time_major: bool = False,
                 unroll: bool = False, **kwargs: Any) -> None:
        super().__init__(units, activation, recurrent_activation, use_bias, kernel_initializer,
                         recurrent_initializer, bias_initializer, kernel_regularizer,
                         recurrent_regularizer, bias_regularizer, activity_regularizer,
                         kernel_constraint, recurrent_constraint, bias_constraint, dropout,
                         recurrent_dropout, return_sequences, return_state, go_backwards,
                         stateful, unroll, time_major, **kwargs)
        self.unit_forget_bias = bool(unit_forget_bias)
        self.implementation = _implementation("LSTM", implementation, self.recurrent_dropout)

    def _bias_init(self) -> Any:
        if not self.unit_forget_bias:
            return self.bias_initializer
        units, init = self.units, self.bias_initializer

        def forget_bias_one(shape: Any, dtype: Any = None) -> np.ndarray:
            return np.concatenate([np.asarray(init((units,), dtype=dtype)),
                                   np.ones((units,), dtype=dtype),
                                   np.asarray(init((2 * units,), dtype=dtype))])

        return forget_bias_one

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config["unit_forget_bias"] = self.unit_forget_bias
        config["implementation"] = self.implementation
        return config


class GRU(RecurrentBase):
    """Gated Recurrent Unit (Cho 2014) with Keras's gate order ``z, r, h``.

    ``reset_after=True`` (the tf-keras 2 default) applies the reset gate after the recurrent
    product and has a bias of shape ``(2, 3 * units)`` (input bias, recurrent bias);
    ``reset_after=False`` applies it before and has a bias of shape ``(3 * units,)``.
    Other arguments as :class:`LSTM`.
    """

    gates = 3
    cell_name = "gru_cell"

    def __init__(self, units: int, activation: Any = "tanh",
                 recurrent_activation: Any = "sigmoid", use_bias: bool = True,
                 kernel_initializer: Any = "glorot_uniform",
                 recurrent_initializer: Any = "orthogonal", bias_initializer: Any = "zeros",
                 kernel_regularizer: Any = None, recurrent_regularizer: Any = None,
                 bias_regularizer: Any = None, activity_regularizer: Any = None,
                 kernel_constraint: Any = None, recurrent_constraint: Any = None,
                 bias_constraint: Any = None, dropout: float = 0.0,
                 recurrent_dropout: float = 0.0, implementation: int = 2,
                 return_sequences: bool = False, return_state: bool = False,
                 go_backwards: bool = False, stateful: bool = False, unroll: bool = False,
                 time_major: bool = False, reset_after: bool = True, **kwargs: Any) -> None:
        super().__init__(units, activation, recurrent_activation, use_bias, kernel_initializer,
                         recurrent_initializer, bias_initializer, kernel_regularizer,
                         recurrent_regularizer, bias_regularizer, activity_regularizer,
                         kernel_constraint, recurrent_constraint, bias_constraint, dropout,
                         recurrent_dropout, return_sequences, return_state, go_backwards,
                         stateful, unroll, time_major, **kwargs)
        self.reset_after = bool(reset_after)
        self.implementation = _implementation("GRU", implementation, self.recurrent_dropout)

    def _bias_shape(self) -> tuple[int, ...]:
        return (2, 3 * self.units) if self.reset_after else (3 * self.units,)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config["implementation"] = self.implementation
        config["reset_after"] = self.reset_after
        return config
