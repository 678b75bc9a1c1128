"""Security: API keys hashed at rest, compared in constant time and never logged; CORS off
unless configured; no pickle where data flows; request size limits."""

from __future__ import annotations

import ast
import hashlib
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

import numkeras
from numkeras.server.storage import Storage, database
from tests.server.conftest import MAX_REQUEST_MB, Server, create_key, start_server, stop_server

PACKAGE = Path(numkeras.__file__).parent
# Everything a request's or a response's data passes through (the client included).
DATA_PATH = [PACKAGE / "wire.py", *sorted((PACKAGE / "server").rglob("*.py")),
             *sorted((PACKAGE / "client").rglob("*.py"))]


def test_keys_are_hashed_at_rest(server: Server) -> None:
    key = create_key(server.data_dir, "at-rest")
    assert httpx.get(server.url + "/v1/models",
                     headers={"Authorization": f"Bearer {key}"}).status_code == 200
    stored = b"".join(p.read_bytes() for p in server.data_dir.glob("numkeras.sqlite3*"))
    assert key.encode() not in stored
    assert hashlib.sha256(key.encode()).hexdigest().encode() in stored


def test_keys_are_compared_in_constant_time(tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    storage = Storage(tmp_path)
    key_id, key = storage.create_key("ct")
    compared = []

    def compare_digest(a: str, b: str) -> bool:
        compared.append((a, b))
        return real(a, b)

    real = database.hmac.compare_digest
    monkeypatch.setattr(database.hmac, "compare_digest", compare_digest)
    assert storage.tenant_for_key(key) == key_id
    assert compared == [(database.hash_key(key), database.hash_key(key))]
    assert storage.tenant_for_key(key[:-1] + "x") is None


@pytest.fixture(scope="module")
def logged_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A server logging at debug level, access log on, one CORS origin allowed."""
    srv = start_server(tmp_path_factory.mktemp("logged") / "data", workers=1,
                       extra=["--log-level", "debug", "--cors-origin", "https://app.example"])
    try:
        yield srv
    finally:
        stop_server(srv)


def test_keys_are_never_logged(logged_server: Server) -> None:
    srv = logged_server
    key = create_key(srv.data_dir, "logged")
    api = srv.client(key)
    assert api.get("/models").status_code == 200
    assert api.get("/models/nope").status_code == 404
    assert api.post("/models", content=b"{",
                    headers={"Content-Type": "application/json"}).status_code == 400
    wrong = key[:-4] + "AAAA"
    assert httpx.get(srv.url + "/v1/models",
                     headers={"Authorization": f"Bearer {wrong}"}).status_code == 401
    log = srv.log.read_text()
    assert "GET /v1/models HTTP/1.1" in log  # the access log is on: requests are logged
    assert key not in log and key[3:] not in log
    assert wrong[3:] not in log


def _cors(url: str, origin: str) -> tuple[httpx.Response, httpx.Response]:
    get = httpx.get(url + "/v1/health", headers={"Origin": origin})
    preflight = httpx.options(url + "/v1/models", headers={
        "Origin": origin, "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization"})
    return get, preflight


def test_cors_is_off_by_default(server: Server) -> None:
    get, preflight = _cors(server.url, "https://evil.example")
    assert get.status_code == 200
    assert "access-control-allow-origin" not in get.headers
    assert "access-control-allow-origin" not in preflight.headers
    assert preflight.status_code >= 400


def test_cors_allows_only_the_configured_origin(logged_server: Server) -> None:
    get, preflight = _cors(logged_server.url, "https://app.example")
    assert get.headers["access-control-allow-origin"] == "https://app.example"
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == "https://app.example"
    get, preflight = _cors(logged_server.url, "https://evil.example")
    assert "access-control-allow-origin" not in get.headers
    assert "access-control-allow-origin" not in preflight.headers


def _calls(path: Path) -> Iterator[ast.Call]:
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Call):
            yield node


def _name(call: ast.Call) -> str:
    return ast.unparse(call.func)


def test_no_pickle_where_data_flows() -> None:
    assert len(DATA_PATH) > 20
    unpicklers = []
    for path in DATA_PATH:
        text = path.read_text()
        assert "allow_pickle=True" not in text, path
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                names = [a.name for a in node.names] + [getattr(node, "module", None) or ""]
                unpicklers += [f"{path}: import {n}" for n in names
                               if n.split(".")[0] in ("pickle", "dill", "cloudpickle", "marshal",
                                                      "shelve", "joblib")]
        for call in _calls(path):
            name = _name(call)
            if name in ("np.load", "numpy.load"):
                flags = {k.arg: ast.unparse(k.value) for k in call.keywords}
                assert flags.get("allow_pickle") == "False", f"{path}: {ast.unparse(call)}"
    assert unpicklers == []


def test_request_size_limits(server: Server, api: httpx.Client) -> None:
    limit = MAX_REQUEST_MB << 20
    before = [d["id"] for d in api.get("/datasets").json()]
    r = api.post("/datasets", content=b"\0" * (limit + 1))
    assert r.status_code == 413 and "limit" in r.json()["message"]

    def chunks() -> Iterator[bytes]:  # no Content-Length: the cap applies while it streams
        for _ in range(MAX_REQUEST_MB + 1):
            yield b"\0" * (1 << 20)

    r = api.post("/datasets", content=chunks())
    assert r.status_code == 413 and "limit" in r.json()["message"]
    r = api.post("/models", content=chunks(), headers={"Content-Type": "application/json"})
    assert r.status_code == 413
    assert [d["id"] for d in api.get("/datasets").json()] == before
    assert list((server.data_dir / "tmp").iterdir()) == []
