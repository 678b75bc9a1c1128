"""Chunked dataset uploads: ordered, resumable chunks; finalize validates and stores atomically;
unfinished uploads are reclaimed."""

from __future__ import annotations

import io
import os
import time
import zipfile

import numpy as np
import pytest

from numkeras import wire
from numkeras.server.storage import Storage
from tests.server.conftest import MAX_REQUEST_MB, create_key, start_server, stop_server
from tests.server.test_server import assert_error


def _chunks(body: bytes, size: int) -> list[bytes]:
    return [body[i:i + size] for i in range(0, len(body), size)]


def _parts(data_dir) -> list[str]:
    return sorted(p.name for p in (data_dir / "uploads").glob("*.part"))


def test_chunked_upload_in_order_and_resumed(server, api) -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(size=(300, 7)).astype(np.float32)
    y = rng.integers(0, 5, size=300)
    body = wire.encode_arrays({"x": x, "y": y})
    r = api.post("/datasets/uploads", json={"name": "big", "size": len(body)})
    assert r.status_code == 201, r.text
    up = r.json()
    assert up["received"] == 0 and up["size"] == len(body) and up["name"] == "big"
    assert up["expires_at"] > up["updated_at"]
    chunks = _chunks(body, 4000)
    offset = 0
    for i, chunk in enumerate(chunks[:-1]):
        r = api.put(f"/datasets/uploads/{up['id']}", params={"offset": offset}, content=chunk)
        assert r.status_code == 200, r.text
        offset += len(chunk)
        assert r.json()["received"] == offset
        if i == 2:
            # A chunk sent again (its answer was lost) is refused with where to go on.
            again = api.put(f"/datasets/uploads/{up['id']}", params={"offset": offset - 4000},
                            content=chunk)
            assert assert_error(again, 409, "offset")["expected_offset"] == offset
            assert again.headers["Upload-Offset"] == str(offset)
    # Finalizing before the declared size is complete: 409, and the upload stays resumable.
    early = assert_error(api.post(f"/datasets/uploads/{up['id']}/finalize"), 409)
    assert early["expected_offset"] == offset
    # Resume: ask where the upload is, send the rest from there.
    status = api.get(f"/datasets/uploads/{up['id']}").json()
    assert status["received"] == offset == len(body) - len(chunks[-1])
    assert up["id"] in [u["id"] for u in api.get("/datasets/uploads").json()]
    r = api.put(f"/datasets/uploads/{up['id']}", params={"offset": status["received"]},
                content=chunks[-1])
    assert r.json()["received"] == len(body)
    r = api.post(f"/datasets/uploads/{up['id']}/finalize")
    assert r.status_code == 201, r.text
    ds = r.json()
    assert ds["name"] == "big" and ds["size_bytes"] == len(body)
    assert ds["arrays"] == {"x": {"shape": [300, 7], "dtype": "<f4"},
                            "y": {"shape": [300], "dtype": y.dtype.str}}
    back = wire.decode_arrays(api.get(f"/datasets/{ds['id']}/arrays").content)
    np.testing.assert_array_equal(back["x"], x)
    np.testing.assert_array_equal(back["y"], y)
    # The upload is gone, its part file moved into the blob store.
    assert_error(api.get(f"/datasets/uploads/{up['id']}"), 404)
    assert f"{up['id']}.part" not in _parts(server.data_dir)


def test_chunk_caps_offsets_and_tenants(api, other_api) -> None:
    up = api.post("/datasets/uploads", json={"size": 100}).json()
    url = f"/datasets/uploads/{up['id']}"
    assert_error(api.put(url, params={"offset": 5}, content=b"abc"), 409, "offset")
    assert_error(api.put(url, content=b"abc"), 422, "offset")
    assert_error(api.put(url, params={"offset": 0}, content=b""), 400)
    # Over the declared size: 413, and nothing of that chunk is kept.
    assert_error(api.put(url, params={"offset": 0}, content=b"a" * 101), 413)
    assert api.get(url).json()["received"] == 0
    # One request over the per-request cap: 413 as for any request.
    big = api.post("/datasets/uploads").json()
    r = api.put(f"/datasets/uploads/{big['id']}", params={"offset": 0},
                content=b"\0" * (MAX_REQUEST_MB * (1 << 20) + 1))
    assert_error(r, 413)
    assert api.get(f"/datasets/uploads/{big['id']}").json()["received"] == 0
    assert api.delete(f"/datasets/uploads/{big['id']}").status_code == 204
    assert_error(api.post("/datasets/uploads", json={"size": 1 << 60}), 413, "size")
    assert_error(api.post("/datasets/uploads", json={"size": 0}), 422, "size")
    # Another tenant sees nothing of it.
    assert_error(other_api.get(url), 404)
    assert_error(other_api.put(url, params={"offset": 0}, content=b"abc"), 404)
    assert_error(other_api.post(f"{url}/finalize"), 404)
    assert_error(other_api.delete(url), 404)
    assert up["id"] not in [u["id"] for u in other_api.get("/datasets/uploads").json()]
    assert api.delete(url).status_code == 204
    assert_error(api.get(url), 404)


def test_new_routes_need_a_key(server) -> None:
    anon = server.client(None)
    for method, path in (("POST", "/datasets/uploads"), ("GET", "/datasets/uploads"),
                         ("GET", "/datasets/uploads/up_x"), ("PUT", "/datasets/uploads/up_x"),
                         ("POST", "/datasets/uploads/up_x/finalize"),
                         ("DELETE", "/datasets/uploads/up_x"), ("POST", "/jobs/job_x/batches"),
                         ("POST", "/jobs/job_x/batches/end"), ("GET", "/jobs/job_x/batches")):
        assert_error(anon.request(method, path, content=b"{}"), 401)


def _object_npz() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf, zf.open("x.npy", "w") as member:
        np.lib.format.write_array(member, np.array([{"a": 1}], dtype=object),
                                  allow_pickle=True)
    return buf.getvalue()


@pytest.mark.parametrize("case", ["truncated", "object", "not_npz"])
def test_invalid_archive_leaves_no_dataset(server, api, case) -> None:
    body = {"truncated": wire.encode_arrays({"x": np.arange(5000.0)})[:-100],
            "object": _object_npz(), "not_npz": b"plain text, not a zip"}[case]
    before = {d["id"] for d in api.get("/datasets").json()}
    up = api.post("/datasets/uploads").json()
    for offset in range(0, len(body), 1000):
        r = api.put(f"/datasets/uploads/{up['id']}", params={"offset": offset},
                    content=body[offset:offset + 1000])
        assert r.status_code == 200
    assert_error(api.post(f"/datasets/uploads/{up['id']}/finalize"), 422, "body")
    assert {d["id"] for d in api.get("/datasets").json()} == before
    assert_error(api.get(f"/datasets/uploads/{up['id']}"), 404)
    assert f"{up['id']}.part" not in _parts(server.data_dir)


def test_unfinished_upload_expires_and_its_file_is_reclaimed(tmp_path) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    key = create_key(data_dir, "expiry")
    srv = start_server(data_dir, workers=1, extra=["--upload-expiry", "1"])
    try:
        api = srv.client(key)
        up = api.post("/datasets/uploads").json()
        body = wire.encode_arrays({"x": np.ones(1000, np.float32)})
        assert api.put(f"/datasets/uploads/{up['id']}", params={"offset": 0},
                       content=body[:2000]).status_code == 200
        assert _parts(data_dir) == [f"{up['id']}.part"]
        deadline = time.monotonic() + 10
        while api.get(f"/datasets/uploads/{up['id']}").status_code != 404:
            assert time.monotonic() < deadline, "the idle upload was never reclaimed"
            time.sleep(0.1)
        assert _parts(data_dir) == []
        assert api.get("/datasets").json() == []
    finally:
        stop_server(srv)


def test_restart_cuts_a_chunk_that_a_crash_left_half_written(tmp_path) -> None:
    storage = Storage(tmp_path)
    up = storage.create_upload("tenant", "d", None)
    part = storage.blobs.upload_path(up["id"])
    part.write_bytes(b"x" * 30)
    storage.set_upload_received(up["id"], 20)
    (storage.blobs.uploads / "up_orphan.part").write_bytes(b"y")
    os.utime(storage.blobs.uploads / "up_orphan.part", (0, 0))
    assert storage.reclaim_uploads(max_idle=3600) == []
    assert part.read_bytes() == b"x" * 20
    assert not (storage.blobs.uploads / "up_orphan.part").exists()
    assert storage.reclaim_uploads(max_idle=-1) == [up["id"]]
    assert not part.exists() and storage.get_upload("tenant", up["id"]) is None
