"""SGD (with momentum) update kernel."""

from __future__ import annotations

import numpy as np
from numba import carray, njit

from numkeras.engine.ops.pointers import array_at, call_task
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
    """:func:`sgd_kernel` on the block an argument row of ``updates`` describes."""
    args = carray(row, 8)
    n = args[0]
    c = array_at(args[3], 3, np.float32)
    sgd_kernel(array_at(args[1], n, np.float32), array_at(args[2], n, np.float32),
               array_at(args[4], n, np.float32), c[0], c[1], c[2] != 0)
