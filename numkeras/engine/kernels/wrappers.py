"""TimeDistributed (the wrapped kernel on ``(batch * time, ...)``) and Bidirectional (two
recurrent kernels, the backward one's sequence reversed back, then the merge)."""

from __future__ import annotations

import inspect
from typing import Any

import numpy as np

from numkeras.engine.kernels import forward_of, register
from numkeras.engine.kernels.recurrent import forward as recurrent_forward
from numkeras.layers.wrappers import Bidirectional, TimeDistributed


@register(TimeDistributed)
def time_distributed(layer: TimeDistributed, x: np.ndarray, training: bool,
                     mask: Any = None) -> tuple[np.ndarray, Any]:
    inner = layer.layer
    fn = forward_of(inner)
    batch, steps = x.shape[:2]
    kwargs = {}
    if mask is not None and "mask" in inspect.signature(fn).parameters:
        mask = np.asarray(mask)
        kwargs["mask"] = mask.reshape(batch * steps, *mask.shape[2:])
    y, inner_backward = fn(inner, x.reshape(batch * steps, *x.shape[2:]), training, **kwargs)
    if isinstance(y, list):
        raise ValueError(f"TimeDistributed layer {layer.name!r}: the wrapped layer "
                         f"{inner.name!r} must have one output.")

    def backward(dy: np.ndarray) -> tuple[Any, Any]:
        d_flat, d_weights = inner_backward(dy.reshape(batch * steps, *dy.shape[2:]))
        return (None if d_flat is None else d_flat.reshape(x.shape)), d_weights

    return y.reshape(batch, steps, *y.shape[1:]), backward


def _merge(mode: str | None, yf: np.ndarray, yb: np.ndarray) -> Any:
    if mode == "concat":
        return np.concatenate([yf, yb], axis=-1)
    if mode == "sum":
        return yf + yb
    if mode == "mul":
        return yf * yb
    if mode == "ave":
        return (yf + yb) * 0.5
    return [yf, yb]


def _unmerge(mode: str | None, d: Any, yf: np.ndarray, yb: np.ndarray) -> tuple:
    if mode == "concat":
        n = yf.shape[-1]
        return d[..., :n], d[..., n:]
    if mode == "sum":
        return d, d
    if mode == "mul":
        return d * yb, d * yf
    if mode == "ave":
        return d * 0.5, d * 0.5
    return d[0], d[1]


@register(Bidirectional)
def bidirectional(layer: Bidirectional, inputs: Any, training: bool,
                  mask: Any = None) -> tuple[Any, Any]:
    fwd, bwd = layer.forward_layer, layer.backward_layer
    if isinstance(inputs, (list, tuple)):
        x, states = inputs[0], list(inputs[1:])
        half = len(states) // 2
        f_in: Any = [x, *states[:half]]
        b_in: Any = [x, *states[half:]]
    else:
        x, f_in, b_in = inputs, inputs, inputs
    if isinstance(mask, list):
        mask = mask[0]
    yf, f_backward = recurrent_forward(fwd, f_in, training, mask=mask)
    yb, b_backward = recurrent_forward(bwd, b_in, training, mask=mask)
    sf: list = []
    sb: list = []
    if layer.return_state:
        yf, sf = yf[0], yf[1:]
        yb, sb = yb[0], yb[1:]
    if layer.return_sequences:
        yb = np.ascontiguousarray(yb[:, ::-1])
    merged = _merge(layer.merge_mode, yf, yb)
    outputs: Any = merged
    if layer.return_state:
        outputs = (merged if isinstance(merged, list) else [merged]) + sf + sb
    n_merged = 2 if layer.merge_mode is None else 1

    def backward(d_outputs: Any) -> tuple[Any, list]:
        douts = d_outputs if isinstance(d_outputs, list) else [d_outputs]
        d_merged = douts[0] if n_merged == 1 else douts[:2]
        dyf, dyb = _unmerge(layer.merge_mode, d_merged, yf, yb)
        if layer.return_sequences:
            dyb = dyb[:, ::-1]
        if layer.return_state:
            d_states = douts[n_merged:]
            dyf = [dyf, *d_states[:len(sf)]]
            dyb = [dyb, *d_states[len(sf):]]
        dxf, dwf = f_backward(dyf)
        dxb, dwb = b_backward(dyb)
        if isinstance(dxf, list):
            return [dxf[0] + dxb[0], *dxf[1:], *dxb[1:]], list(dwf) + list(dwb)
        return dxf + dxb, list(dwf) + list(dwb)

    return outputs, backward
