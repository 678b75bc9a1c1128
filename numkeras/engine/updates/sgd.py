"""SGD (with momentum) update kernel."""

from __future__ import annotations

import numpy as np
from numba import njit

from numkeras.engine.ops.pointers import call_task
from numkeras.engine.updates import task_row
from numkeras.optimizers import SGD


@njit(cache=True, nogil=True, error_model="numpy")
def sgd_kernel(var, grad, m, lr, momentum, nesterov):  # pragma: no cover - compiled
    for i in range(var.size):
        g = grad[i]
        velocity = -g * lr + m[i] * momentum
        m[i] = velocity
        if nesterov:
            var[i] += -g * lr + velocity * momentum
        else:
            var[i] += velocity


def coefficients(optimizer: SGD, lr: np.float32, step: int) -> tuple:
    return lr, np.float32(optimizer.momentum), optimizer.nesterov


def update(var: np.ndarray, grad: np.ndarray, slots: dict[str, np.ndarray], coeffs: tuple) -> None:
    sgd_kernel(var, grad, slots["m"], *coeffs)


TASK_SLOTS = ("m",)


@call_task
def task(row):  # pragma: no cover - compiled
    """:func:`sgd_kernel` on the block of an argument row (``task_row``)."""
    var, grad, c, m, _, _ = task_row.arrays(row)
    sgd_kernel(var, grad, m, c[0], c[1], c[2] != 0)
