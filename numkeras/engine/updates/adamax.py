"""Adamax update kernel."""

from __future__ import annotations

import numpy as np
from numba import njit

from numkeras.engine.ops.pointers import call_task
from numkeras.engine.updates import task_row
from numkeras.optimizers import Adamax


@njit(cache=True, nogil=True, error_model="numpy")
def adamax_kernel(
    var, grad, m, u, lr, one_minus_beta_1, beta_2, bias_correction, epsilon
):  # pragma: no cover - compiled
    for i in range(var.size):
        g = grad[i]
        mi = m[i] + (g - m[i]) * one_minus_beta_1
        m[i] = mi
        ui = max(beta_2 * u[i], abs(g))
        u[i] = ui
        var[i] -= (lr * mi) / (bias_correction * (ui + epsilon))


def coefficients(optimizer: Adamax, lr: np.float32, step: int) -> tuple:
    beta_1_power = np.float32(optimizer.beta_1) ** np.float32(step)
    return (
        lr,
        np.float32(1.0 - optimizer.beta_1),
        np.float32(optimizer.beta_2),
        np.float32(np.float32(1.0) - beta_1_power),
        np.float32(optimizer.epsilon),
    )


def update(var: np.ndarray, grad: np.ndarray, slots: dict[str, np.ndarray], coeffs: tuple) -> None:
    adamax_kernel(var, grad, slots["m"], slots["u"], *coeffs)


TASK_SLOTS = ("m", "u")


@call_task
def task(row):  # pragma: no cover - compiled
    """:func:`adamax_kernel` on the block of an argument row (``task_row``)."""
    var, grad, c, m, u, _ = task_row.arrays(row)
    adamax_kernel(var, grad, m, u, c[0], c[1], c[2], c[3], c[4])
