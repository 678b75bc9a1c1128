"""Arrays on the wire: one array as ``.npy`` bytes, several as an uncompressed ``.npz`` body.

Shared by the server and the client. Nothing is ever pickled: every read uses
``allow_pickle=False`` and object arrays are refused on both sides.
"""

from __future__ import annotations

import bisect
import io
import os
import struct
import threading
import zipfile
import zlib
from collections.abc import Iterator, Mapping
from typing import IO, Any

import numpy as np

__all__ = [
    "NPY_MEDIA_TYPE",
    "NPZ_MEDIA_TYPE",
    "NpzStream",
    "decode_array",
    "decode_arrays",
    "encode_array",
    "encode_arrays",
    "inspect_npz",
    "read_npy_header",
    "read_npz_array",
]

NPY_MEDIA_TYPE = "application/x-npy"
NPZ_MEDIA_TYPE = "application/x-npz"

_HEADERS = threading.Lock()
"""Held while numpy reads ``.npy`` headers here (in ``decode_array(s)`` for the whole
``np.load``, which reads each header with its array). numpy parses headers with
``ast.literal_eval``, and CPython 3.11's AST construction keeps its recursion depth per
interpreter, not per thread (python/cpython#106905): two threads decoding at once (the
server's upload threadpool, a client used from several threads) failed now and then with
``SystemError: AST constructor recursion depth mismatch`` (seen once in
tests/reliability/test_load.py)."""


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
        with _HEADERS:
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
    return NpzStream(arrays).getvalue()


_DOS_DATE = (0 << 9) | (1 << 5) | 1  # 1980-01-01 00:00: the same bytes for the same arrays
_ZIP64 = 0xFFFFFFFF


class NpzStream:
    """The ``.npz`` body of several named arrays without building it in memory.

    The body is a zip64 archive of stored ``.npy`` members, as ``encode_arrays`` makes and
    ``np.load`` reads. Its pieces are the members' headers and views of the arrays' own
    memory, so ``size`` is known at once and ``read`` copies only the bytes asked for.

    Args:
        arrays: Name -> array, in the order of the archive.

    Raises:
        ValueError: for an object array or a name that is not a non-empty string.
    """

    def __init__(self, arrays: Mapping[str, Any]) -> None:
        self._pieces: list[memoryview] = []
        self._offsets: list[int] = []
        self.size = 0
        central = []
        for name, value in arrays.items():
            if not isinstance(name, str) or not name:
                raise ValueError(f"Array names must be non-empty strings, got {name!r}.")
            array = _checked(value, name)
            if not array.flags.c_contiguous:
                array = np.ascontiguousarray(array)  # (which makes a 0-d array 1-d)
            header = _npy_header(array)
            data = array.reshape(-1).view(np.uint8).data
            npy_size = len(header) + data.nbytes
            crc = zlib.crc32(data, zlib.crc32(header))
            filename = f"{name}.npy".encode()
            flags = 0x800 if not filename.isascii() else 0
            offset = self.size
            self._add(struct.pack("<IHHHHHIIIHH", 0x04034B50, 45, flags, 0, 0, _DOS_DATE, crc,
                                  _ZIP64, _ZIP64, len(filename), 20)
                      + filename + struct.pack("<HHQQ", 1, 16, npy_size, npy_size))
            self._add(header)
            self._add(data)
            central.append(struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 45, 45, flags, 0, 0,
                                       _DOS_DATE, crc, _ZIP64, _ZIP64, len(filename), 28, 0,
                                       0, 0, 0o600 << 16, _ZIP64)
                           + filename + struct.pack("<HHQQQ", 1, 24, npy_size, npy_size,
                                                    offset))
        start, count = self.size, len(central)
        for entry in central:
            self._add(entry)
        end64 = self.size
        size = end64 - start
        self._add(struct.pack("<IQHHIIQQQQ", 0x06064B50, 44, 45, 45, 0, 0, count, count, size,
                              start)
                  + struct.pack("<IIQI", 0x07064B50, 0, end64, 1)
                  + struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, min(count, 0xFFFF),
                                min(count, 0xFFFF), min(size, _ZIP64), min(start, _ZIP64), 0))

    def _add(self, piece: bytes | memoryview) -> None:
        if len(piece):
            self._offsets.append(self.size)
            self._pieces.append(memoryview(piece).cast("B"))
            self.size += len(self._pieces[-1])

    def __len__(self) -> int:
        return self.size

    def __iter__(self) -> Iterator[memoryview]:
        """The body's pieces in order (views: no copy)."""
        return iter(self._pieces)

    def read(self, offset: int, size: int) -> bytes:
        """``size`` bytes of the body from ``offset`` (fewer at its end)."""
        out = bytearray()
        end = min(offset + size, self.size)
        i = max(0, bisect.bisect_right(self._offsets, offset) - 1)
        while offset < end:
            start = offset - self._offsets[i]
            piece = self._pieces[i][start:start + end - offset]
            out += piece
            offset += len(piece)
            i += 1
        return bytes(out)

    def getvalue(self) -> bytes:
        """The whole body."""
        return b"".join(self._pieces)


def _npy_header(array: np.ndarray) -> bytes:
    """The ``.npy`` header ``np.save`` writes for this array (format 1.0, else 2.0)."""
    header = io.BytesIO()
    description = np.lib.format.header_data_from_array_1_0(array)
    try:
        np.lib.format.write_array_header_1_0(header, description)
    except ValueError:
        header = io.BytesIO()
        np.lib.format.write_array_header_2_0(header, description)
    return header.getvalue()


def decode_arrays(data: bytes | IO[bytes]) -> dict[str, np.ndarray]:
    """The named arrays of an ``.npz`` body, in their stored order.

    Raises:
        ValueError: for a body that is not an ``.npz`` archive of arrays, or that holds an
            object array.
    """
    source = io.BytesIO(data) if isinstance(data, (bytes, bytearray, memoryview)) else data
    try:
        with _HEADERS:
            npz = np.load(source, allow_pickle=False)
            if not isinstance(npz, np.lib.npyio.NpzFile):
                raise ValueError("expected a .npz archive, got a single .npy array")
            with npz:
                return {name: npz[name] for name in npz.files}
    except (ValueError, OSError, EOFError, zipfile.BadZipFile, KeyError) as e:
        raise ValueError(f"Not a valid .npz body: {e}") from None


def read_npy_header(f: IO[bytes]) -> tuple[tuple[int, ...], bool, np.dtype]:
    """``(shape, fortran_order, dtype)`` of the ``.npy`` header at ``f``'s position, which it
    leaves at the first data byte.

    Raises:
        ValueError: for bytes that are not an ``.npy`` header.
    """
    version = np.lib.format.read_magic(f)
    read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                   else np.lib.format.read_array_header_2_0)
    with _HEADERS:
        return read_header(f)


def read_npz_array(path: str | os.PathLike, name: str) -> np.ndarray:
    """One array of an ``.npz`` file, read in one pass from its stored member: no CRC pass
    and no copy beyond the read (a compressed member goes through ``np.load``).

    Raises:
        KeyError: when the archive has no array ``name``.
        ValueError: for a member that is not a complete ``.npy`` array of plain data.
    """
    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo(f"{name}.npy")
    if info.compress_type != zipfile.ZIP_STORED:
        with _HEADERS, np.load(path, allow_pickle=False) as npz:
            return npz[name]
    with open(path, "rb") as f:
        f.seek(info.header_offset)
        local = f.read(30)
        if len(local) != 30 or local[:4] != b"PK\x03\x04":
            raise ValueError(f"Not a valid .npz file: no local header for array {name!r}")
        name_len, extra_len = struct.unpack("<HH", local[26:30])
        f.seek(info.header_offset + 30 + name_len + extra_len)
        shape, fortran_order, dtype = read_npy_header(f)
        if dtype.hasobject:
            raise ValueError(f"array {name!r} has dtype {dtype}: object arrays are refused")
        count = int(np.prod(shape, dtype=np.int64))
        array = np.fromfile(f, dtype=dtype, count=count) if count else np.empty(0, dtype)
    if array.size != count:
        raise ValueError(f"Not a valid .npz file: array {name!r} is truncated")
    return array.reshape(shape, order="F" if fortran_order else "C")


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
                    shape, _, dtype = read_npy_header(member)
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
