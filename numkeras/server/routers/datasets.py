"""/v1/datasets: named arrays uploaded once (an npz body) and used by jobs."""

from __future__ import annotations

import os
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import FileResponse
from starlette.concurrency import run_in_threadpool

from numkeras import wire
from numkeras.server.dependencies import SettingsDep, StorageDep, TenantDep
from numkeras.server.errors import not_found
from numkeras.server.routers._body import NPZ_BODY, receive_npz
from numkeras.server.schemas import Dataset

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
