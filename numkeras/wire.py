"""Arrays on the wire: one array as ``.npy`` bytes, several as an uncompressed ``.npz`` body.

Shared by the server and the client. Nothing is ever pickled: every read uses
``allow_pickle=False`` and object arrays are refused on both sides.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Mapping
from typing import IO, Any

import numpy as np

__all__ = [
    "NPY_MEDIA_TYPE",
    "NPZ_MEDIA_TYPE",
    "decode_array",
    "decode_arrays",
    "encode_array",
    "encode_arrays",
    "inspect_npz",
]

NPY_MEDIA_TYPE = "application/x-npy"
NPZ_MEDIA_TYPE = "application/x-npz"


def _checked(array: Any, name: str) -> np.ndarray:
    array = np.asarray(array)
    if array.dtype.hasobject:
        raise ValueError(f"Array {name!r} has dtype {array.dtype}: object arrays cannot be sent "
                         "(they would need pickle).")
    return array


def encode_array(array: Any) -> bytes:
    """One array as ``.npy`` bytes.

    Raises:
        ValueError: for an object array.
    """
    buf = io.BytesIO()
    np.save(buf, _checked(array, "array"), allow_pickle=False)
    return buf.getvalue()


def decode_array(data: bytes) -> np.ndarray:
    """The array in ``.npy`` bytes.

    Raises:
        ValueError: for bytes that are not a ``.npy`` array or hold an object array.
    """
    try:
        array = np.load(io.BytesIO(data), allow_pickle=False)
    except (ValueError, OSError, EOFError) as e:
        raise ValueError(f"Not a valid .npy array: {e}") from None
    if not isinstance(array, np.ndarray):
        array.close()
        raise ValueError("Not a valid .npy array: got an .npz archive (several arrays).")
    return array


def encode_arrays(arrays: Mapping[str, Any]) -> bytes:
    """Several named arrays as an uncompressed ``.npz`` body (names kept in order).

    Raises:
        ValueError: for an object array or a name that is not a non-empty string.
    """
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as zf:
        for name, value in arrays.items():
            if not isinstance(name, str) or not name:
                raise ValueError(f"Array names must be non-empty strings, got {name!r}.")
            array = _checked(value, name)
            with zf.open(f"{name}.npy", "w", force_zip64=True) as member:
                np.lib.format.write_array(member, array, allow_pickle=False)
    return buf.getvalue()


def decode_arrays(data: bytes | IO[bytes]) -> dict[str, np.ndarray]:
    """The named arrays of an ``.npz`` body, in their stored order.

    Raises:
        ValueError: for a body that is not an ``.npz`` archive of arrays, or that holds an
            object array.
    """
    source = io.BytesIO(data) if isinstance(data, (bytes, bytearray, memoryview)) else data
    try:
        npz = np.load(source, allow_pickle=False)
        if not isinstance(npz, np.lib.npyio.NpzFile):
            raise ValueError("expected a .npz archive, got a single .npy array")
        with npz:
            return {name: npz[name] for name in npz.files}
    except (ValueError, OSError, EOFError, zipfile.BadZipFile, KeyError) as e:
        raise ValueError(f"Not a valid .npz body: {e}") from None


def inspect_npz(source: str | IO[bytes]) -> dict[str, tuple[tuple[int, ...], str]]:
    """Checks an ``.npz`` archive without loading its data: name -> (shape, dtype string).

    Each member's header is read and its size checked against the shape and dtype, so a large
    upload is validated in one pass over the zip directory.

    Raises:
        ValueError: for an archive that is not a zip of ``.npy`` arrays, a truncated member,
            an object dtype, or a duplicate name.
    """
    out: dict[str, tuple[tuple[int, ...], str]] = {}
    try:
        with zipfile.ZipFile(source) as zf:
            for info in zf.infolist():
                if not info.filename.endswith(".npy"):
                    raise ValueError(f"member {info.filename!r} is not a .npy array")
                name = info.filename[:-4]
                if not name or name in out:
                    raise ValueError(f"empty or duplicate array name {name!r}")
                with zf.open(info) as member:
                    version = np.lib.format.read_magic(member)
                    read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                                   else np.lib.format.read_array_header_2_0)
                    shape, _, dtype = read_header(member)
                    header_len = member.tell()
                if dtype.hasobject:
                    raise ValueError(f"array {name!r} has dtype {dtype}: object arrays are "
                                     "refused (they would need pickle)")
                expected = header_len + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
                if info.file_size != expected:
                    raise ValueError(f"array {name!r} is truncated or padded: {info.file_size} "
                                     f"bytes for shape {shape} of {dtype}")
                out[name] = (tuple(int(d) for d in shape), dtype.str)
    except (OSError, EOFError, zipfile.BadZipFile) as e:
        raise ValueError(f"Not a valid .npz body: {e}") from None
    except ValueError as e:
        raise ValueError(f"Not a valid .npz body: {e}") from None
    return out
