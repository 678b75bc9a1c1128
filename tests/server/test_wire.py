"""numkeras.wire: arrays as .npy / .npz bytes, never pickled."""

from __future__ import annotations

import io
import zipfile

import numpy as np
import pytest

from numkeras import wire


def test_one_array_round_trips_exactly() -> None:
    for array in (np.arange(12, dtype=np.float32).reshape(3, 4), np.array(7, np.int64),
                  np.zeros((0, 5), np.float16), np.array([True, False]),
                  np.asfortranarray(np.arange(6.0).reshape(2, 3)), np.array(["ab", "c"])):
        back = wire.decode_array(wire.encode_array(array))
        assert back.dtype == array.dtype and back.shape == array.shape
        np.testing.assert_array_equal(back, array)


def test_several_arrays_keep_names_order_and_are_stored_uncompressed() -> None:
    arrays = {"x": np.ones((2, 3), np.float32), "y": np.array([1, 2], np.int8),
              "x:second": np.zeros(1)}
    body = wire.encode_arrays(arrays)
    back = wire.decode_arrays(body)
    assert list(back) == list(arrays)
    for name, value in arrays.items():
        np.testing.assert_array_equal(back[name], value)
        assert back[name].dtype == value.dtype
    with zipfile.ZipFile(io.BytesIO(body)) as zf:
        assert {i.compress_type for i in zf.infolist()} == {zipfile.ZIP_STORED}
    assert wire.inspect_npz(io.BytesIO(body)) == {
        "x": ((2, 3), "<f4"), "y": ((2,), "|i1"), "x:second": ((1,), "<f8")}


def test_numpy_savez_bodies_are_read() -> None:
    buf = io.BytesIO()
    np.savez(buf, np.arange(3), b=np.eye(2))
    assert sorted(wire.decode_arrays(buf.getvalue())) == ["arr_0", "b"]
    assert wire.inspect_npz(io.BytesIO(buf.getvalue()))["b"] == ((2, 2), "<f8")


def test_object_arrays_are_refused_both_ways() -> None:
    objects = np.array([{"a": 1}, None], dtype=object)
    with pytest.raises(ValueError, match="object"):
        wire.encode_array(objects)
    with pytest.raises(ValueError, match="'bad'"):
        wire.encode_arrays({"ok": np.ones(1), "bad": objects})
    pickled_npy = io.BytesIO()
    np.save(pickled_npy, objects, allow_pickle=True)
    pickled_npz = io.BytesIO()
    np.savez(pickled_npz, bad=objects)
    with pytest.raises(ValueError):
        wire.decode_array(pickled_npy.getvalue())
    with pytest.raises(ValueError):
        wire.decode_arrays(pickled_npz.getvalue())
    with pytest.raises(ValueError, match="object"):
        wire.inspect_npz(io.BytesIO(pickled_npz.getvalue()))


def test_malformed_bodies_raise_value_error() -> None:
    good = wire.encode_arrays({"x": np.arange(100, dtype=np.float64)})
    for body in (b"", b"garbage", good[: len(good) // 2], wire.encode_array(np.ones(2))):
        with pytest.raises(ValueError):
            wire.decode_arrays(body)
        with pytest.raises(ValueError):
            wire.inspect_npz(io.BytesIO(body))
    with pytest.raises(ValueError):
        wire.decode_array(good)
    # A member whose header promises more data than it holds.
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        member = io.BytesIO()
        np.lib.format.write_array(member, np.arange(10, dtype=np.float32))
        zf.writestr("x.npy", member.getvalue()[:-8])
        zf.writestr("notes.txt", b"hello")
    with pytest.raises(ValueError, match="truncated|not a .npy"):
        wire.inspect_npz(io.BytesIO(buf.getvalue()))
    with pytest.raises(ValueError, match="non-empty"):
        wire.encode_arrays({"": np.ones(1)})


def test_headers_are_read_one_thread_at_a_time(monkeypatch) -> None:
    """numpy parses .npy headers with ast.literal_eval, which CPython 3.11 cannot run in two
    threads at once (python/cpython#106905): every header read here holds wire's lock."""
    import threading

    real = np.lib.format.read_array_header_1_0
    inside, overlaps = [0], []
    guard = threading.Lock()

    def watched(f, *args, **kwargs):
        with guard:
            inside[0] += 1
            if inside[0] > 1:
                overlaps.append(inside[0])
        try:
            threading.Event().wait(0.001)  # widen the window a race would need
            return real(f, *args, **kwargs)
        finally:
            with guard:
                inside[0] -= 1

    monkeypatch.setattr(np.lib.format, "read_array_header_1_0", watched)
    body = wire.encode_arrays({"a": np.ones((4, 11), np.float32), "b": np.zeros(3)})
    one = wire.encode_array(np.arange(5.0))
    errors = []

    def work() -> None:
        try:
            for _ in range(5):
                assert list(wire.decode_arrays(body)) == ["a", "b"]
                assert wire.decode_array(one).shape == (5,)
                assert wire.inspect_npz(io.BytesIO(body))["a"][0] == (4, 11)
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and overlaps == []
