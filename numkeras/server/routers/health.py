"""GET /v1/health: no key needed."""

from __future__ import annotations

from fastapi import APIRouter

from numkeras.server.dependencies import ExecutorDep
from numkeras.server.schemas import Health

router = APIRouter(prefix="/health", tags=["health"])


@router.get("", response_model=Health)
def health(executor: ExecutorDep) -> Health:
    """The server answers; how many job workers it has and how many are alive."""
    from numkeras import __version__

    workers = executor.workers()
    return Health(status="ok", version=__version__, workers=len(workers),
                  workers_alive=sum(w["alive"] for w in workers))
