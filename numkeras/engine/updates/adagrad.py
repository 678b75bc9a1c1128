"""Adagrad update kernel."""

from __future__ import annotations

import numpy as np
from numba import njit

from numkeras.engine.ops.pointers import call_task
from numkeras.engine.updates import task_row
from numkeras.optimizers import Adagrad


@njit(cache=True, nogil=True, error_model="numpy")
def adagrad_kernel(var, grad, accumulator, lr, epsilon):  # pragma: no cover - compiled
    for i in range(var.size):
        g = grad[i]
        acc = accumulator[i] + g * g
        accumulator[i] = acc
        var[i] -= lr * g / np.sqrt(acc + epsilon)


def coefficients(optimizer: Adagrad, lr: np.float32, step: int) -> tuple:
    return lr, np.float32(optimizer.epsilon)


def update(var: np.ndarray, grad: np.ndarray, slots: dict[str, np.ndarray], coeffs: tuple) -> None:
    adagrad_kernel(var, grad, slots["accumulator"], *coeffs)


TASK_SLOTS = ("accumulator",)


@call_task
def task(row):  # pragma: no cover - compiled
    """:func:`adagrad_kernel` on the block of an argument row (``task_row``)."""
    var, grad, c, accumulator, _, _ = task_row.arrays(row)
    adagrad_kernel(var, grad, accumulator, c[0], c[1])
