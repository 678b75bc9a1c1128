"""The client suite's server: the same real uvicorn subprocess as tests/server (same helpers,
same fixture names ``server`` and ``api``), and a client connected to it."""

from __future__ import annotations

from collections.abc import Iterator
from types import ModuleType

import httpx
import pytest

from tests.server.conftest import Server, create_key, start_server, stop_server


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = start_server(tmp_path_factory.mktemp("numkeras-client-data"))
    try:
        yield srv
    finally:
        stop_server(srv)


@pytest.fixture(scope="session")
def api_key(server: Server) -> str:
    return create_key(server.data_dir, "client-tests")


@pytest.fixture(scope="session")
def api(server: Server, api_key: str) -> httpx.Client:
    """A raw HTTP client of the same tenant as ``remote``, to look at the server's state."""
    return server.client(api_key)


@pytest.fixture
def remote(server: Server, api_key: str) -> Iterator[ModuleType]:
    """``numkeras.client``, connected to the test server."""
    import numkeras.client as keras

    keras.connect(server.url, api_key=api_key)
    yield keras


@pytest.fixture
def local() -> ModuleType:
    import numkeras.engine as keras

    return keras
