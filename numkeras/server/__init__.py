"""The numkeras service: FastAPI app, storage, job queue and worker processes.

Start it with ``numkeras serve``; embed it with ``create_app(Settings(...))``.
"""

from typing import Any

__all__ = ["Settings", "create_app"]


def __getattr__(name: str) -> Any:
    # Lazy, so that `numkeras keys create` and the workers do not import FastAPI.
    if name == "create_app":
        from numkeras.server.app import create_app

        return create_app
    if name == "Settings":
        from numkeras.server.settings import Settings

        return Settings
    raise AttributeError(f"module 'numkeras.server' has no attribute {name!r}")
