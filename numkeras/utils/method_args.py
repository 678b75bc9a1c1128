"""Checks of the Keras Model methods' arguments, shared by the engine and the client.

Each raises a ValueError that names the argument and the bad value.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from numkeras import callbacks as callbacks_module


def check_int(value: Any, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"`{name}` must be an integer, got {value!r}.")
    if value < minimum:
        raise ValueError(f"`{name}` must be >= {minimum}, got {value}.")
    return int(value)


def check_batch_size(batch_size: Any) -> int | None:
    if batch_size is None:
        return None
    return check_int(batch_size, "batch_size", minimum=1)


def check_verbose(verbose: Any, method: str) -> int:
    if verbose == "auto":
        return 1
    if isinstance(verbose, bool) or verbose not in (0, 1, 2):
        raise ValueError(f"{method}: verbose must be 0, 1 or 2, got {verbose!r}.")
    return int(verbose)


def check_callbacks(callbacks: Any) -> list:
    """``callbacks`` as a list of Callback instances (one instance is accepted too)."""
    if callbacks is None:
        return []
    if isinstance(callbacks, callbacks_module.Callback):
        return [callbacks]
    if not isinstance(callbacks, (list, tuple)):
        raise ValueError(f"callbacks must be a list of Callback instances, got "
                         f"{type(callbacks).__name__}.")
    for cb in callbacks:
        if not isinstance(cb, callbacks_module.Callback):
            raise ValueError(f"callbacks must be Callback instances, got {type(cb).__name__}.")
    return list(callbacks)


def validation_schedule(validation_freq: Any) -> Callable[[int], bool]:
    """Whether to validate after epoch ``n`` (1-based): every k-th, or the listed epochs."""
    if isinstance(validation_freq, (list, tuple, set, frozenset)):
        epochs = set(validation_freq)
        return lambda epoch: epoch in epochs
    if isinstance(validation_freq, bool) or not isinstance(validation_freq, (int, np.integer)):
        raise ValueError(f"validation_freq should be an integer or a list of epochs, got "
                         f"{validation_freq!r}.")
    if validation_freq < 1:
        raise ValueError(f"validation_freq must be >= 1, got {validation_freq}.")
    freq = int(validation_freq)
    return lambda epoch: epoch % freq == 0
