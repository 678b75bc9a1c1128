"""SGD (with momentum) update kernel."""

from __future__ import annotations

import numpy as np
from numba import njit

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
