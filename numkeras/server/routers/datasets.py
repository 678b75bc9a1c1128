"""/v1/datasets: named arrays uploaded once (an npz body, or in chunks) and used by jobs."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import FileResponse
from starlette.concurrency import run_in_threadpool

from numkeras import wire
from numkeras.server.dependencies import SettingsDep, StorageDep, TenantDep
from numkeras.server.errors import ApiError, not_found
from numkeras.server.routers._body import NPZ_BODY, check_finite, receive_npz
from numkeras.server.schemas import Dataset, Upload, UploadCreate
from numkeras.server.settings import Settings
from numkeras.server.storage import Storage

router = APIRouter(prefix="/datasets", tags=["datasets"])


def _out(row: dict[str, Any]) -> dict[str, Any]:
    return {"id": row["id"], "name": row["name"], "arrays": row["arrays"],
            "size_bytes": row["size_bytes"], "created_at": row["created_at"]}


@router.post("", response_model=Dataset, status_code=201, openapi_extra={"requestBody": NPZ_BODY})
async def create_dataset(request: Request, storage: StorageDep, settings: SettingsDep,
                         tenant: TenantDep,
                         name: Annotated[str | None, Query(max_length=200)] = None
                         ) -> dict[str, Any]:
    """Uploads arrays by name as an (uncompressed) npz body, e.g. ``np.savez(f, x=x, y=y)``.

    The archive is stored as sent, after its headers are checked (no object arrays)."""
    path, size, arrays = await receive_npz(request, storage, settings.max_request_bytes)
    try:
        blob = await run_in_threadpool(storage.blobs.adopt, path)
    except BaseException:
        os.unlink(path)
        raise
    described = {k: {"shape": list(shape), "dtype": dtype} for k, (shape, dtype) in arrays.items()}
    return _out(await run_in_threadpool(storage.insert_dataset, tenant, name, described, blob,
                                        size))


# ------------------------------------------------------------------ chunked uploads
CHUNK_BODY = {"content": {"application/octet-stream": {"schema": {"type": "string",
                                                                  "format": "binary"}}},
              "required": True}


def _upload_out(row: dict[str, Any], settings: Settings) -> dict[str, Any]:
    return {k: row[k] for k in ("id", "name", "size", "received", "created_at", "updated_at")
            } | {"expires_at": row["updated_at"] + settings.upload_expiry}


def _upload(storage: Storage, tenant: str, upload_id: str) -> dict[str, Any]:
    row = storage.get_upload(tenant, upload_id)
    if row is None:
        raise ApiError(404, f"No upload with id {upload_id!r} (for this API key); it was "
                            "finalized, deleted, or expired.")
    return row


@asynccontextmanager
async def _exclusive(request: Request, storage: Storage, tenant: str, upload_id: str
                     ) -> AsyncIterator[dict[str, Any]]:
    """The upload's row, held against every other request on the same upload."""
    locks: dict[str, asyncio.Lock] = request.app.state.upload_locks
    row = await run_in_threadpool(_upload, storage, tenant, upload_id)
    lock = locks.setdefault(upload_id, asyncio.Lock())
    if lock.locked():
        raise ApiError(409, f"Another request on upload {upload_id!r} is in progress; wait for "
                            "its answer, then send the next chunk.",
                       details={"expected_offset": row["received"]})
    async with lock:
        try:
            yield await run_in_threadpool(_upload, storage, tenant, upload_id)
        finally:
            locks.pop(upload_id, None)


@router.post("/uploads", response_model=Upload, status_code=201)
def create_upload(storage: StorageDep, settings: SettingsDep, tenant: TenantDep,
                  body: UploadCreate | None = None) -> dict[str, Any]:
    """Starts a chunked upload of an (uncompressed) npz archive, for data larger than one
    request. Then ``PUT /uploads/{id}?offset=N`` each chunk in order and ``POST
    /uploads/{id}/finalize``. An upload left without a chunk for the server's upload expiry
    (24 h by default) is deleted."""
    body = body or UploadCreate()
    if body.size is not None and body.size > settings.max_upload_bytes:
        raise ApiError(413, f"size: {body.size} bytes exceeds the server's upload limit of "
                            f"{settings.max_upload_bytes} bytes.", "size")
    return _upload_out(storage.create_upload(tenant, body.name, body.size), settings)


@router.get("/uploads", response_model=list[Upload])
def list_uploads(storage: StorageDep, settings: SettingsDep,
                 tenant: TenantDep) -> list[dict[str, Any]]:
    """The caller's unfinished uploads, oldest first."""
    return [_upload_out(r, settings) for r in storage.list_uploads(tenant)]


@router.get("/uploads/{upload_id}", response_model=Upload)
def get_upload(upload_id: str, storage: StorageDep, settings: SettingsDep,
               tenant: TenantDep) -> dict[str, Any]:
    """The upload's progress: resume by sending the chunk that starts at ``received``."""
    return _upload_out(_upload(storage, tenant, upload_id), settings)


@router.put("/uploads/{upload_id}", response_model=Upload,
            openapi_extra={"requestBody": CHUNK_BODY})
async def put_chunk(upload_id: str, request: Request, storage: StorageDep,
                    settings: SettingsDep, tenant: TenantDep,
                    offset: Annotated[int, Query(ge=0, description="Byte offset of this chunk "
                                                 "in the archive: the upload's `received`.")]
                    ) -> dict[str, Any]:
    """Appends the body at ``offset``. A chunk at any other offset than the bytes received so
    far gets 409 with ``expected_offset``; a chunk over the request limit, or one that takes
    the upload over its declared ``size`` or the server's upload limit, gets 413. A chunk cut
    off midway leaves the upload as it was before it."""
    async with _exclusive(request, storage, tenant, upload_id) as row:
        received = row["received"]
        if offset != received:
            raise ApiError(409, f"offset: this upload has received {received} bytes; send the "
                                f"chunk that starts at offset {received}, not {offset}.",
                           "offset", details={"expected_offset": received},
                           headers={"Upload-Offset": str(received)})
        cap, what = settings.max_upload_bytes, "the server's upload limit"
        if row["size"] is not None and row["size"] < cap:
            cap, what = row["size"], "the upload's declared size"
        path = storage.blobs.upload_path(upload_id)
        written = 0
        with open(path, "r+b") as f:
            try:
                f.seek(received)
                async for piece in request.stream():
                    written += len(piece)
                    if received + written > cap:
                        raise ApiError(413, f"This chunk takes the upload past {what} "
                                            f"({cap} bytes).")
                    f.write(piece)
                if written == 0:
                    raise ApiError(400, "The chunk is empty; send the bytes from offset "
                                        f"{received} on.")
                f.flush()
                await run_in_threadpool(os.fsync, f.fileno())
            except BaseException:
                f.truncate(received)
                raise
        await run_in_threadpool(storage.set_upload_received, upload_id, received + written)
    return _upload_out(await run_in_threadpool(_upload, storage, tenant, upload_id), settings)


@router.post("/uploads/{upload_id}/finalize", response_model=Dataset, status_code=201)
async def finalize_upload(upload_id: str, request: Request, storage: StorageDep,
                          settings: SettingsDep, tenant: TenantDep) -> dict[str, Any]:
    """Checks the assembled archive (an npz of plain arrays: no object arrays, no pickle,
    every member complete, names unique, no NaN or infinity) and makes it a dataset,
    atomically. An incomplete upload (fewer bytes than its declared ``size``) gets 409 and stays
    resumable; an archive that is not valid gets 422 and the upload is deleted."""
    async with _exclusive(request, storage, tenant, upload_id) as row:
        received = row["received"]
        if row["size"] is not None and received != row["size"]:
            raise ApiError(409, f"The upload is incomplete: {received} of {row['size']} bytes "
                                f"received; send the chunk at offset {received}.",
                           details={"expected_offset": received})
        if received == 0:
            raise ApiError(409, "The upload is empty; send its chunks before finalizing.",
                           details={"expected_offset": 0})
        path = storage.blobs.upload_path(upload_id)
        try:
            arrays = await run_in_threadpool(wire.inspect_npz, str(path))
            if not arrays:
                raise ValueError("Not a valid .npz body: it holds no arrays")
            await run_in_threadpool(check_finite, str(path))
        except ValueError as e:
            await run_in_threadpool(storage.delete_upload, tenant, upload_id)
            raise ApiError(422, f"{e}; the upload was deleted.", "body") from None
        described = {k: {"shape": list(shape), "dtype": dtype}
                     for k, (shape, dtype) in arrays.items()}
        return _out(await run_in_threadpool(storage.finish_upload, tenant, upload_id,
                                            described))


@router.delete("/uploads/{upload_id}", status_code=204)
async def delete_upload(upload_id: str, request: Request, storage: StorageDep,
                        tenant: TenantDep) -> Response:
    """Abandons the upload and deletes what it received."""
    async with _exclusive(request, storage, tenant, upload_id):
        await run_in_threadpool(storage.delete_upload, tenant, upload_id)
    return Response(status_code=204)


@router.get("", response_model=list[Dataset])
def list_datasets(storage: StorageDep, tenant: TenantDep) -> list[dict[str, Any]]:
    """The caller's datasets, oldest first."""
    return [_out(r) for r in storage.list_datasets(tenant)]


@router.get("/{dataset_id}", response_model=Dataset)
def get_dataset(dataset_id: str, storage: StorageDep, tenant: TenantDep) -> dict[str, Any]:
    """The dataset's arrays: names, shapes and dtypes."""
    row = storage.get_dataset(tenant, dataset_id)
    if row is None:
        raise not_found("dataset", dataset_id)
    return _out(row)


@router.get("/{dataset_id}/arrays", response_class=FileResponse,
            responses={200: {"content": {wire.NPZ_MEDIA_TYPE: {}}}})
def download_dataset(dataset_id: str, storage: StorageDep, tenant: TenantDep) -> FileResponse:
    """The dataset's npz archive, as uploaded."""
    row = storage.get_dataset(tenant, dataset_id)
    if row is None:
        raise not_found("dataset", dataset_id)
    return FileResponse(storage.blobs.path(row["blob"]), media_type=wire.NPZ_MEDIA_TYPE)


@router.delete("/{dataset_id}", status_code=204)
def delete_dataset(dataset_id: str, storage: StorageDep, tenant: TenantDep) -> Response:
    """Deletes the dataset (jobs that already read it are not affected)."""
    if not storage.delete_dataset(tenant, dataset_id):
        raise not_found("dataset", dataset_id)
    return Response(status_code=204)
