"""Adam (and AMSGrad) update kernel."""

from __future__ import annotations

import numpy as np
from numba import njit

from numkeras.engine.ops.pointers import call_task
from numkeras.engine.updates import task_row
from numkeras.optimizers import Adam

_NONE = np.empty(0, dtype=np.float32)


@njit(cache=True, nogil=True, error_model="numpy")
def adam_kernel(
    var, grad, m, v, vhat, alpha, one_minus_beta_1, one_minus_beta_2, epsilon_hat, amsgrad
):  # pragma: no cover - compiled
    for i in range(var.size):
        g = grad[i]
        mi = m[i] + (g - m[i]) * one_minus_beta_1
        m[i] = mi
        vi = v[i] + (g * g - v[i]) * one_minus_beta_2
        v[i] = vi
        if amsgrad:
            vi = max(vhat[i], vi)
            vhat[i] = vi
        var[i] -= (mi * alpha) / (np.sqrt(vi) + epsilon_hat)


def coefficients(optimizer: Adam, lr: np.float32, step: int) -> tuple:
    # As tf-keras: the powers and the step size are float32 computations.
    t = np.float32(step)
    one = np.float32(1.0)
    beta_1_power = np.float32(optimizer.beta_1) ** t
    beta_2_power = np.float32(optimizer.beta_2) ** t
    alpha = lr * np.sqrt(one - beta_2_power) / (one - beta_1_power)
    epsilon_hat = np.float32(optimizer.epsilon)
    if optimizer.adaptive_epsilon:
        epsilon_hat = epsilon_hat * np.sqrt(one - beta_2_power)
    return (
        np.float32(alpha),
        np.float32(1.0 - optimizer.beta_1),
        np.float32(1.0 - optimizer.beta_2),
        np.float32(epsilon_hat),
        optimizer.amsgrad,
    )


def update(var: np.ndarray, grad: np.ndarray, slots: dict[str, np.ndarray], coeffs: tuple) -> None:
    adam_kernel(var, grad, slots["m"], slots["v"], slots.get("vhat", _NONE), *coeffs)


TASK_SLOTS = ("m", "v", "vhat")


@call_task
def task(row):  # pragma: no cover - compiled
    """:func:`adam_kernel` on the block of an argument row (``task_row``)."""
    var, grad, c, m, v, vhat = task_row.arrays(row)
    adam_kernel(var, grad, m, v, vhat, c[0], c[1], c[2], c[3], c[4] != 0)
