"""Dependencies injected into the routers: the storage, the executor and the caller's tenant."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from numkeras.server.errors import ApiError
from numkeras.server.settings import Settings
from numkeras.server.storage import Storage

_bearer = HTTPBearer(auto_error=False, description="An API key from `numkeras keys create`.")


def get_storage(request: Request) -> Storage:
    return request.app.state.storage


def get_executor(request: Request) -> Any:
    return request.app.state.executor


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_tenant(storage: Annotated[Storage, Depends(get_storage)],
               credentials: Annotated[HTTPAuthorizationCredentials | None,
                                      Depends(_bearer)]) -> str:
    """The tenant (API key id) of ``Authorization: Bearer <key>``.

    Raises:
        ApiError: 401 when the header is missing or the key is unknown.
    """
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise ApiError(401, "Missing API key: send the header 'Authorization: Bearer <key>' "
                            "(create a key with `numkeras keys create NAME`).")
    tenant = storage.tenant_for_key(credentials.credentials)
    if tenant is None:
        raise ApiError(401, "Unknown API key.")
    return tenant


StorageDep = Annotated[Storage, Depends(get_storage)]
ExecutorDep = Annotated[Any, Depends(get_executor)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
TenantDep = Annotated[str, Depends(get_tenant)]
