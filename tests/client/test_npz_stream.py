"""``wire.NpzStream``: the npz body the client uploads, produced from the arrays' memory."""

from __future__ import annotations

import io
import zipfile
import zlib
from typing import Any

import numpy as np
import pytest

from numkeras import wire

ARRAYS = {
    "x": np.arange(12, dtype="float32").reshape(3, 4),
    "scalar": np.float64(3.5),
    "empty": np.zeros((0, 3), "float16"),
    "flags": np.array([True, False]),
    "fortran": np.asfortranarray(np.arange(6.0).reshape(3, 2)),
    "strided": np.arange(10)[::2],
    "é": np.ones(2, "int8"),
}


def test_body_is_an_npz_that_numpy_and_zip_tools_read() -> None:
    body = wire.NpzStream(ARRAYS).getvalue()
    with zipfile.ZipFile(io.BytesIO(body)) as zf:
        assert zf.testzip() is None  # every member's CRC-32 checks
        assert [i.filename for i in zf.infolist()] == [f"{k}.npy" for k in ARRAYS]
        assert all(i.compress_type == zipfile.ZIP_STORED for i in zf.infolist())
    with np.load(io.BytesIO(body), allow_pickle=False) as npz:
        for name, value in ARRAYS.items():
            assert npz[name].dtype == np.asarray(value).dtype
            np.testing.assert_array_equal(npz[name], value)
            assert npz[name].shape == np.shape(value)
    assert wire.inspect_npz(io.BytesIO(body))["x"] == ((3, 4), "<f4")
    assert wire.encode_arrays(ARRAYS) == body


def test_member_bytes_are_what_np_save_writes() -> None:
    body = wire.NpzStream({"a": ARRAYS["x"]}).getvalue()
    expected = io.BytesIO()
    np.save(expected, ARRAYS["x"])
    with zipfile.ZipFile(io.BytesIO(body)) as zf:
        member = zf.read("a.npy")
        assert member == expected.getvalue()
        assert zf.getinfo("a.npy").CRC == zlib.crc32(expected.getvalue())


@pytest.mark.parametrize("size", [1, 7, 64, 100, 10_000])
def test_read_gives_any_range_of_the_body(size: int) -> None:
    stream = wire.NpzStream(ARRAYS)
    body = stream.getvalue()
    assert len(stream) == len(body)
    parts = [stream.read(offset, size) for offset in range(0, len(body), size)]
    assert b"".join(parts) == body
    assert all(len(p) == size for p in parts[:-1])
    assert stream.read(len(body) - 3, 100) == body[-3:]
    assert b"".join(bytes(p) for p in stream) == body


def test_pieces_are_views_of_the_arrays_not_copies() -> None:
    big = np.random.default_rng(0).random((256, 64)).astype("float32")
    pieces = list(wire.NpzStream({"big": big}))
    assert any(p.obj is not None and np.shares_memory(np.asarray(p.obj), big) for p in pieces)


def test_object_arrays_and_bad_names_are_refused() -> None:
    with pytest.raises(ValueError, match="object arrays cannot be sent"):
        wire.NpzStream({"o": np.array([{}, 1], dtype=object)})
    with pytest.raises(ValueError, match="non-empty strings"):
        wire.NpzStream({"": np.zeros(2)})


@pytest.mark.parametrize("save", [wire.encode_arrays, "savez", "savez_compressed"])
def test_read_npz_array_reads_one_member(tmp_path: Any, save: Any) -> None:
    path = tmp_path / "data.npz"
    if callable(save):
        path.write_bytes(save(ARRAYS))
    else:
        getattr(np, save)(path, **ARRAYS)
    for name, value in ARRAYS.items():
        array = wire.read_npz_array(path, name)
        assert array.dtype == np.asarray(value).dtype and array.shape == np.shape(value)
        np.testing.assert_array_equal(array, value)
    with pytest.raises(KeyError):
        wire.read_npz_array(path, "missing")


def test_read_npz_array_refuses_a_truncated_member(tmp_path: Any) -> None:
    body = wire.encode_arrays({"x": np.arange(100.0)})
    assert body.count(b"(100,)") == 1
    path = tmp_path / "cut.npz"
    # The header claims 200 values; the member holds 100.
    path.write_bytes(body.replace(b"(100,)", b"(200,)"))
    with pytest.raises(ValueError, match="truncated"):
        wire.read_npz_array(path, "x")
