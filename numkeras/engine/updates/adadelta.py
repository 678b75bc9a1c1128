"""Adadelta update kernel."""

from __future__ import annotations

import numpy as np
from numba import njit

from numkeras.engine.ops.pointers import call_task
from numkeras.engine.updates import task_row
from numkeras.optimizers import Adadelta


@njit(cache=True, nogil=True, error_model="numpy")
def adadelta_kernel(
    var, grad, accumulated_grad, accumulated_delta_var, lr, rho, one_minus_rho, epsilon
):  # pragma: no cover - compiled
    for i in range(var.size):
        g = grad[i]
        ag = rho * accumulated_grad[i] + one_minus_rho * (g * g)
        accumulated_grad[i] = ag
        delta = -np.sqrt(accumulated_delta_var[i] + epsilon) * g / np.sqrt(ag + epsilon)
        accumulated_delta_var[i] = rho * accumulated_delta_var[i] + one_minus_rho * delta * delta
        var[i] += lr * delta


def coefficients(optimizer: Adadelta, lr: np.float32, step: int) -> tuple:
    rho = optimizer.rho
    return lr, np.float32(rho), np.float32(1.0 - rho), np.float32(optimizer.epsilon)


def update(var: np.ndarray, grad: np.ndarray, slots: dict[str, np.ndarray], coeffs: tuple) -> None:
    adadelta_kernel(var, grad, slots["accumulated_grad"], slots["accumulated_delta_var"], *coeffs)


TASK_SLOTS = ("accumulated_grad", "accumulated_delta_var")


@call_task
def task(row):  # pragma: no cover - compiled
    """:func:`adadelta_kernel` on the block of an argument row (``task_row``)."""
    var, grad, c, accumulated_grad, accumulated_delta_var, _ = task_row.arrays(row)
    adadelta_kernel(var, grad, accumulated_grad, accumulated_delta_var, c[0], c[1], c[2], c[3])
