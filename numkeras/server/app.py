"""The app factory: ``create_app(settings)`` mounts one router per resource under /v1."""

from __future__ import annotations

import asyncio
import errno
import logging
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from numkeras.server.dependencies import get_tenant
from numkeras.server.errors import ApiError
from numkeras.server.routers import datasets, health, jobs, models
from numkeras.server.schemas import Error
from numkeras.server.settings import Settings
from numkeras.server.storage import Storage
from numkeras.server.storage.lock import lock_data_dir
from numkeras.server.worker.executor import LocalExecutor

log = logging.getLogger("numkeras.server")

_CODES = {400: "bad_request", 401: "unauthorized", 404: "not_found", 405: "method_not_allowed",
          409: "conflict", 413: "request_too_large", 415: "unsupported_media_type",
          422: "invalid_argument", 429: "too_many_requests", 503: "unavailable",
          507: "insufficient_storage"}

_FULL = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)


def _storage_full(exc: BaseException) -> bool:
    """A write failed because the disk (or the file size limit) is full."""
    if isinstance(exc, OSError):
        return exc.errno in _FULL
    return isinstance(exc, sqlite3.OperationalError) and "full" in str(exc)


def _error(status: int, message: str, argument: str | None = None,
           headers: dict[str, str] | None = None,
           details: dict[str, Any] | None = None) -> JSONResponse:
    body: dict[str, Any] = {"error": _CODES.get(status, "error"), "message": message}
    if argument is not None:
        body["argument"] = argument
    body.update(details or {})
    if status == 401:
        headers = {**(headers or {}), "WWW-Authenticate": "Bearer"}
    return JSONResponse(body, status_code=status, headers=headers)


class BodyLimit:
    """Answers 413 to a request whose body is larger than ``limit`` bytes (by its
    Content-Length, or while a chunked body streams in)."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.limit):
            message = (f"The request body ({length.decode(errors='replace')} bytes) exceeds "
                       f"the limit of {self.limit} bytes." if length.isdigit()
                       else "Invalid Content-Length header.")
            await _error(413 if length.isdigit() else 400, message)(scope, receive, send)
            return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    # An HTTPException passes FastAPI's body parsing unchanged (other errors
                    # would become "400 error parsing the body").
                    raise StarletteHTTPException(
                        413, f"The request body exceeds the limit of {self.limit} bytes.")
            return message

        await self.app(scope, counted, send)


_TYPE_TAGS = {"str", "int", "float", "bool", "list", "dict", "literal", "none"}


def _validation_message(exc: RequestValidationError) -> tuple[int, str, str | None]:
    errors = exc.errors()
    if any(e.get("type") == "json_invalid" for e in errors):
        detail = next(e for e in errors if e.get("type") == "json_invalid")
        reason = (detail.get("ctx") or {}).get("error", "")
        return 400, f"The request body is not valid JSON: {reason}".rstrip(": "), "body"
    parts: dict[str, list[str]] = {}
    for e in errors:
        # Drop the request part and pydantic's union tags ("str", "dict[str,any]").
        loc = [str(p) for p in e.get("loc", ())[1:]
               if isinstance(p, int) or (str(p).isidentifier() and p not in _TYPE_TAGS)]
        where = ".".join(loc) or "body"
        got = f" (got {e['input']!r:.100})" if "input" in e and loc else ""
        parts.setdefault(where, []).append(f"{e.get('msg')}{got}")
    message = "; ".join(f"{where}: {' or '.join(dict.fromkeys(msgs))}"
                        for where, msgs in parts.items())
    return 422, f"Invalid request: {message}", next(iter(parts))


def _sweep(storage: Storage, settings: Settings) -> None:
    expired = storage.reclaim_uploads(settings.upload_expiry)
    if expired:
        log.info("deleted unfinished uploads idle for over %s s: %s", settings.upload_expiry,
                 expired)
    storage.drop_batches()


async def _sweeper(storage: Storage, settings: Settings) -> None:
    """Reclaims expired uploads and the batches of finished streamed jobs, now and then."""
    while True:
        await asyncio.sleep(min(settings.upload_expiry / 2, 60.0))
        try:
            await run_in_threadpool(_sweep, storage, settings)
        except Exception:  # a busy database: next round
            log.exception("sweep failed")


def create_app(settings: Settings) -> FastAPI:
    """The numkeras service: storage in ``settings.data_dir``, job workers started on startup.

    Args:
        settings: Data dir, number of workers, request size cap...
    """

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        lock = lock_data_dir(settings.data_dir)  # before anything touches the data dir
        storage = Storage(settings.data_dir)
        storage.blobs.clear_temp()
        interrupted = storage.fail_interrupted_jobs()
        if interrupted:
            log.warning("jobs left running by a previous server were failed (interrupted): %s",
                        interrupted)
        _sweep(storage, settings)
        executor = LocalExecutor(settings, storage)
        executor.start()
        app.state.storage, app.state.executor = storage, executor
        app.state.upload_locks = {}
        sweeper = asyncio.create_task(_sweeper(storage, settings))
        try:
            yield
        finally:
            sweeper.cancel()
            executor.stop()
            lock.close()

    app = FastAPI(title="numkeras", version=_version(), lifespan=lifespan,
                  description="Keras 2 training as a service: models, datasets and jobs "
                              "(fit / evaluate / predict) run by worker processes.")
    app.state.settings = settings

    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> JSONResponse:
        return _error(exc.status_code, exc.message, exc.argument, exc.headers, exc.details)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        message = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
        if exc.status_code == 404 and message == "Not Found":
            message = f"No route {request.method} {request.url.path}; see /docs."
        return _error(exc.status_code, message, headers=getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        return _error(*_validation_message(exc))

    @app.exception_handler(OSError)
    @app.exception_handler(sqlite3.OperationalError)
    async def storage_error(request: Request, exc: Exception) -> JSONResponse:
        # Writers clean up after themselves (temp files unlinked, chunks cut back, transactions
        # rolled back), so a full disk refuses the request and leaves the stored data as it was.
        if _storage_full(exc):
            log.error("%s %s: the data dir is full: %s", request.method, request.url.path, exc)
            return _error(507, "The server's storage is full; nothing was stored. Free space "
                               "(delete datasets or models) or retry later.")
        return await internal_error(request, exc)

    @app.exception_handler(Exception)
    async def internal_error(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error in %s %s", request.method, request.url.path)
        return JSONResponse({"error": "internal", "message": f"Internal server error: "
                             f"{type(exc).__name__}: {exc}"}, status_code=500)

    v1 = APIRouter(prefix="/v1")
    v1.include_router(health.router)
    private = [Depends(get_tenant)]
    # Declares the body every 4xx really has (FastAPI would declare its HTTPValidationError).
    errors: dict[int | str, dict[str, Any]] = {"4XX": {
        "model": Error, "description": "The request was refused: `error` (a code), `message` "
                                       "(what to change) and `argument` (the one at fault)."}}
    for router in (models.router, datasets.router, jobs.router):
        v1.include_router(router, dependencies=private, responses=errors)
    app.include_router(v1)
    app.add_middleware(BodyLimit, limit=settings.max_request_bytes)
    if settings.cors_origins:
        # Off unless configured: browsers on other origins get no Access-Control-* headers.
        app.add_middleware(CORSMiddleware, allow_origins=list(settings.cors_origins),
                           allow_methods=["*"], allow_headers=["Authorization", "Content-Type",
                                                               "Last-Event-ID"],
                           expose_headers=["X-Model-Version", "Upload-Offset"])
    return app


def _version() -> str:
    from numkeras import __version__

    return __version__
