"""Global settings Keras keeps in its backend: float type, epsilon, automatic names."""

from __future__ import annotations

import collections
import re
import threading

_FLOATX = "float32"
_EPSILON = 1e-7
_IMAGE_DATA_FORMAT = "channels_last"

_uid_lock = threading.Lock()
_uids: collections.defaultdict[str, int] = collections.defaultdict(int)


def floatx() -> str:
    """The default float type, ``"float32"``."""
    return _FLOATX


def epsilon() -> float:
    """The fuzz factor Keras adds to avoid division by zero (1e-7)."""
    return _EPSILON


def set_epsilon(value: float) -> None:
    global _EPSILON
    _EPSILON = float(value)


def image_data_format() -> str:
    return _IMAGE_DATA_FORMAT


def get_uid(prefix: str = "") -> int:
    """Counts names per prefix as Keras does: the first ``dense`` is 0, the next 1, ..."""
    with _uid_lock:
        uid = _uids[prefix]
        _uids[prefix] += 1
        return uid


def unique_object_name(prefix: str) -> str:
    """``dense``, ``dense_1``, ``dense_2``... per prefix, as Keras names layers."""
    uid = get_uid(prefix)
    return prefix if uid == 0 else f"{prefix}_{uid}"


def clear_session() -> None:
    """Resets automatic names, as ``keras.backend.clear_session`` does."""
    with _uid_lock:
        _uids.clear()


def to_snake_case(name: str) -> str:
    """``BatchNormalization`` -> ``batch_normalization`` (Keras's layer-name rule)."""
    intermediate = re.sub("(.)([A-Z][a-z0-9]+)", r"\1_\2", name)
    insecure = re.sub("([a-z])([A-Z])", r"\1_\2", intermediate).lower()
    if insecure[0] != "_":
        return insecure
    return "private" + insecure
