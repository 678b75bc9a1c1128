"""The ``numkeras`` command: ``numkeras serve`` and ``numkeras keys create NAME``."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from numkeras.server import Settings, create_app
    from numkeras.server.storage import Storage
    from numkeras.server.storage.lock import DataDirLocked, lock_data_dir

    try:
        # A clean refusal before anything touches the data dir; the app takes the lock for
        # good when it starts.
        lock_data_dir(args.data_dir).close()
    except DataDirLocked as e:
        print(f"numkeras: error: {e}", file=sys.stderr)
        return 2
    settings = Settings(data_dir=args.data_dir, host=args.host, port=args.port,
                        workers=(args.workers if args.workers is not None
                                 else max(1, os.cpu_count() or 1)),
                        call_workers=args.call_workers,
                        max_request_bytes=int(args.max_request_mb * (1 << 20)),
                        max_upload_bytes=int(args.max_upload_mb * (1 << 20)),
                        upload_expiry=args.upload_expiry, cors_origins=args.cors_origin or [])
    storage = Storage(settings.data_dir)
    if storage.count_keys() == 0:
        _, key = storage.create_key("default")
        print("No API key existed in this data dir; created one. Client settings:")
        print(f"export NUMKERAS_URL={settings.url}")
        print(f"export NUMKERAS_API_KEY={key}", flush=True)
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port,
                log_level=args.log_level, timeout_graceful_shutdown=5)
    return 0


def _keys_create(args: argparse.Namespace) -> int:
    from numkeras.server.storage import Storage

    key_id, key = Storage(args.data_dir).create_key(args.name)
    print(f"Created API key {args.name!r} ({key_id}) in {args.data_dir}; it is shown only once:")
    print(key)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the ``numkeras`` command line."""
    parser = argparse.ArgumentParser(prog="numkeras",
                                     description="Keras 2 training as a service.")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the service (API under /v1, docs at /docs)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--data-dir", default="./numkeras-data")
    serve.add_argument("--workers", type=int, default=None,
                       help="job worker processes (default: one per core)")
    serve.add_argument("--call-workers", type=int, default=1,
                       help="processes for synchronous calls (compile checks, *_on_batch)")
    serve.add_argument("--max-request-mb", type=float, default=1024.0,
                       help="largest request body in MiB; larger ones get 413")
    serve.add_argument("--max-upload-mb", type=float, default=65536.0,
                       help="largest dataset a chunked upload may assemble, in MiB")
    serve.add_argument("--upload-expiry", type=float, default=86400.0,
                       help="seconds after its last chunk that an unfinished upload is deleted")
    serve.add_argument("--cors-origin", action="append", metavar="ORIGIN",
                       help="a browser origin allowed to call the API, e.g. "
                            "https://app.example.com (repeatable); CORS is off without it")
    serve.add_argument("--log-level", default="info")
    serve.set_defaults(run=_serve)

    keys = sub.add_parser("keys", help="manage API keys")
    keys_sub = keys.add_subparsers(dest="keys_command", required=True)
    create = keys_sub.add_parser("create", help="create an API key (printed as the last line)")
    create.add_argument("name")
    create.add_argument("--data-dir", default="./numkeras-data")
    create.set_defaults(run=_keys_create)

    args = parser.parse_args(argv)
    try:
        return args.run(args)
    except ValueError as e:
        print(f"numkeras: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
