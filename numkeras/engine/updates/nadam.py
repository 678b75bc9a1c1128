"""Nadam update kernel."""

from __future__ import annotations

import weakref

import numpy as np
from numba import njit

from numkeras.engine.ops.pointers import call_task
from numkeras.engine.updates import task_row
from numkeras.optimizers import Nadam

# optimizer -> (t, u_1 * ... * u_t), so that each step multiplies in one factor.
_U_PRODUCTS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


@njit(cache=True, nogil=True, error_model="numpy")
def nadam_kernel(
    var, grad, m, v, lr, beta_1, beta_2, u_t, u_next, product, product_next, beta_2_power, epsilon
):  # pragma: no cover - compiled
    one = np.float32(1.0)
    one_minus_beta_1 = one - beta_1
    one_minus_beta_2 = one - beta_2
    for i in range(var.size):
        g = grad[i]
        mi = m[i] + (g - m[i]) * one_minus_beta_1
        m[i] = mi
        vi = v[i] + (g * g - v[i]) * one_minus_beta_2
        v[i] = vi
        m_hat = u_next * mi / (one - product_next) + (one - u_t) * g / (one - product)
        v_hat = vi / (one - beta_2_power)
        var[i] -= (m_hat * lr) / (np.sqrt(v_hat) + epsilon)


def _momentum_schedule(beta_1: np.float32, t: int) -> np.float32:
    half, one, decay = np.float32(0.5), np.float32(1.0), np.float32(0.96)
    return np.float32(beta_1 * (one - half * decay ** np.float32(t)))


def _u_product(optimizer: Nadam, beta_1: np.float32, t: int) -> np.float32:
    start, product = _U_PRODUCTS.get(optimizer, (0, np.float32(1.0)))
    if start > t:
        start, product = 0, np.float32(1.0)
    for i in range(start + 1, t + 1):
        product = np.float32(product * _momentum_schedule(beta_1, i))
    _U_PRODUCTS[optimizer] = (t, product)
    return product


def coefficients(optimizer: Nadam, lr: np.float32, step: int) -> tuple:
    # Float32 throughout, as tf-keras computes them.
    beta_1 = np.float32(optimizer.beta_1)
    beta_2 = np.float32(optimizer.beta_2)
    u_t = _momentum_schedule(beta_1, step)
    u_next = _momentum_schedule(beta_1, step + 1)
    product = _u_product(optimizer, beta_1, step)
    product_next = np.float32(product * u_next)
    beta_2_power = beta_2 ** np.float32(step)
    return (
        lr,
        beta_1,
        beta_2,
        u_t,
        u_next,
        product,
        product_next,
        np.float32(beta_2_power),
        np.float32(optimizer.epsilon),
    )


def update(var: np.ndarray, grad: np.ndarray, slots: dict[str, np.ndarray], coeffs: tuple) -> None:
    nadam_kernel(var, grad, slots["m"], slots["v"], *coeffs)


TASK_SLOTS = ("m", "v")


@call_task
def task(row):  # pragma: no cover - compiled
    """:func:`nadam_kernel` on the block of an argument row (``task_row``)."""
    var, grad, c, m, v, _ = task_row.arrays(row)
    nadam_kernel(var, grad, m, v, c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7], c[8])
