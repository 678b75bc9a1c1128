"""RMSprop update kernel (optionally with momentum and centered)."""

from __future__ import annotations

import numpy as np
from numba import njit

from numkeras.engine.ops.pointers import call_task
from numkeras.engine.updates import task_row
from numkeras.optimizers import RMSprop

_NONE = np.empty(0, dtype=np.float32)


@njit(cache=True, nogil=True, error_model="numpy")
def rmsprop_kernel(
    var, grad, velocity, mom, avg, lr, rho, one_minus_rho, momentum, epsilon, use_momentum, centered
):  # pragma: no cover - compiled
    for i in range(var.size):
        g = grad[i]
        v = rho * velocity[i] + one_minus_rho * (g * g)
        velocity[i] = v
        if centered:
            a = rho * avg[i] + one_minus_rho * g
            avg[i] = a
            denominator = v - a * a + epsilon
        else:
            denominator = v + epsilon
        increment = lr * g / np.sqrt(denominator)
        if use_momentum:
            mo = momentum * mom[i] + increment
            mom[i] = mo
            var[i] -= mo
        else:
            var[i] -= increment


def coefficients(optimizer: RMSprop, lr: np.float32, step: int) -> tuple:
    return (
        lr,
        np.float32(optimizer.rho),
        np.float32(1.0 - optimizer.rho),
        np.float32(optimizer.momentum),
        np.float32(optimizer.epsilon),
        optimizer.momentum > 0,
        optimizer.centered,
    )


def update(var: np.ndarray, grad: np.ndarray, slots: dict[str, np.ndarray], coeffs: tuple) -> None:
    mom = slots.get("momentum", _NONE)
    avg = slots.get("average_gradient", _NONE)
    rmsprop_kernel(var, grad, slots["velocity"], mom, avg, *coeffs)


TASK_SLOTS = ("velocity", "momentum", "average_gradient")


@call_task
def task(row):  # pragma: no cover - compiled
    """:func:`rmsprop_kernel` on the block of an argument row (``task_row``)."""
    var, grad, c, velocity, mom, avg = task_row.arrays(row)
    rmsprop_kernel(var, grad, velocity, mom, avg, c[0], c[1], c[2], c[3], c[4], c[5] != 0,
                   c[6] != 0)
