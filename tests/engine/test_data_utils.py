"""Batch feeding (Sequence, enqueuers, BatchSource) and the NumPy helpers of keras.utils."""

from __future__ import annotations

import multiprocessing
import os
import threading
import time
import traceback

import numpy as np
import pytest

from numkeras.utils.data_utils import (
    BatchSource,
    GeneratorEnqueuer,
    OrderedEnqueuer,
    Sequence,
    is_generator_or_sequence,
    unpack_x_y_sample_weight,
)
from numkeras.utils.np_utils import normalize, to_categorical

# --- picklable helpers (module level, so spawned worker processes can import them) ----------


class IndexSequence(Sequence):
    """Batch i is ``offset + i``; later batches are faster, so workers finish out of order.

    ``on_epoch_end`` counts its calls and moves ``offset`` by 100, so a batch shows which pass
    (and which copy of the sequence) produced it.
    """

    def __init__(self, n: int = 8, delay: float = 0.0, fail_at: int | None = None) -> None:
        self.n, self.delay, self.fail_at = n, delay, fail_at
        self.offset = 0
        self.epoch_ends = 0

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, index: int) -> int:
        if index == self.fail_at:
            raise ValueError(f"bad batch {index}")
        value = self.offset + index
        time.sleep(self.delay * (self.n - index) / self.n)
        return value

    def on_epoch_end(self) -> None:
        self.epoch_ends += 1
        self.offset += 100


class CountingIterator:
    """A picklable iterator: 0, 1, 2, ... up to ``stop``."""

    def __init__(self, stop: int = 10**9) -> None:
        self.i, self.stop = 0, stop

    def __iter__(self) -> CountingIterator:
        return self

    def __next__(self) -> int:
        if self.i >= self.stop:
            raise StopIteration
        self.i += 1
        return self.i - 1


class RacyIterator:
    """Not thread-safe: concurrent ``next`` calls would repeat or skip values."""

    def __init__(self) -> None:
        self.i = 0

    def __iter__(self) -> RacyIterator:
        return self

    def __next__(self) -> int:
        value = self.i
        time.sleep(0)  # let another thread in between the read and the write
        self.i = value + 1
        return value


class DyingSequence(Sequence):
    """Its worker process exits hard (no exception to send back) on batch 1."""

    def __len__(self) -> int:
        return 3

    def __getitem__(self, index: int) -> int:
        if index == 1:
            os._exit(3)
        return index


def failing_generator(n_good: int):
    yield from range(n_good)
    raise ValueError("generator broke")


def take(source: BatchSource, *steps: int) -> list[list]:
    return [list(source.epoch(s)) for s in steps]


# --- np_utils --------------------------------------------------------------------------------


def test_to_categorical_one_hot_by_hand():
    out = to_categorical([0, 2, 1, 2])
    expected = np.array([[1, 0, 0], [0, 0, 1], [0, 1, 0], [0, 0, 1]], dtype="float32")
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, expected)
    # (n, 1) labels lose their trailing axis; num_classes widens; dtype is honoured.
    wide = to_categorical(np.array([[1], [3]]), num_classes=5, dtype="int64")
    assert wide.dtype == np.int64 and wide.shape == (2, 5)
    np.testing.assert_array_equal(wide, [[0, 1, 0, 0, 0], [0, 0, 0, 1, 0]])
    grid = to_categorical([[0, 1, 1], [1, 0, 0]], num_classes=2)
    assert grid.shape == (2, 3, 2)
    np.testing.assert_array_equal(grid[..., 1], [[0, 1, 1], [1, 0, 0]])


@pytest.mark.parametrize("labels", [[0, 3], [-1, 1]])
def test_to_categorical_rejects_labels_outside_range(labels):
    with pytest.raises(ValueError, match="num_classes=3"):
        to_categorical(labels, num_classes=3)


def test_normalize_by_hand():
    x = np.array([[3.0, 4.0], [0.0, 0.0], [1.0, -1.0]], dtype="float32")
    np.testing.assert_allclose(normalize(x), [[0.6, 0.8], [0, 0], [0.5**0.5, -(0.5**0.5)]])
    np.testing.assert_allclose(normalize(x, order=1), [[3 / 7, 4 / 7], [0, 0], [0.5, -0.5]])
    np.testing.assert_allclose(
        normalize(x, axis=0), [[0.9**0.5, 4 / 17**0.5], [0, 0], [0.1**0.5, -1 / 17**0.5]]
    )
    assert normalize(x).dtype == np.float32
    np.testing.assert_allclose(normalize(np.array([0.0, 2.0])), [0.0, 1.0])


# --- Sequence and small helpers -------------------------------------------------------------


def test_sequence_base_iterates_and_is_abstract():
    seq = IndexSequence(n=4)
    assert list(seq) == [0, 1, 2, 3]
    assert Sequence().on_epoch_end() is None
    with pytest.raises(NotImplementedError):
        len(Sequence())
    with pytest.raises(NotImplementedError):
        Sequence()[0]
    assert is_generator_or_sequence(seq) and is_generator_or_sequence(iter([]))
    assert not is_generator_or_sequence([1, 2])


def test_unpack_x_y_sample_weight():
    assert unpack_x_y_sample_weight("x") == ("x", None, None)
    assert unpack_x_y_sample_weight(("x",)) == ("x", None, None)
    assert unpack_x_y_sample_weight(["x", "y"]) == ("x", "y", None)
    assert unpack_x_y_sample_weight(("x", "y", "w")) == ("x", "y", "w")
    with pytest.raises(ValueError, match="4 elements"):
        unpack_x_y_sample_weight((1, 2, 3, 4))


# --- order ------------------------------------------------------------------------------------


@pytest.mark.parametrize("workers", [0, 1, 4])
def test_sequence_order_kept_with_threads(workers):
    seq = IndexSequence(n=8, delay=0.004)
    with BatchSource(seq, workers=workers, max_queue_size=20) as source:
        assert source.steps_per_epoch == 8
        first, second = take(source, 8, 8)
    assert first == list(range(8))
    assert second == [100 + i for i in range(8)]  # on_epoch_end ran between the passes
    assert seq.epoch_ends == 2


@pytest.mark.parametrize("workers", [0, 1, 4])
def test_generator_order_kept_with_threads(workers):
    with BatchSource(RacyIterator(), workers=workers, steps=50, max_queue_size=6) as source:
        batches = take(source, 50, 50)
    assert batches == [list(range(50)), list(range(50, 100))]


def test_sequence_order_and_epoch_end_with_processes():
    seq = IndexSequence(n=6, delay=0.01)
    with BatchSource(seq, workers=2, use_multiprocessing=True, max_queue_size=4) as source:
        batches = take(source, 6, 6, 6)
    # Worker processes hold copies; each pass sees the parent's sequence after on_epoch_end.
    assert batches == [[k * 100 + i for i in range(6)] for k in range(3)]
    assert seq.epoch_ends == 3


def test_generator_processes_take_turns_between_copies():
    enqueuer = GeneratorEnqueuer(CountingIterator(stop=3), use_multiprocessing=True)
    enqueuer.start(workers=2, max_queue_size=4)
    try:
        assert list(enqueuer.get()) == [0, 0, 1, 1, 2, 2]  # each process has its own copy
    finally:
        enqueuer.stop()
    assert not enqueuer.is_running()


def test_unpicklable_generator_with_processes_is_a_clear_error():
    source = BatchSource((i for i in range(3)), workers=1, use_multiprocessing=True, steps=3)
    with pytest.raises(ValueError, match="must be picklable.*generator objects never are"):
        list(source.epoch())
    source.close()


# --- shuffling and epochs ----------------------------------------------------------------------


def test_shuffle_with_seed_permutes_every_pass_reproducibly():
    def passes(workers):
        seq = IndexSequence(n=10)
        with BatchSource(seq, workers=workers, shuffle=True, seed=3) as source:
            return [[b % 100 for b in epoch] for epoch in take(source, 10, 10)]

    first, second = passes(0)
    assert sorted(first) == sorted(second) == list(range(10))
    assert first != list(range(10)) and first != second
    assert passes(3) == [first, second]  # same seed, same order, with or without workers


def test_on_epoch_end_once_per_epoch_and_not_on_partial_pass():
    seq = IndexSequence(n=5)
    source = BatchSource(seq, workers=2, max_queue_size=3)
    take(source, 5, 5, 5)
    assert seq.epoch_ends == 3  # the last epoch too, right when its batches are consumed
    take(source, 2)
    source.close()
    assert seq.epoch_ends == 3


def test_generator_continues_across_epochs():
    for workers in (0, 2):
        with BatchSource(CountingIterator(), workers=workers, steps=3) as source:
            assert take(source, 3, 3, 2) == [[0, 1, 2], [3, 4, 5], [6, 7]]


def test_epochs_hint_draws_no_batch_past_the_last_epoch():
    gen = CountingIterator()
    with BatchSource(gen, workers=2, steps=4, epochs_hint=2, max_queue_size=10) as source:
        assert take(source, 4, 4) == [[0, 1, 2, 3], [4, 5, 6, 7]]
        time.sleep(0.05)
        assert gen.i == 8
    assert next(gen) == 8  # the next user of the generator loses nothing


# --- exhaustion and errors -----------------------------------------------------------------------


@pytest.mark.parametrize("workers", [0, 2])
def test_exhausted_generator_ends_the_epoch_with_a_warning(workers):
    with BatchSource(CountingIterator(stop=5), workers=workers, steps=3) as source:
        assert list(source.epoch()) == [0, 1, 2]
        assert not source.exhausted
        with pytest.warns(UserWarning, match="ran out of data"):
            assert list(source.epoch()) == [3, 4]
        assert source.exhausted
        assert list(source.epoch()) == []


def test_generator_without_steps_is_keras_value_error():
    message = (
        "`steps_per_epoch=None` is only valid for a generator based on the "
        "`keras.utils.Sequence` class. Please specify `steps_per_epoch` or use the "
        "`keras.utils.Sequence` class."
    )
    with pytest.raises(ValueError) as info:
        BatchSource(CountingIterator())
    assert str(info.value) == message


@pytest.mark.parametrize("workers", [0, 3])
def test_generator_exception_reaches_consumer_with_traceback(workers):
    source = BatchSource(failing_generator(4), workers=workers, steps=10)
    got = []
    with pytest.raises(ValueError, match="generator broke") as info:
        for batch in source.epoch():
            got.append(batch)
    source.close()
    assert got == [0, 1, 2, 3]  # batches before the failure still arrive, in order
    assert "failing_generator" in "".join(traceback.format_exception(info.value))


def test_sequence_exception_in_worker_process_carries_its_traceback():
    seq = IndexSequence(n=4, fail_at=2)
    enqueuer = OrderedEnqueuer(seq, use_multiprocessing=True)
    enqueuer.start(workers=2, max_queue_size=4)
    batches = enqueuer.get()
    assert [next(batches), next(batches)] == [0, 1]
    with pytest.raises(ValueError, match="bad batch 2") as info:
        next(batches)
    assert not enqueuer.is_running()
    text = "".join(traceback.format_exception(info.value))
    assert "in __getitem__" in text and "Traceback in the worker process" in text
    assert multiprocessing.active_children() == []


def test_dead_worker_process_is_reported_not_waited_for():
    with BatchSource(DyingSequence(), workers=1, use_multiprocessing=True) as source:
        batches = source.epoch()
        assert next(batches) == 0
        with pytest.raises(RuntimeError, match="exited unexpectedly with exit code 3"):
            next(batches)


# --- backpressure and shutdown -------------------------------------------------------------------


@pytest.mark.parametrize("workers", [1, 3])
def test_max_queue_size_bounds_how_far_producers_run_ahead(workers):
    produced = []

    def generator():
        for i in range(1000):
            produced.append(i)
            yield i

    def settle(expected: int) -> int:
        deadline = time.monotonic() + 2.0
        while len(produced) < expected and time.monotonic() < deadline:
            time.sleep(0.005)
        time.sleep(0.05)  # a slow consumer: producers must stay 3 batches ahead, no more
        return len(produced)

    with BatchSource(generator(), workers=workers, steps=1000, max_queue_size=3) as source:
        batches = source.epoch()
        assert next(batches) == 0
        assert settle(1 + 3) == 1 + 3
        assert next(batches) == 1
        assert settle(2 + 3) == 2 + 3


def test_close_stops_every_thread():
    before = set(threading.enumerate())
    for data, steps in ((IndexSequence(n=20), None), (CountingIterator(), 20)):
        source = BatchSource(data, workers=4, steps=steps, max_queue_size=2)
        assert len(list(source.epoch(3))) == 3
        enqueuer = source._enqueuer
        assert enqueuer.is_running()
        source.close()
        assert not enqueuer.is_running()
    leftover = [t for t in threading.enumerate() if t not in before and t.is_alive()]
    assert leftover == []
    with pytest.raises(RuntimeError, match="closed"):
        list(source.epoch())


def test_bad_arguments_name_the_argument():
    with pytest.raises(ValueError, match="`workers`.*-1"):
        BatchSource(IndexSequence(), workers=-1)
    with pytest.raises(ValueError, match="`max_queue_size`.*0"):
        BatchSource(IndexSequence(), max_queue_size=0)
    with pytest.raises(ValueError, match="`data`.*ndarray"):
        BatchSource(np.zeros((4, 2)), steps=1)
    with pytest.raises(ValueError, match="`workers`.*0"):
        OrderedEnqueuer(IndexSequence()).start(workers=0)
