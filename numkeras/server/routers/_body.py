"""Binary request bodies: streamed to a temp file in the data dir, size-capped, then checked."""

from __future__ import annotations

import os
import zipfile
from typing import Any

import numpy as np
from fastapi import Request
from starlette.concurrency import run_in_threadpool

from numkeras import wire
from numkeras.server.errors import ApiError

NPZ_BODY = {"content": {wire.NPZ_MEDIA_TYPE: {"schema": {"type": "string", "format": "binary"}}},
            "required": True}


HDF5_MEDIA_TYPE = "application/x-hdf5"
HDF5_BODY = {"content": {HDF5_MEDIA_TYPE: {"schema": {"type": "string", "format": "binary"}}},
             "required": True}


async def receive_file(request: Request, storage: Any, limit: int,
                       expected: str = "a Keras HDF5 model file") -> tuple[str, int]:
    """Streams the body to a temp file in the data dir.

    Returns:
        ``(temp_path, size)``; the caller adopts or deletes the file.

    Raises:
        ApiError: 413 over ``limit`` bytes, 400 for an empty body.
    """
    f = storage.blobs.new_temp()
    size = 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise ApiError(413, f"The request body exceeds the limit of {limit} bytes.")
            f.write(chunk)
        f.close()
        if size == 0:
            raise ApiError(400, f"The request body is empty; send {expected}.")
    except BaseException:
        f.close()
        os.unlink(f.name)
        raise
    return f.name, size


def check_finite(path: str, chunk_bytes: int = 1 << 24) -> None:
    """Reads the float members of a checked npz in chunks and refuses NaN and infinities: the
    service stores and trains on finite numbers only (a NaN in data would become NaN weights).

    Raises:
        ValueError: naming the first array that holds a non-finite value.
    """
    with zipfile.ZipFile(path) as zf:
        for info in zf.infolist():
            with zf.open(info) as member:
                _, _, dtype = wire.read_npy_header(member)
                if dtype.kind not in "fc":
                    continue
                step = max(1, chunk_bytes // dtype.itemsize) * dtype.itemsize
                while chunk := member.read(step):
                    if not np.isfinite(np.frombuffer(chunk, dtype=dtype)).all():
                        raise ValueError(f"array {info.filename[:-4]!r} holds NaN or infinite "
                                         "values; the service takes finite numbers only")


async def receive_npz(request: Request, storage: Any, limit: int) -> tuple[str, int, dict]:
    """Writes the body to a temp file and validates it as an npz of arrays.

    Returns:
        ``(temp_path, size, {name: (shape, dtype)})``; the caller adopts or deletes the file.

    Raises:
        ApiError: 413 over ``limit`` bytes, 400 for an empty body, 422 for a body that is not
            an npz of plain (non-object) arrays of finite numbers.
    """
    path, size = await receive_file(request, storage, limit, "an .npz archive of arrays")
    try:
        try:
            arrays = await run_in_threadpool(wire.inspect_npz, path)
            if arrays:
                await run_in_threadpool(check_finite, path)
        except ValueError as e:
            raise ApiError(422, str(e), "body") from None
        if not arrays:
            raise ApiError(422, "The .npz body holds no arrays.", "body")
    except BaseException:
        os.unlink(path)
        raise
    return path, size, arrays


async def read_npz(request: Request, storage: Any, limit: int) -> dict[str, Any]:
    """The arrays of a (small) npz request body."""
    path, _, _ = await receive_npz(request, storage, limit)
    try:
        with open(path, "rb") as f:
            return await run_in_threadpool(wire.decode_arrays, f)
    except ValueError as e:
        raise ApiError(422, str(e), "body") from None
    finally:
        os.unlink(path)
