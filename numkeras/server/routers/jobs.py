"""/v1/jobs: fit, evaluate and predict run as jobs in worker processes; their status, events
(server-sent, resumable), History and results."""

from __future__ import annotations

import asyncio
import inspect
import json
import os
import time
import warnings
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import FileResponse, StreamingResponse
from starlette.concurrency import run_in_threadpool

from numkeras import callbacks as callbacks_module
from numkeras import wire
from numkeras.server.dependencies import ExecutorDep, SettingsDep, StorageDep, TenantDep
from numkeras.server.errors import ApiError, not_found
from numkeras.server.routers._body import NPZ_BODY, receive_npz
from numkeras.server.schemas import (
    BatchStream,
    HistoryOut,
    Job,
    JobCreate,
    JobStatus,
    KerasResult,
)
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
# Streamed jobs read their data from batches the client pushes (a Keras generator).
_STREAM_ARGUMENTS = {
    "fit": {"epochs", "class_weight", "initial_epoch", "steps_per_epoch", "validation_freq"},
    "evaluate": {"steps"},
    "predict": {"steps"},
}
_STREAM_DATA = {"fit": {"validation_data"}, "evaluate": set(), "predict": set()}
_STREAM_STEPS = {"fit": "steps_per_epoch", "evaluate": "steps", "predict": "steps"}
_STREAM_QUEUE = {"max_queue_size", "batch_timeout"}
DEFAULT_MAX_QUEUE_SIZE = 10
DEFAULT_BATCH_TIMEOUT = 60.0
MAX_BATCH_WAIT = 60.0
# Built-in callbacks that are pure configuration: a fit's worker runs them.
SERVER_CALLBACKS = ("EarlyStopping", "ReduceLROnPlateau", "TerminateOnNaN")
_INTEGER_ARGUMENTS = {"patience", "verbose", "cooldown", "start_from_epoch"}


def _out(row: dict[str, Any]) -> dict[str, Any]:
    return {k: row[k] for k in ("id", "kind", "model_id", "status", "error", "progress",
                                "worker_pid", "created_at", "started_at", "finished_at")} | {
        "cancel_requested": bool(row["cancel_requested"]),
        "stream": bool(row["spec"].get("stream"))}


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
    given = body.model_fields_set - {"kind", "model_id", "verbose", "stream", "callbacks"}
    if body.stream:
        arguments = _STREAM_ARGUMENTS[body.kind]
        allowed = arguments | _STREAM_DATA[body.kind] | _STREAM_QUEUE
        what = f"a streamed {body.kind}"
    else:
        arguments = _ARGUMENTS[body.kind]
        allowed = arguments | _DATA[body.kind]
        what = body.kind
    for name in sorted(given - allowed):
        if getattr(body, name) is not None:
            raise ApiError(422, f"{body.kind}: argument {name!r} does not apply to "
                                f"{what}; it takes {sorted(allowed)}.", name)
    if body.kind != "predict" and model["training_config"] is None:
        raise ApiError(422, "You must compile your model before training/testing. Use "
                            f"PUT /v1/models/{body.model_id}/compile before {body.kind}.",
                       "model_id")
    if body.stream:
        steps = _STREAM_STEPS[body.kind]
        if getattr(body, steps) is None:
            raise ApiError(422, f"{body.kind}: a streamed {body.kind} needs `{steps}` (the "
                                "number of batches, as for a Keras generator).", steps)
    elif body.x is None:
        raise ApiError(422, f"{body.kind}: `x` is required (a dataset reference), unless the "
                            "job is streamed (`stream: true`).", "x")
    else:
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
    spec = {
        "x": dump["x"], "y": dump["y"] if "y" in allowed else None,
        "sample_weight": dump["sample_weight"] if "sample_weight" in allowed else None,
        "validation_data": dump["validation_data"] if "validation_data" in allowed else None,
        "arguments": {k: dump[k] for k in arguments if dump[k] is not None},
    }
    if body.callbacks:
        spec["callbacks"] = _check_callbacks(body)
    if body.stream:
        spec.update(stream=True,
                    max_queue_size=body.max_queue_size or DEFAULT_MAX_QUEUE_SIZE,
                    batch_timeout=body.batch_timeout or DEFAULT_BATCH_TIMEOUT,
                    input_names=model["info"]["input_names"],
                    input_shapes=model["info"]["input_shapes"],
                    output_names=model["info"]["output_names"])
    return spec


def _check_callbacks(body: JobCreate) -> list[dict[str, Any]]:
    """The job's callbacks as ``{"class_name", "config"}``, each built once to check it."""
    if body.kind != "fit":
        raise ApiError(422, f"{body.kind}: argument 'callbacks' does not apply to {body.kind}; "
                            "server-side callbacks run during a fit.", "callbacks")
    out = []
    for i, callback in enumerate(body.callbacks or []):
        where, name = f"callbacks[{i}]", callback.class_name
        if name not in SERVER_CALLBACKS:
            raise ApiError(422, f"{where}: unknown callback class {name!r}; the server runs "
                                f"{list(SERVER_CALLBACKS)}.", "callbacks")
        cls = getattr(callbacks_module, name)
        params = {n: p.default for n, p in inspect.signature(cls.__init__).parameters.items()
                  if n != "self"}
        for key, value in callback.config.items():
            if key not in params:
                raise ApiError(422, f"{where}: {name} has no argument {key!r}; it takes "
                                    f"{sorted(params)}.", "callbacks")
            default = params[key]
            if isinstance(default, bool) or isinstance(default, str):
                ok = isinstance(value, type(default))
            elif key in _INTEGER_ARGUMENTS:
                ok = isinstance(value, int) and not isinstance(value, bool)
            else:  # a number, or None for "not set"
                ok = (value is None and default is None) or (
                    isinstance(value, (int, float)) and not isinstance(value, bool))
            if not ok:
                raise ApiError(422, f"{where}: {name} argument {key!r} has a value of the wrong "
                                    f"type: {value!r} (default {default!r}).", "callbacks")
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error", UserWarning)  # e.g. an unknown `mode`
                cls(**callback.config)
        except (ValueError, TypeError, UserWarning) as e:
            raise ApiError(422, f"{where}: invalid {name} config: {e}", "callbacks") from None
        out.append({"class_name": name, "config": dict(callback.config)})
    return out


@router.post("", response_model=Job, status_code=201)
def create_job(body: JobCreate, storage: StorageDep, executor: ExecutorDep,
               tenant: TenantDep) -> dict[str, Any]:
    """Queues ``fit`` / ``evaluate`` / ``predict`` of a model on uploaded datasets, or on
    batches pushed while it runs (``stream: true``, see ``POST /v1/jobs/{id}/batches``).

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


# -------------------------------------------------------------------- streamed batches
def _stream_out(job: dict[str, Any], stream: dict[str, Any]) -> dict[str, Any]:
    return {"job_id": job["id"], "pushed": stream["pushed"], "consumed": stream["consumed"],
            "queued": stream["pushed"] - stream["consumed"],
            "max_queue_size": stream["max_queue_size"], "ended": bool(stream["ended"]),
            "status": job["status"]}


def _streamed(storage: Storage, tenant: str, job_id: str) -> tuple[dict, dict]:
    job = _job(storage, tenant, job_id)
    stream = storage.get_stream(job_id)
    if stream is None:
        raise ApiError(409, f"Job {job_id!r} reads its data from datasets; only a job created "
                            "with `stream: true` takes pushed batches.")
    return job, stream


def _refusal(job: dict[str, Any], outcome: str) -> ApiError:
    if outcome == "ended":
        return ApiError(409, f"The end of data of job {job['id']!r} was already signalled; "
                             "it takes no more batches.")
    return ApiError(409, f"Job {job['id']!r} is {outcome}"
                         + (f" ({job['error']})" if job.get("error") else "")
                         + "; it takes no more batches.")


def _check_batch(job: dict[str, Any], arrays: dict[str, tuple[tuple[int, ...], str]]) -> None:
    spec, kind = job["spec"], job["kind"]
    inputs, outputs = spec["input_names"], spec["output_names"]
    known = {"x": inputs, "y": outputs, "sample_weight": outputs}
    for key in arrays:
        part, _, name = key.partition(":")
        if part not in known or (name and name not in known[part]):
            raise ApiError(422, f"The batch has an array {key!r}; a batch holds 'x' (or "
                                f"'x:<input>' for inputs {inputs}), 'y' (or 'y:<output>' for "
                                f"outputs {outputs}) and optionally 'sample_weight'.", "body")
    present = {key.partition(":")[0] for key in arrays}
    if "x" not in present:
        raise ApiError(422, "The batch has no array 'x' (or 'x:<input name>').", "x")
    if kind != "predict" and "y" not in present:
        raise ApiError(422, f"A batch of a streamed {kind} needs targets 'y' (or "
                            "'y:<output name>').", "y")
    by_input = dict(zip(inputs, spec["input_shapes"], strict=True))
    for key, (shape, _) in arrays.items():
        part, _, name = key.partition(":")
        if part != "x":
            continue
        if not name and len(inputs) > 1:
            raise ApiError(422, f"The model has {len(inputs)} inputs {inputs}: send one array "
                                "'x:<input name>' for each.", "x")
        want = by_input[name or inputs[0]]
        if len(want) != len(shape) or any(w is not None and w != g
                                           for w, g in zip(want, shape, strict=True)):
            raise ApiError(422, f"x: input {name or inputs[0]!r} expects arrays of shape "
                                f"{tuple(want)}, got an array of shape {tuple(shape)}.", "x")
    sizes = {key: shape[0] if shape else None for key, (shape, _) in arrays.items()}
    if None in sizes.values() or len(set(sizes.values())) > 1:
        raise ApiError(422, "The arrays of a batch need the same number of samples (first "
                            f"axis); got {sizes}.", "body")


@router.post("/{job_id}/batches", response_model=BatchStream, status_code=202,
             openapi_extra={"requestBody": NPZ_BODY})
async def push_batch(job_id: str, request: Request, storage: StorageDep, settings: SettingsDep,
                     tenant: TenantDep,
                     wait: Annotated[float, Query(ge=0, le=MAX_BATCH_WAIT, description=(
                         "Seconds to wait for room in a full queue before answering 429."))]
                     = 10.0) -> dict[str, Any]:
    """Pushes one batch to a streamed job: an npz with ``x`` (or ``x:<input name>`` per
    input), ``y`` (or ``y:<output name>``; not needed by predict) and optionally
    ``sample_weight``, as the ``*_on_batch`` bodies. Batches are used in the order they
    arrive: push them one at a time.

    Backpressure: at most ``max_queue_size`` batches wait on the server. When the queue is
    full the request waits up to ``wait`` seconds for the worker to take one, then answers
    429 with ``Retry-After``; the batch was not queued, send it again."""
    job, stream = await run_in_threadpool(_streamed, storage, tenant, job_id)
    if job["status"] in TERMINAL_STATUSES or stream["ended"]:
        raise _refusal(job, job["status"] if not stream["ended"] else "ended")
    path, _, arrays = await receive_npz(request, storage, settings.max_request_bytes)
    try:
        _check_batch(job, arrays)
        blob = await run_in_threadpool(storage.blobs.adopt, path, ".npz", False)
    except BaseException:
        os.unlink(path)
        raise
    deadline = time.monotonic() + wait
    delay = 0.002
    try:
        while True:
            outcome, stream = await run_in_threadpool(storage.push_batch, job_id, blob)
            if outcome == "queued":
                blob = None
                break
            if outcome != "full":
                job = await run_in_threadpool(_job, storage, tenant, job_id)
                raise _refusal(job, outcome)
            if time.monotonic() >= deadline or await request.is_disconnected():
                raise ApiError(429, f"The batch queue of job {job_id!r} is full "
                                    f"({stream['max_queue_size']} batches wait for the worker)"
                                    "; the batch was not queued, send it again later.",
                               details={"queued": stream["pushed"] - stream["consumed"],
                                        "max_queue_size": stream["max_queue_size"]},
                               headers={"Retry-After": "1"})
            await asyncio.sleep(delay)
            delay = min(delay * 2, settings.poll_interval)
    finally:
        if blob is not None:
            await run_in_threadpool(storage.blobs.delete, [blob])
    job = await run_in_threadpool(_job, storage, tenant, job_id)
    return _stream_out(job, stream)


@router.post("/{job_id}/batches/end", response_model=BatchStream)
def end_batches(job_id: str, storage: StorageDep, tenant: TenantDep) -> dict[str, Any]:
    """Signals the end of the data, like a Keras generator that stops: the job uses the
    batches already queued, then ends as Keras does when its input runs out. Idempotent."""
    job, _ = _streamed(storage, tenant, job_id)
    return _stream_out(job, storage.end_stream(job_id))


@router.get("/{job_id}/batches", response_model=BatchStream)
def batch_queue(job_id: str, storage: StorageDep, tenant: TenantDep) -> dict[str, Any]:
    """The batch queue of a streamed job: pushed, consumed, waiting, ended."""
    job, stream = _streamed(storage, tenant, job_id)
    return _stream_out(job, stream)


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
