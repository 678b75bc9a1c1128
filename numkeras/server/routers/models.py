"""/v1/models: Keras models of the caller, their compile settings, weights and layers, and the
synchronous ``train_on_batch`` / ``test_on_batch`` / ``predict_on_batch``."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import FileResponse, StreamingResponse
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool

from numkeras import wire
from numkeras.server.dependencies import ExecutorDep, SettingsDep, StorageDep, TenantDep
from numkeras.server.errors import ApiError, not_found
from numkeras.server.routers._body import (
    HDF5_BODY,
    HDF5_MEDIA_TYPE,
    NPZ_BODY,
    read_npz,
    receive_file,
)
from numkeras.server.schemas import (
    CompileRequest,
    CompileResult,
    KerasResult,
    Layer,
    LearningRate,
    ModelCreate,
    ModelDetail,
    ModelInfo,
    OptimizerInfo,
)
from numkeras.server.storage import Storage
from numkeras.server.worker import calls

router = APIRouter(prefix="/models", tags=["models"])


def _info(row: dict[str, Any]) -> dict[str, Any]:
    info = row["info"]
    return {"id": row["id"], "name": row["name"], "input_names": info["input_names"],
            "output_names": info["output_names"], "input_shapes": info["input_shapes"],
            "output_shapes": info["output_shapes"], "count_params": info["count_params"],
            "compiled": row["training_config"] is not None,
            "metrics_names": row["metrics_names"] or [],
            "training_config": row["training_config"], "created_at": row["created_at"],
            "updated_at": row["updated_at"]}


def _detail(row: dict[str, Any]) -> dict[str, Any]:
    return {**_info(row), "summary": row["info"]["summary"], "config": json.loads(row["config"])}


def _model(storage: Storage, tenant: str, model_id: str) -> dict[str, Any]:
    row = storage.get_model(tenant, model_id)
    if row is None:
        raise not_found("model", model_id)
    return row


@router.post("", response_model=ModelDetail, status_code=201)
async def create_model(body: ModelCreate, storage: StorageDep, executor: ExecutorDep,
                       settings: SettingsDep, tenant: TenantDep) -> dict[str, Any]:
    """Creates a model from its Keras JSON (``model.to_json()``), with fresh initial weights."""
    config = body.config if isinstance(body.config, str) else json.dumps(body.config)
    built = await executor.call(calls.create_model, str(settings.data_dir), config)
    row = await run_in_threadpool(storage.insert_model, tenant, built["name"], built["config"],
                                  built["info"], built["weights_blob"])
    return _detail(row)


@router.post("/hdf5", response_model=ModelDetail, status_code=201,
             openapi_extra={"requestBody": HDF5_BODY})
async def import_hdf5(request: Request, storage: StorageDep, executor: ExecutorDep,
                      settings: SettingsDep, tenant: TenantDep) -> dict[str, Any]:
    """Creates a model from a Keras 2 HDF5 file (``model.save("m.h5")``): architecture,
    weights and, when the file has them, compile settings and optimizer state."""
    path, _ = await receive_file(request, storage, settings.max_request_bytes)
    try:
        built = await executor.call(calls.import_hdf5, str(settings.data_dir), path)
    finally:
        os.unlink(path)
    row = await run_in_threadpool(storage.insert_model, tenant, built["name"], built["config"],
                                  built["info"], built["weights_blob"],
                                  built["training_config"], built["metrics_names"],
                                  built["optimizer_blob"])
    return _detail(row)


@router.get("", response_model=list[ModelInfo])
def list_models(storage: StorageDep, tenant: TenantDep) -> list[dict[str, Any]]:
    """The caller's models, oldest first."""
    return [_info(row) for row in storage.list_models(tenant)]


@router.get("/{model_id}", response_model=ModelDetail)
def get_model(model_id: str, storage: StorageDep, tenant: TenantDep) -> dict[str, Any]:
    """The model: names, shapes, ``count_params``, ``summary()`` text, config, compile."""
    row = _model(storage, tenant, model_id)
    return _detail(row)


@router.delete("/{model_id}", status_code=204)
def delete_model(model_id: str, storage: StorageDep, tenant: TenantDep) -> Response:
    """Deletes the model; its queued jobs are cancelled and its running jobs asked to stop."""
    if not storage.delete_model(tenant, model_id):
        raise not_found("model", model_id)
    return Response(status_code=204)


@router.put("/{model_id}/compile", response_model=CompileResult)
async def compile_model(model_id: str, body: CompileRequest, storage: StorageDep,
                        executor: ExecutorDep, tenant: TenantDep) -> dict[str, Any]:
    """``model.compile(...)``: checked by compiling the model in a worker; a new compile starts
    a fresh optimizer, as in Keras."""
    row = await run_in_threadpool(_model, storage, tenant, model_id)
    checked = await executor.call(calls.check_compile, row["config"], body.model_dump())
    if not await run_in_threadpool(storage.set_training_config, tenant, model_id,
                                   checked["training_config"], checked["metrics_names"]):
        raise not_found("model", model_id)
    return checked


@router.patch("/{model_id}/optimizer", response_model=OptimizerInfo)
def set_learning_rate(model_id: str, body: LearningRate, storage: StorageDep,
                      tenant: TenantDep) -> dict[str, Any]:
    """``model.optimizer.learning_rate = x``: the optimizer keeps its state (momenta,
    iterations), unlike a new compile. The next job or ``*_on_batch`` call uses it."""
    row = _model(storage, tenant, model_id)
    if row["training_config"] is None:
        raise ApiError(422, "You must compile your model before setting its optimizer's "
                            f"learning rate: PUT /v1/models/{model_id}/compile first.",
                       "model_id")
    config = storage.set_learning_rate(tenant, model_id, body.learning_rate)
    if config is None:
        raise not_found("model", model_id)
    return {"optimizer_config": config}


@router.get("/{model_id}/weights", response_class=FileResponse,
            responses={200: {"content": {wire.NPZ_MEDIA_TYPE: {}}}})
def get_weights(model_id: str, storage: StorageDep, tenant: TenantDep) -> StreamingResponse:
    """``get_weights()`` as an npz body: ``arr_0``, ``arr_1``, ... in Keras's weight order."""
    for _ in range(5):
        row = _model(storage, tenant, model_id)
        try:
            # Opened now: a job that finishes meanwhile replaces (and unlinks) the blob, and the
            # open file keeps this version readable to the end of the response.
            f = open(storage.blobs.path(row["weights_blob"]), "rb")  # noqa: SIM115
        except FileNotFoundError:
            continue  # replaced between reading the row and opening it: read the new row
        return StreamingResponse(_chunks(f), media_type=wire.NPZ_MEDIA_TYPE,
                                 headers={"X-Model-Version": str(row["version"])})
    raise ApiError(409, f"The weights of model {model_id!r} are being replaced by a job; "
                        "retry the request.")


def _chunks(f: Any, size: int = 1 << 20) -> Iterator[bytes]:
    with f:
        while chunk := f.read(size):
            yield chunk


@router.get("/{model_id}/hdf5", response_class=FileResponse,
            responses={200: {"content": {HDF5_MEDIA_TYPE: {}}}})
async def export_hdf5(model_id: str, storage: StorageDep, executor: ExecutorDep,
                      settings: SettingsDep, tenant: TenantDep) -> FileResponse:
    """``model.save("m.h5")``: the Keras 2 HDF5 file with the weights, the compile settings
    and the optimizer state; ``keras.models.load_model`` reads it."""
    row = await run_in_threadpool(_model, storage, tenant, model_id)
    path = await executor.call(calls.export_hdf5, str(settings.data_dir), model_id)
    return FileResponse(path, media_type=HDF5_MEDIA_TYPE, filename=f"{row['name']}.h5",
                        background=BackgroundTask(os.unlink, path))


@router.put("/{model_id}/weights", status_code=204, openapi_extra={"requestBody": NPZ_BODY})
async def set_weights(model_id: str, request: Request, storage: StorageDep,
                      settings: SettingsDep, tenant: TenantDep) -> Response:
    """``set_weights(weights)``: an npz body with ``arr_0``, ``arr_1``, ... (as ``np.savez``
    names positional arrays), one per weight, of the weights' shapes."""
    row = await run_in_threadpool(_model, storage, tenant, model_id)
    arrays = await read_npz(request, storage, settings.max_request_bytes)
    expected = row["info"]["weights"]
    names = [f"arr_{i}" for i in range(len(expected))]
    if sorted(arrays) != sorted(names):
        raise ApiError(422, f"set_weights: model {row['name']!r} expects {len(expected)} arrays "
                            f"named arr_0..arr_{len(expected) - 1}, got {sorted(arrays)}.",
                       "weights")
    values = []
    for name, weight in zip(names, expected, strict=True):
        value = arrays[name]
        if list(value.shape) != weight["shape"]:
            raise ApiError(422, f"Weight {weight['name']!r} has shape {tuple(weight['shape'])}, "
                                f"but set_weights received an array of shape {value.shape}.",
                           "weights")
        if value.dtype.kind not in "fiub":
            raise ApiError(422, f"Weight {weight['name']!r} needs a numeric array, got dtype "
                                f"{value.dtype}.", "weights")
        values.append(value.astype(weight["dtype"]))
    body = wire.encode_arrays({n: v for n, v in zip(names, values, strict=True)})
    blob = await run_in_threadpool(storage.blobs.put, body)
    if not await run_in_threadpool(storage.set_model_state, model_id, blob, None, True):
        raise not_found("model", model_id)
    return Response(status_code=204)


@router.get("/{model_id}/layers/{name_or_index}", response_model=Layer)
def get_layer(model_id: str, name_or_index: str, storage: StorageDep,
              tenant: TenantDep) -> dict[str, Any]:
    """``get_layer(name=...)`` or ``get_layer(index=...)`` (an integer path segment)."""
    layers = _model(storage, tenant, model_id)["info"]["layers"]
    try:
        index = int(name_or_index)
    except ValueError:
        for layer in layers:
            if layer["name"] == name_or_index:
                return layer
        raise ApiError(404, f"No such layer: {name_or_index}. Existing layers are: "
                            f"{[la['name'] for la in layers]}.") from None
    if not -len(layers) <= index < len(layers):
        raise ApiError(404, f"Was asked to retrieve layer at index {index} but model only has "
                            f"{len(layers)} layers.")
    return layers[index]


def _class_weight(text: str | None) -> dict[int, float] | None:
    if text is None:
        return None
    try:
        value = json.loads(text)
        return {int(k): float(v) for k, v in value.items()}
    except (ValueError, TypeError, AttributeError):
        raise ApiError(422, f"class_weight must be a JSON object of class index -> weight, got "
                            f"{text!r}.", "class_weight") from None


_ON_BATCH_DOC = (" The body is an npz with ``x`` (or ``x:<input name>`` per input), ``y`` (or "
                 "``y:<output name>``) and optionally ``sample_weight``.")


async def _on_batch(method: str, model_id: str, request: Request, storage: Storage,
                    executor: Any, settings: Any, tenant: str,
                    class_weight: dict[int, float] | None = None) -> Any:
    await run_in_threadpool(_model, storage, tenant, model_id)
    arrays = await read_npz(request, storage, settings.max_request_bytes)
    return await executor.call(calls.on_batch, str(settings.data_dir), model_id, method, arrays,
                               class_weight)


@router.post("/{model_id}/train_on_batch", response_model=KerasResult,
             openapi_extra={"requestBody": NPZ_BODY}, description=_ON_BATCH_DOC)
async def train_on_batch(model_id: str, request: Request, storage: StorageDep,
                         executor: ExecutorDep, settings: SettingsDep, tenant: TenantDep,
                         class_weight: Annotated[str | None, Query(
                             description='JSON, e.g. {"0": 1.0, "1": 5.0}')] = None) -> Any:
    """``train_on_batch``: one gradient step; the new weights and optimizer state are stored."""
    return await _on_batch("train_on_batch", model_id, request, storage, executor, settings,
                           tenant, _class_weight(class_weight))


@router.post("/{model_id}/test_on_batch", response_model=KerasResult,
             openapi_extra={"requestBody": NPZ_BODY}, description=_ON_BATCH_DOC)
async def test_on_batch(model_id: str, request: Request, storage: StorageDep,
                        executor: ExecutorDep, settings: SettingsDep, tenant: TenantDep) -> Any:
    """``test_on_batch``: loss and metrics of one batch in test mode."""
    return await _on_batch("test_on_batch", model_id, request, storage, executor, settings,
                           tenant)


@router.post("/{model_id}/predict_on_batch", response_class=Response,
             openapi_extra={"requestBody": NPZ_BODY},
             responses={200: {"content": {wire.NPZ_MEDIA_TYPE: {}}}})
async def predict_on_batch(model_id: str, request: Request, storage: StorageDep,
                           executor: ExecutorDep, settings: SettingsDep,
                           tenant: TenantDep) -> Response:
    """``predict_on_batch``: the body is an npz with ``x`` (or ``x:<input name>``); the answer
    is an npz of the outputs by output name."""
    out = await _on_batch("predict_on_batch", model_id, request, storage, executor, settings,
                          tenant)
    body = await run_in_threadpool(wire.encode_arrays, out["outputs"])
    return Response(body, media_type=wire.NPZ_MEDIA_TYPE)

