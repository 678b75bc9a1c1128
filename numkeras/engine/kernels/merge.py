"""Merge layers: element-wise combinations with Keras broadcasting, Concatenate and Dot."""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from numkeras.engine.kernels import register
from numkeras.layers.merge import (
    Add,
    Average,
    Concatenate,
    Dot,
    Maximum,
    Minimum,
    Multiply,
    Subtract,
)


def _expand(xs: list[np.ndarray]) -> list[np.ndarray]:
    """Gives lower-rank inputs new axes right after the batch axis, as Keras does."""
    rank = max(x.ndim for x in xs)
    return [x.reshape(x.shape[:1] + (1,) * (rank - x.ndim) + x.shape[1:]) for x in xs]


def _unbroadcast(g: np.ndarray, expanded: np.ndarray, original: np.ndarray) -> np.ndarray:
    """Sums ``g`` over the axes ``expanded`` was broadcast along, in ``original``'s shape."""
    axes = tuple(i for i, (n, m) in enumerate(zip(g.shape, expanded.shape, strict=True))
                 if m == 1 and n != 1)
    if axes:
        g = g.sum(axis=axes, keepdims=True)
    return g.reshape(original.shape)


def _elementwise(combine: Any, grads: Any) -> Any:
    """A kernel from ``combine(xs) -> y`` and ``grads(xs, y, dy) -> [dx per input]``."""

    def forward(layer: Any, inputs: list[np.ndarray], training: bool) -> tuple[Any, Any]:
        xs = _expand(list(inputs))
        y = combine(xs)

        def backward(dy: np.ndarray) -> tuple[list[np.ndarray], list]:
            return [_unbroadcast(g, e, x) for g, e, x in
                    zip(grads(xs, y, dy), xs, inputs, strict=True)], []

        return y, backward

    return forward


def _product_of_others(xs: list[np.ndarray], i: int, dy: np.ndarray) -> np.ndarray:
    return functools.reduce(np.multiply, [x for j, x in enumerate(xs) if j != i], dy)


def _first_winner_grads(xs: list[np.ndarray], y: np.ndarray, dy: np.ndarray) -> list:
    # TF's maximum/minimum send a tie's gradient to the earlier input of the chain.
    free = np.ones(y.shape, dtype=bool)
    grads = []
    for x in xs:
        wins = free & (x == y)
        free &= ~wins
        grads.append(np.where(wins, dy, dy.dtype.type(0)))
    return grads


add = register(Add)(_elementwise(
    lambda xs: functools.reduce(np.add, xs), lambda xs, y, dy: [dy] * len(xs)))
subtract = register(Subtract)(_elementwise(
    lambda xs: xs[0] - xs[1], lambda xs, y, dy: [dy, -dy]))
multiply = register(Multiply)(_elementwise(
    lambda xs: functools.reduce(np.multiply, xs),
    lambda xs, y, dy: [_product_of_others(xs, i, dy) for i in range(len(xs))]))
maximum = register(Maximum)(_elementwise(
    lambda xs: functools.reduce(np.maximum, xs), _first_winner_grads))
minimum = register(Minimum)(_elementwise(
    lambda xs: functools.reduce(np.minimum, xs), _first_winner_grads))


def _average_grads(xs: list[np.ndarray], y: np.ndarray, dy: np.ndarray) -> list:
    g = dy / dy.dtype.type(len(xs))
    return [g] * len(xs)


average = register(Average)(_elementwise(
    lambda xs: functools.reduce(np.add, xs) / xs[0].dtype.type(len(xs)), _average_grads))


@register(Concatenate)
def concatenate(layer: Concatenate, inputs: list[np.ndarray], training: bool) -> tuple[Any, Any]:
    axis = layer.axis % inputs[0].ndim
    y = np.concatenate(inputs, axis=axis)
    splits = np.cumsum([x.shape[axis] for x in inputs])[:-1]

    def backward(dy: np.ndarray) -> tuple[list[np.ndarray], list]:
        return [np.ascontiguousarray(g) for g in np.split(dy, splits, axis=axis)], []

    return y, backward


def _l2_normalize(x: np.ndarray, axis: int) -> tuple[np.ndarray, Any]:
    """``x / sqrt(max(sum(x^2), 1e-12))`` along ``axis`` (tf.linalg.l2_normalize) and its
    backward."""
    square_sum = np.sum(x * x, axis=axis, keepdims=True)
    inv = 1.0 / np.sqrt(np.maximum(square_sum, x.dtype.type(1e-12)))
    inv = inv.astype(x.dtype, copy=False)
    y = x * inv

    def backward(dy: np.ndarray) -> np.ndarray:
        inside = square_sum > 1e-12  # the clamp has no gradient
        proj = np.sum(dy * y, axis=axis, keepdims=True) * inside
        return inv * (dy - y * proj)

    return y, backward


@register(Dot)
def dot(layer: Dot, inputs: list[np.ndarray], training: bool) -> tuple[Any, Any]:
    x1, x2 = inputs
    a1, a2 = layer.resolved_axes((x1.ndim, x2.ndim))
    back1 = back2 = None
    if layer.normalize:
        x1, back1 = _l2_normalize(x1, a1)
        x2, back2 = _l2_normalize(x2, a2)
    batch, k = x1.shape[0], x1.shape[a1]
    left = np.moveaxis(x1, a1, -1)  # (batch, rest1..., k)
    right = np.moveaxis(x2, a2, 1)  # (batch, k, rest2...)
    left_m = left.reshape(batch, -1, k)
    right_m = right.reshape(batch, k, -1)
    out = np.matmul(left_m, right_m)
    out_shape = left.shape[:-1] + right.shape[2:]
    y = out.reshape(out_shape if len(out_shape) > 1 else (batch, 1))

    def backward(dy: np.ndarray) -> tuple[list[np.ndarray], list]:
        d = dy.reshape(out.shape)
        d_left = np.matmul(d, right_m.transpose(0, 2, 1)).reshape(left.shape)
        d_right = np.matmul(left_m.transpose(0, 2, 1), d).reshape(right.shape)
        d1 = np.moveaxis(d_left, -1, a1)
        d2 = np.moveaxis(d_right, 1, a2)
        if back1 is not None:
            d1, d2 = back1(d1), back2(d2)
        return [np.ascontiguousarray(d1), np.ascontiguousarray(d2)], []

    return y, backward
