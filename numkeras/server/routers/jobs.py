"""/v1/jobs: fit, evaluate and predict run as jobs in worker processes; their status, events
(server-sent, resumable), History and results."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import FileResponse, StreamingResponse
from starlette.concurrency import run_in_threadpool

from numkeras import wire
from numkeras.server.dependencies import ExecutorDep, SettingsDep, StorageDep, TenantDep
from numkeras.server.errors import ApiError, not_found
from numkeras.server.schemas import HistoryOut, Job, JobCreate, JobStatus, KerasResult
from numkeras.server.storage import Storage
from numkeras.server.storage.schema import TERMINAL_STATUSES

router = APIRouter(prefix="/jobs", tags=["jobs"])

_ARGUMENTS = {
    "fit": {"batch_size", "epochs", "validation_split", "shuffle", "class_weight",
            "initial_epoch", "steps_per_epoch", "validation_steps", "validation_freq"},
    "evaluate": {"batch_size", "steps"},
    "predict": {"batch_size", "steps"},
}
_DATA = {"fit": {"x", "y", "sample_weight", "validation_data"},
         "evaluate": {"x", "y", "sample_weight"}, "predict": {"x"}}


def _out(row: dict[str, Any]) -> dict[str, Any]:
    return {k: row[k] for k in ("id", "kind", "model_id", "status", "error", "progress",
                                "worker_pid", "created_at", "started_at", "finished_at")} | {
        "cancel_requested": bool(row["cancel_requested"])}


def _job(storage: Storage, tenant: str, job_id: str) -> dict[str, Any]:
    row = storage.get_job(tenant, job_id)
    if row is None:
        raise not_found("job", job_id)
    return row


class _Checker:
    """Checks the data references of a job against the caller's datasets and the model."""

    def __init__(self, storage: Storage, tenant: str, model: dict[str, Any]) -> None:
        self.storage, self.tenant, self.info = storage, tenant, model["info"]
        self.datasets: dict[str, dict[str, Any]] = {}
        self.lengths: dict[str, int] = {}

    def shapes(self, ref: Any, argument: str) -> list[tuple[str, list[int]]]:
        if ref.dataset_id not in self.datasets:
            row = self.storage.get_dataset(self.tenant, ref.dataset_id)
            if row is None:
                raise ApiError(404, f"{argument}: no dataset with id {ref.dataset_id!r} (for "
                                    "this API key).", argument)
            self.datasets[ref.dataset_id] = row["arrays"]
        arrays = self.datasets[ref.dataset_id]
        names = ref.arrays
        pairs = ([(None, names)] if isinstance(names, str) else
                 [(None, n) for n in names] if isinstance(names, list) else list(names.items()))
        out = []
        for key, name in pairs:
            if name not in arrays:
                raise ApiError(422, f"{argument}: dataset {ref.dataset_id!r} has no array "
                                    f"{name!r}; it has {sorted(arrays)}.", argument)
            shape = arrays[name]["shape"]
            if not shape:
                raise ApiError(422, f"{argument}: array {name!r} is a scalar; it needs a first "
                                    "(sample) axis.", argument)
            self.lengths[f"{argument} {name!r}"] = shape[0]
            out.append((key, shape))
        return out

    def inputs(self, ref: Any, argument: str) -> None:
        shapes = self.shapes(ref, argument)
        names, expected = self.info["input_names"], self.info["input_shapes"]
        if isinstance(ref.arrays, dict):
            unknown = set(ref.arrays) - set(names)
            if unknown:
                raise ApiError(422, f"{argument}: unknown input name(s) {sorted(unknown)}; the "
                                    f"model's inputs are {names}.", argument)
            by_name = dict(zip(names, expected, strict=True))
            pairs = [(k, by_name[k], s) for k, s in shapes]
        elif len(shapes) != len(names):
            raise ApiError(422, f"{argument}: the model has {len(names)} input(s) {names}, but "
                                f"{len(shapes)} array(s) were given.", argument)
        else:
            pairs = [(n, e, s[1]) for n, e, s in zip(names, expected, shapes, strict=True)]
        for name, want, got in pairs:
            if len(want) != len(got) or any(w is not None and w != g
                                             for w, g in zip(want, got, strict=True)):
                raise ApiError(422, f"{argument}: input {name!r} expects arrays of shape "
                                    f"{tuple(want)}, got an array of shape {tuple(got)}.",
                               argument)

    def same_length(self) -> None:
        if len(set(self.lengths.values())) > 1:
            raise ApiError(422, "Data cardinality is ambiguous: " + ", ".join(
                f"{k} has {v} samples" for k, v in self.lengths.items()) + ".", "x")


def _validate(storage: Storage, tenant: str, body: JobCreate) -> dict[str, Any]:
    model = storage.get_model(tenant, body.model_id)
    if model is None:
        raise ApiError(404, f"model_id: no model with id {body.model_id!r} (for this API key).",
                       "model_id")
    given = body.model_fields_set - {"kind", "model_id", "verbose"}
    allowed = _ARGUMENTS[body.kind] | _DATA[body.kind]
    for name in sorted(given - allowed):
        if getattr(body, name) is not None:
            raise ApiError(422, f"{body.kind}: argument {name!r} does not apply to "
                                f"{body.kind}; it takes {sorted(allowed)}.", name)
    if body.kind != "predict" and model["training_config"] is None:
        raise ApiError(422, "You must compile your model before training/testing. Use "
                            f"PUT /v1/models/{body.model_id}/compile before {body.kind}.",
                       "model_id")
    check = _Checker(storage, tenant, model)
    check.inputs(body.x, "x")
    for name in ("y", "sample_weight"):
        if name in allowed and getattr(body, name) is not None:
            check.shapes(getattr(body, name), name)
    check.same_length()
    if body.kind == "fit" and body.validation_data is not None:
        val = _Checker(storage, tenant, model)
        val.inputs(body.validation_data.x, "validation_data.x")
        val.shapes(body.validation_data.y, "validation_data.y")
        if body.validation_data.sample_weight is not None:
            val.shapes(body.validation_data.sample_weight, "validation_data.sample_weight")
        val.same_length()
    if body.class_weight is not None:
        for key in body.class_weight:
            try:
                int(key)
            except ValueError:
                raise ApiError(422, f"class_weight: keys are class indices, got {key!r}.",
                               "class_weight") from None
    dump = body.model_dump()
    return {
        "x": dump["x"], "y": dump["y"] if "y" in allowed else None,
        "sample_weight": dump["sample_weight"] if "sample_weight" in allowed else None,
        "validation_data": dump["validation_data"] if "validation_data" in allowed else None,
        "arguments": {k: dump[k] for k in _ARGUMENTS[body.kind] if dump[k] is not None},
    }


@router.post("", response_model=Job, status_code=201)
def create_job(body: JobCreate, storage: StorageDep, executor: ExecutorDep,
               tenant: TenantDep) -> dict[str, Any]:
    """Queues ``fit`` / ``evaluate`` / ``predict`` of a model on uploaded datasets.

    The Keras arguments keep their Keras meaning and defaults. After a fit the trained weights
    and optimizer state become the model's state."""
    spec = _validate(storage, tenant, body)
    row = storage.create_job(tenant, body.model_id, body.kind, spec)
    executor.notify()
    return _out(row)


@router.get("", response_model=list[Job])
def list_jobs(storage: StorageDep, tenant: TenantDep, model_id: str | None = None,
              status: JobStatus | None = None,
              limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> list[dict[str, Any]]:
    """The caller's jobs, newest first, optionally of one model and/or in one status."""
    return [_out(r) for r in storage.list_jobs(tenant, model_id, status, limit)]


@router.get("/{job_id}", response_model=Job)
def get_job(job_id: str, storage: StorageDep, tenant: TenantDep) -> dict[str, Any]:
    """Status (queued, running, succeeded, failed, cancelled), error, progress, timestamps."""
    return _out(_job(storage, tenant, job_id))


@router.post("/{job_id}/cancel", response_model=Job)
def cancel_job(job_id: str, storage: StorageDep, tenant: TenantDep) -> dict[str, Any]:
    """Cancels a queued job at once; a running job stops within one batch (its model keeps the
    state it had before the job). A finished job is left as it is."""
    row = storage.request_cancel(tenant, job_id)
    if row is None:
        raise not_found("job", job_id)
    return _out(row)


@router.get("/{job_id}/history", response_model=HistoryOut)
def get_history(job_id: str, storage: StorageDep, tenant: TenantDep) -> dict[str, Any]:
    """The fit's ``History``; while the job runs, the epochs completed so far."""
    row = _job(storage, tenant, job_id)
    if row["kind"] != "fit":
        raise ApiError(409, f"Job {job_id!r} is a {row['kind']} job; only fit has a History.")
    if row["history"] is not None:
        return row["history"]
    return _history_from_events(storage, job_id)


def _history_from_events(storage: Storage, job_id: str) -> dict[str, Any]:
    history: dict[str, list[Any]] = {}
    epochs: list[int] = []
    params: dict[str, Any] = {}
    after = 0
    while True:
        events = storage.events_after(job_id, after)
        if not events:
            break
        after = events[-1]["id"]
        for event in events:
            data = json.loads(event["data"])
            if event["type"] == "train_begin":
                params = data["params"]
            elif event["type"] == "epoch_end":
                epochs.append(data["epoch"])
                for k, v in data["logs"].items():
                    history.setdefault(k, []).append(v)
    return {"history": history, "epoch": epochs, "params": params}


@router.get("/{job_id}/result", response_model=KerasResult,
            responses={200: {"content": {wire.NPZ_MEDIA_TYPE: {}}}})
def get_result(job_id: str, storage: StorageDep, tenant: TenantDep) -> Any:
    """``predict``: an npz of the outputs by output name; ``evaluate``: the Keras return value
    and the logs (JSON)."""
    row = _job(storage, tenant, job_id)
    if row["kind"] == "fit":
        raise ApiError(409, f"Job {job_id!r} is a fit job: its result is the History "
                            f"(GET /v1/jobs/{job_id}/history) and the model's new weights.")
    if row["status"] != "succeeded":
        raise ApiError(409, f"Job {job_id!r} is {row['status']}"
                            + (f" ({row['error']})" if row["error"] else "")
                            + "; it has no result.")
    if row["kind"] == "predict":
        return FileResponse(storage.blobs.path(row["result_blob"]),
                            media_type=wire.NPZ_MEDIA_TYPE)
    return row["result"]


@router.get("/{job_id}/events", response_class=StreamingResponse,
            responses={200: {"content": {"text/event-stream": {}}}})
async def job_events(job_id: str, request: Request, storage: StorageDep, settings: SettingsDep,
                     tenant: TenantDep,
                     last_event_id: Annotated[str | None, Header()] = None,
                     after: Annotated[int | None, Query(ge=0)] = None) -> StreamingResponse:
    """Server-sent events of the job (``status``, ``train_begin``, ``batch``, ``epoch_end``),
    each with its ``id``; resume with the ``Last-Event-ID`` header (or ``?after=``). The stream
    ends after the job's final ``status`` event."""
    await run_in_threadpool(_job, storage, tenant, job_id)
    start = after or 0
    if last_event_id is not None:
        try:
            start = int(last_event_id)
        except ValueError:
            raise ApiError(400, f"Last-Event-ID must be an event id (an integer), got "
                                f"{last_event_id!r}.", "Last-Event-ID") from None
    return StreamingResponse(_stream(storage, job_id, start, settings.poll_interval, request),
                             media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


async def _stream(storage: Storage, job_id: str, after: int, poll: float,
                  request: Request) -> AsyncIterator[str]:
    idle = 0.0
    while True:
        events = await run_in_threadpool(storage.events_after, job_id, after)
        for event in events:
            after = event["id"]
            yield f"id: {after}\nevent: {event['type']}\ndata: {event['data']}\n\n"
        if events:
            idle = 0.0
            continue
        job = await run_in_threadpool(storage.get_job, None, job_id)
        if job is None or job["status"] in TERMINAL_STATUSES:
            if not await run_in_threadpool(storage.events_after, job_id, after):
                return
            continue
        if await request.is_disconnected():
            return
        await asyncio.sleep(poll)
        idle += poll
        if idle >= 15.0:
            idle = 0.0
            yield ": keep-alive\n\n"
