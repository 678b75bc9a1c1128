"""numkeras.engine.ops.parallel: chunks on the caller and the helper threads."""

import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from numkeras.engine.ops import parallel


def test_every_chunk_runs_once():
    seen = []
    lock = threading.Lock()

    def chunk(i):
        with lock:
            seen.append(i)

    for count in (0, 1, 2, 3, 17):
        seen.clear()
        parallel.run_chunks(chunk, count)
        assert sorted(seen) == list(range(count))


@pytest.mark.skipif(parallel.NUM_THREADS < 2, reason="needs a spare core")
def test_a_helper_thread_takes_chunks_when_the_caller_is_busy():
    """The caller blocks in its first chunk until another chunk has started elsewhere: only a
    helper can run it, so this returns only if the helpers work."""
    started = threading.Event()
    threads = set()

    def chunk(i):
        threads.add(threading.get_ident())
        if threading.get_ident() == main:
            assert started.wait(10), "no helper thread took a chunk"
        else:
            started.set()

    main = threading.get_ident()
    parallel.run_chunks(chunk, 2)
    assert len(threads) == 2


def test_the_caller_never_waits_for_a_helper_to_start():
    """Chunks that nobody else claims run on the caller, in a serial burst."""
    ran_on = []
    parallel.run_chunks(lambda i: ran_on.append(threading.get_ident()), 50)
    assert len(ran_on) == 50


def test_first_exception_is_raised_after_all_chunks():
    done = []

    def chunk(i):
        if i == 1:
            raise ValueError("chunk 1 failed")
        time.sleep(0.01)
        done.append(i)

    with pytest.raises(ValueError, match="chunk 1 failed"):
        parallel.run_chunks(chunk, 4)
    assert sorted(done) == [0, 2, 3]


def test_nested_and_concurrent_calls_run_serially_and_completely():
    results = np.zeros((4, 4), dtype=np.int64)

    def inner(i, j):
        results[i, j] += 1

    parallel.run_chunks(lambda i: parallel.run_chunks(lambda j: inner(i, j), 4), 4)
    assert (results == 1).all()

    errors = []

    def caller():
        try:
            for _ in range(50):
                parallel.run_chunks(lambda i: inner(i % 4, i // 4), 16)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=caller) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert (results == 1 + 150).all()


@pytest.mark.parametrize("length,parts,align,edges", [
    (128, 2, 16, [0, 64, 128]), (100, 2, 16, [0, 48, 100]), (20, 2, 16, [0, 20]),
    (7, 3, 1, [0, 2, 4, 7]), (0, 2, 1, [0, 0]), (5, 8, 1, [0, 1, 2, 3, 4, 5]),
])
def test_split_edges(length, parts, align, edges):
    assert parallel.split(length, parts, align) == edges


@pytest.mark.parametrize("value,ok", [("1", True), ("3", True), ("0", False), ("two", False)])
def test_thread_count_from_the_environment(value, ok):
    code = "from numkeras.engine.ops import parallel; print(parallel.NUM_THREADS)"
    env = {"NUMKERAS_NUM_THREADS": value, "PATH": "/usr/bin:/bin"}
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    if ok:
        assert proc.returncode == 0 and proc.stdout.strip() == value
    else:
        assert proc.returncode != 0 and "NUMKERAS_NUM_THREADS" in proc.stderr


def test_one_thread_runs_everything_on_the_caller():
    code = ("import threading\n"
            "from numkeras.engine.ops import parallel\n"
            "ids = set()\n"
            "parallel.run_chunks(lambda i: ids.add(threading.get_ident()), 8)\n"
            "assert ids == {threading.get_ident()} and parallel._helpers is None\n"
            "print('ok')\n")
    env = {"NUMKERAS_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"}
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


@pytest.mark.skipif(parallel.NUM_THREADS < 2, reason="needs a spare core")
def test_no_thread_keeps_the_chunks_alive_after_the_call():
    """What the chunks refer to is free when run_chunks returns (``conv.recycled`` relies on
    reference counts to reuse arrays)."""
    import gc
    import sys
    import weakref

    class Payload:
        pass

    for _ in range(200):
        payload = Payload()
        ref = weakref.ref(payload)
        parallel.run_chunks(lambda i, p=payload: time.sleep(0.0005 * i), 2)
        del payload
        if sys.implementation.name != "cpython":  # pragma: no cover
            gc.collect()
        assert ref() is None
