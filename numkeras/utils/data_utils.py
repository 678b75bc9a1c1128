"""Feeding batches from generators and ``Sequence`` objects, with worker threads or processes.

Keras 2 names and semantics (``keras.utils.Sequence``, ``OrderedEnqueuer``, ``GeneratorEnqueuer``),
with three of its bugs fixed:

* batches of a plain generator come out in the order the generator produced them, whatever the
  number of worker threads (``next()`` runs under one lock, every batch carries its sequence
  number and the consumer puts them back in order);
* ``Sequence.on_epoch_end()`` runs after every pass over the sequence, the last one included, and
  no batch of the next pass is computed before it has run;
* ``max_queue_size`` bounds exactly how many batches are produced ahead of the consumer.

``BatchSource`` is the one entry point the training loops (local engine and remote client) use.
"""

from __future__ import annotations

import inspect
import itertools
import multiprocessing
import multiprocessing.connection
import pickle
import queue
import random
import signal
import threading
import traceback
import warnings
from collections.abc import Iterator
from typing import Any

import numpy as np

_OK, _ERROR, _END = 0, 1, 2
_FATAL_SEQ = -1  # a result to raise at once (a worker process died), whatever was expected next
_POLL_SECONDS = 0.1
_NO_ITEM = object()


class Sequence:
    """Base class for a data set read batch by batch, as ``keras.utils.Sequence``.

    Implement ``__getitem__(index)`` (a complete batch) and ``__len__`` (the number of batches);
    override ``on_epoch_end`` to change the data between epochs (e.g. reshuffle). Unlike a
    generator, a Sequence can be read by several workers at once and still gives every batch
    exactly once per epoch.
    """

    def __getitem__(self, index: int) -> Any:
        """Returns the batch at position ``index``."""
        raise NotImplementedError

    def __len__(self) -> int:
        """Returns the number of batches in the Sequence."""
        raise NotImplementedError

    def on_epoch_end(self) -> None:
        """Called after every epoch (pass over the Sequence); does nothing by default."""

    def __iter__(self) -> Iterator[Any]:
        """Yields every batch once, in index order."""
        for index in range(len(self)):
            yield self[index]


def is_generator_or_sequence(x: Any) -> bool:
    """Whether ``x`` is a ``Sequence``, an iterator or a generator (Keras's test)."""
    return isinstance(x, Sequence) or hasattr(x, "__next__") or inspect.isgenerator(x)


def is_generator_like(x: Any) -> bool:
    """A Sequence, a generator or an iterator (not an array, list or dict of arrays): what the
    Model methods read batch by batch."""
    if isinstance(x, Sequence):
        return True
    if isinstance(x, (np.ndarray, list, tuple, dict, str, bytes)) or x is None:
        return False
    return hasattr(x, "__next__") or (hasattr(x, "__getitem__") and hasattr(x, "__len__")
                                      and not hasattr(x, "shape"))


def unpack_x_y_sample_weight(data: Any) -> tuple[Any, Any, Any]:
    """Splits one batch into ``(x, y, sample_weight)`` as tf-keras 2 does.

    A list is read as a tuple; anything that is neither is ``x`` alone.

    Raises:
        ValueError: If ``data`` is a tuple of more than 3 elements.
    """
    if isinstance(data, list):
        data = tuple(data)
    if not isinstance(data, tuple):
        return data, None, None
    if 1 <= len(data) <= 3:
        return tuple(data) + (None,) * (3 - len(data))
    raise ValueError(
        "Data is expected to be in format `x`, `(x,)`, `(x, y)`, or `(x, y, sample_weight)`, "
        f"found a tuple of {len(data)} elements: {data!r:.200}"
    )


class _RemoteTraceback(Exception):
    """Carries the traceback text of an exception raised in a worker process."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text

    def __str__(self) -> str:
        return f"\n\nTraceback in the worker process:\n{self.text}"


def _pack_exception(exc: BaseException) -> tuple[bytes, str]:
    text = "".join(traceback.format_exception(exc))
    try:
        blob = pickle.dumps(exc)
        pickle.loads(blob)
    except Exception:
        blob = pickle.dumps(RuntimeError(f"{type(exc).__name__}: {exc}"))
    return blob, text


def _unpack_exception(packed: tuple[bytes, str]) -> BaseException:
    blob, text = packed
    exc = pickle.loads(blob)
    exc.__cause__ = _RemoteTraceback(text)
    return exc


def _call_on_epoch_end(sequence: Any) -> None:
    hook = getattr(sequence, "on_epoch_end", None)
    if callable(hook):
        hook()


def _shuffle_rng(shuffle: bool, seed: int | None) -> np.random.Generator | None:
    if not shuffle:
        return None
    if seed is None:  # follow np.random.seed(...) like Keras's shuffling does
        seed = int(np.random.randint(2**31 - 1))
    return np.random.default_rng(seed)


def _pass_indices(sequence: Any, rng: np.random.Generator | None) -> Iterator[tuple[int, bool]]:
    """Endless ``(index, last_of_pass)`` pairs; ``len`` is read again at the start of each pass."""
    while True:
        n = len(sequence)
        if n < 1:
            raise ValueError(f"The Sequence has len() == {n}; it must have at least one batch.")
        order = range(n) if rng is None else rng.permutation(n)
        for k, index in enumerate(order):
            yield int(index), k == n - 1


def _iter_sequence(sequence: Any, rng: np.random.Generator | None) -> Iterator[Any]:
    """Batches of a Sequence pass after pass in the calling thread, with ``on_epoch_end``."""
    for index, last in _pass_indices(sequence, rng):
        batch = sequence[index]
        if last:
            _call_on_epoch_end(sequence)
        yield batch


def _picklable(obj: Any, what: str) -> bytes:
    try:
        return pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception as err:
        raise ValueError(
            f"use_multiprocessing=True sends the {what} to worker processes, so it must be "
            f"picklable, and {obj!r:.100} is not ({type(err).__name__}: {err}). Python generator "
            "objects never are: use a keras.utils.Sequence (or an iterator class defined at "
            "module level), or use_multiprocessing=False."
        ) from err


def _load(payload: bytes) -> tuple[Any, tuple[bytes, str] | None]:
    try:
        return pickle.loads(payload), None
    except BaseException as exc:
        return None, _pack_exception(exc)


def _worker_process(
    worker_id: int,
    payload: bytes,
    is_generator: bool,
    random_seed: int | None,
    tasks: Any,
    results: Any,
    stop_flag: Any,
) -> None:
    """Main function of a worker process: answers tasks with pickled batches, in task order."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    if random_seed is not None:
        random.seed(random_seed + worker_id)
        np.random.seed(random_seed + worker_id)
    source, load_error = _load(payload)
    while True:
        task = tasks.get()
        if task is None or stop_flag.is_set():
            return
        if task[0] == "update":
            source, load_error = _load(task[1])
            continue
        _, seq, index, last = task
        if load_error is not None:
            results.send((seq, _ERROR, load_error, last))
            continue
        try:
            value = next(source) if is_generator else source[index]
            result = (seq, _OK, pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL), last)
        except StopIteration as exc:
            status, packed = (_END, None) if is_generator else (_ERROR, _pack_exception(exc))
            result = (seq, status, packed, last)
        except BaseException as exc:
            result = (seq, _ERROR, _pack_exception(exc), last)
        results.send(result)  # written to the pipe now: nothing is lost if this process dies


class SequenceEnqueuer:
    """Base class of the enqueuers: workers produce batches ahead of a consumer.

    Usage, as in Keras::

        enqueuer = OrderedEnqueuer(sequence, use_multiprocessing=False)
        enqueuer.start(workers=4, max_queue_size=10)
        for batch in enqueuer.get():
            ...
        enqueuer.stop()

    Batches come out of ``get()`` in order; an exception raised while producing a batch is raised
    by ``get()`` at that batch's place in the stream, after stopping the workers.
    """

    _is_generator = False

    def __init__(self, sequence: Any, use_multiprocessing: bool = False) -> None:
        self.sequence = sequence
        self.use_multiprocessing = use_multiprocessing
        self.workers = 0
        self.random_seed: int | None = None
        self._threads: list[threading.Thread] = []
        self._processes: list[Any] = []
        self._task_queues: list[Any] = []
        self._results: queue.Queue | None = None
        self._stop_event = threading.Event()
        self._stop_event.set()
        self._started = False

    # --- life cycle -------------------------------------------------------------------------

    def is_running(self) -> bool:
        """Whether the workers have been started and not stopped."""
        return self._started and not self._stop_event.is_set()

    def start(
        self, workers: int = 1, max_queue_size: int = 10, *, prefetch_limit: int | None = None
    ) -> None:
        """Starts the workers.

        Args:
            workers: Number of worker threads, or processes if ``use_multiprocessing``.
            max_queue_size: Most batches produced ahead of the consumer (backpressure).
            prefetch_limit: Produce no more than this many batches in total until ``get()`` asks
                for more (``None``: no limit); avoids drawing from a generator past what the
                caller will use.

        Raises:
            ValueError: On a bad argument, or if ``use_multiprocessing`` and the sequence or
                generator cannot be pickled.
            RuntimeError: If already running.
        """
        if self.is_running():
            raise RuntimeError("The enqueuer is already running; call stop() first.")
        for name, value in (("workers", workers), ("max_queue_size", max_queue_size)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"`{name}` must be an integer >= 1, got {value!r}.")
        if prefetch_limit is not None and prefetch_limit < 0:
            raise ValueError(f"`prefetch_limit` must be None or >= 0, got {prefetch_limit!r}.")
        payload = (
            _picklable(self.sequence, "generator" if self._is_generator else "Sequence")
            if self.use_multiprocessing
            else b""
        )
        self.workers = workers
        self._max_queue_size = max_queue_size
        self._limit = prefetch_limit
        self._cond = threading.Condition()
        self._claimed = 0  # sequence numbers handed to producers
        self._yielded = 0  # batches handed to the consumer
        self._next_seq = 0
        self._buffer: dict[int, tuple] = {}
        self._finished = False
        self._results = queue.Queue()
        self._pass_done = threading.Event()
        self._stop_event = threading.Event()
        self._threads, self._processes, self._task_queues = [], [], []
        self._task_source = self._task_stream()  # created here: any seed is drawn in this thread
        self._started = True
        if self.use_multiprocessing:
            self._start_processes(payload)
        else:
            self._start_threads()

    def _spawn_thread(self, target: Any, name: str) -> None:
        thread = threading.Thread(target=target, name=f"numkeras-{name}", daemon=True)
        self._threads.append(thread)
        thread.start()

    def _start_threads(self) -> None:
        raise NotImplementedError

    def _start_processes(self, payload: bytes) -> None:
        ctx = multiprocessing.get_context("spawn")
        self._mp_stop = ctx.Event()
        self._readers = []
        for worker_id in range(self.workers):
            tasks = ctx.Queue()
            reader, writer = ctx.Pipe(duplex=False)
            process = ctx.Process(
                target=_worker_process,
                args=(
                    worker_id,
                    payload,
                    self._is_generator,
                    self.random_seed,
                    tasks,
                    writer,
                    self._mp_stop,
                ),
                name=f"numkeras-data-worker-{worker_id}",
                daemon=True,
            )
            process.start()
            writer.close()
            self._readers.append(reader)
            self._task_queues.append(tasks)
            self._processes.append(process)
        self._spawn_thread(self._collect, "data-collector")
        self._spawn_thread(self._dispatch, "data-dispatcher")

    def stop(self, timeout: float | None = None) -> None:
        """Stops the workers and waits for them; call it from the thread that called ``start``.

        Args:
            timeout: Most seconds to wait for each thread; worker processes still alive after it
                (1 s when ``None``) are terminated.
        """
        if not self._started:
            return
        self._stop_event.set()
        self._pass_done.set()
        with self._cond:
            self._cond.notify_all()
        if self._processes:
            self._mp_stop.set()
            for tasks in self._task_queues:
                tasks.put(None)
        elif hasattr(self, "_tasks"):
            with self._tasks.mutex:
                self._tasks.queue.clear()
            for _ in range(self.workers):
                self._tasks.put(None)
        # Processes first: the collector keeps reading their pipes so that none blocks on send.
        for process, tasks in zip(self._processes, self._task_queues, strict=True):
            process.join(1.0 if timeout is None else timeout)
            terminated = process.is_alive()
            if terminated:
                process.terminate()
                process.join()
                tasks.cancel_join_thread()  # its unread tasks would block the feeder thread
            tasks.close()
            if not terminated:
                tasks.join_thread()
        current = threading.current_thread()
        for thread in self._threads:
            if thread is not current:
                thread.join(timeout)
        for reader in getattr(self, "_readers", []):
            reader.close()
        self._processes, self._task_queues, self._readers = [], [], []
        self._started = False

    def __del__(self) -> None:
        try:
            if self.is_running():
                self.stop(timeout=0)
        except Exception:
            pass

    # --- producer side ----------------------------------------------------------------------

    def _claim(self) -> int | None:
        """The next sequence number once the budget allows one; ``None`` when stopping."""
        with self._cond:
            while not self._stop_event.is_set() and not self._has_budget():
                self._cond.wait()
            if self._stop_event.is_set():
                return None
            seq = self._claimed
            self._claimed += 1
            return seq

    def _has_budget(self) -> bool:
        if self._claimed >= self._yielded + self._max_queue_size:
            return False
        return self._limit is None or self._claimed < self._limit

    def _task_stream(self) -> Iterator[tuple[int | None, bool]]:
        """``(index, last_of_pass)`` of the batches to produce, in order (read lazily)."""
        raise NotImplementedError

    def _dispatch(self) -> None:
        """Hands tasks to the workers in order: a queue for threads, round-robin for processes."""
        try:
            for index, last in self._task_source:
                seq = self._claim()
                if seq is None:
                    return
                if self._processes:
                    self._task_queues[seq % self.workers].put(("task", seq, index, last))
                else:
                    self._tasks.put((seq, index, last))
                if last:
                    # No batch of the next pass before the consumer has run on_epoch_end.
                    self._pass_done.wait()
                    self._pass_done.clear()
                    if self._stop_event.is_set():
                        return
                    if self._processes and self._sequence_changes():
                        payload = _picklable(self.sequence, "Sequence")
                        for tasks in self._task_queues:
                            tasks.put(("update", payload))
        except BaseException as exc:
            with self._cond:
                seq = self._claimed
                self._claimed += 1
            self._results.put((seq, _ERROR, exc, False))

    def _sequence_changes(self) -> bool:
        hook = getattr(type(self.sequence), "on_epoch_end", None)
        return hook is not None and hook is not Sequence.on_epoch_end

    def _collect(self) -> None:
        """Moves results from the worker pipes to the local queue; reports dead workers.

        After ``stop`` it keeps draining (and dropping) results until every worker has exited.
        """
        alive = dict(zip(self._readers, self._processes, strict=True))
        sentinels = {process.sentinel: reader for reader, process in alive.items()}
        while alive:
            ready = multiprocessing.connection.wait([*alive, *sentinels], timeout=_POLL_SECONDS)
            for obj in ready:
                reader = sentinels.get(obj, obj)
                if reader not in alive:
                    continue
                try:
                    while reader.poll():
                        self._receive(reader.recv())
                except (EOFError, OSError):
                    pass
                process = alive[reader]
                if obj in sentinels or process.exitcode is not None:
                    del alive[reader]
                    sentinels.pop(process.sentinel)
                    if not self._stop_event.is_set():
                        process.join(1.0)  # the sentinel fires a moment before the exit code is set
                        error = RuntimeError(
                            f"Data worker process {process.name} exited unexpectedly with exit "
                            f"code {process.exitcode}."
                        )
                        self._results.put((_FATAL_SEQ, _ERROR, error, False))
                        return

    def _receive(self, result: tuple) -> None:
        if self._stop_event.is_set():
            return
        seq, status, payload, last = result
        try:
            if status == _OK:
                payload = pickle.loads(payload)
            elif status == _ERROR:
                payload = _unpack_exception(payload)
        except BaseException as exc:
            status, payload = _ERROR, exc
        self._results.put((seq, status, payload, last))

    # --- consumer side ----------------------------------------------------------------------

    def get(self) -> Iterator[Any]:
        """Yields the batches in order until stopped (or, for a finite generator, exhausted).

        Raises:
            RuntimeError: If the enqueuer was never started.
            Exception: Whatever producing a batch raised, with its traceback.
        """
        if self._results is None:
            raise RuntimeError("Call start() on the enqueuer before get().")
        while True:
            item = self._next_item()
            if item is _NO_ITEM:
                return
            yield item

    def _next_item(self) -> Any:
        if self._finished or self._stop_event.is_set():
            return _NO_ITEM
        seq = self._next_seq
        if self._limit is not None and seq >= self._limit:
            with self._cond:
                self._limit = None
                self._cond.notify_all()
        while seq not in self._buffer:
            try:
                result = self._results.get(timeout=_POLL_SECONDS)
            except queue.Empty:
                if self._stop_event.is_set():
                    return _NO_ITEM
                continue
            if result[0] == _FATAL_SEQ:
                self._fail(result[2])
            self._buffer[result[0]] = result
        _, status, payload, last = self._buffer.pop(seq)
        self._next_seq += 1
        if status == _END:
            self._finished = True
            return _NO_ITEM
        if status == _ERROR:
            self._fail(payload)
        if last:
            try:
                _call_on_epoch_end(self.sequence)
            except BaseException as exc:
                self._fail(exc)
            self._pass_done.set()
        with self._cond:
            self._yielded += 1
            self._cond.notify_all()
        return payload

    def _fail(self, exc: BaseException) -> None:
        self._finished = True
        self.stop()
        raise exc


class OrderedEnqueuer(SequenceEnqueuer):
    """Produces the batches of a ``Sequence`` with workers, in index order, epoch after epoch.

    Each pass over the sequence is in index order, or in a fresh random order when ``shuffle``;
    ``sequence.on_epoch_end()`` runs when the last batch of a pass reaches the consumer (before it
    is yielded), and the next pass starts only after it.

    Args:
        sequence: A ``Sequence`` (or any object with ``__len__`` and ``__getitem__``).
        use_multiprocessing: Worker processes (spawned; the sequence must be picklable) instead
            of threads.
        shuffle: Shuffle the batch order of every pass.
        seed: Seed of the shuffling; ``None`` draws one from ``np.random``.
    """

    def __init__(
        self,
        sequence: Any,
        use_multiprocessing: bool = False,
        shuffle: bool = False,
        *,
        seed: int | None = None,
    ) -> None:
        super().__init__(sequence, use_multiprocessing)
        self.shuffle = shuffle
        self.seed = seed

    def _task_stream(self) -> Iterator[tuple[int | None, bool]]:
        return _pass_indices(self.sequence, _shuffle_rng(self.shuffle, self.seed))

    def _start_threads(self) -> None:
        self._tasks: queue.Queue = queue.Queue()
        for i in range(self.workers):
            self._spawn_thread(self._thread_worker, f"data-worker-{i}")
        self._spawn_thread(self._dispatch, "data-dispatcher")

    def _thread_worker(self) -> None:
        while True:
            task = self._tasks.get()
            if task is None or self._stop_event.is_set():
                return
            seq, index, last = task
            try:
                result = (seq, _OK, self.sequence[index], last)
            except BaseException as exc:
                result = (seq, _ERROR, exc, last)
            self._results.put(result)


class GeneratorEnqueuer(SequenceEnqueuer):
    """Produces the batches of a generator (or any iterator) with workers.

    With threads, one generator is shared: ``next()`` runs under a lock and the batches come out
    in the order the generator produced them. With processes, each worker gets its own copy of the
    (picklable) iterator and batches are taken from the workers in turn, so ``n`` workers yield
    every item ``n`` times; a ``Sequence`` avoids that. The stream ends when the generator does.

    Args:
        generator: A generator or iterator yielding batches.
        use_multiprocessing: Worker processes (spawned; the iterator must be picklable, which a
            Python generator is not) instead of threads.
        random_seed: Seeds ``random`` and ``np.random`` of worker process ``i`` with
            ``random_seed + i``.
    """

    _is_generator = True

    def __init__(
        self, generator: Any, use_multiprocessing: bool = False, random_seed: int | None = None
    ) -> None:
        super().__init__(generator, use_multiprocessing)
        self.random_seed = random_seed

    def _task_stream(self) -> Iterator[tuple[int | None, bool]]:
        return itertools.repeat((None, False))

    def _start_threads(self) -> None:
        self._generator_lock = threading.Lock()
        self._source_done = False
        for i in range(self.workers):
            self._spawn_thread(self._thread_worker, f"data-worker-{i}")

    def _thread_worker(self) -> None:
        while True:
            with self._generator_lock:
                if self._source_done:
                    return
                seq = self._claim()
                if seq is None:
                    return
                try:
                    result = (seq, _OK, next(self.sequence), False)
                except StopIteration:
                    result = (seq, _END, None, False)
                    self._source_done = True
                except BaseException as exc:
                    result = (seq, _ERROR, exc, False)
                    self._source_done = True
            self._results.put(result)


def _is_sequence_like(data: Any) -> bool:
    return isinstance(data, Sequence) or (hasattr(data, "__len__") and hasattr(data, "__getitem__"))


class BatchSource:
    """Batches of a generator or ``Sequence`` for a training loop, epoch by epoch.

    ``fit_generator`` / ``evaluate_generator`` / ``predict_generator`` (and ``fit`` given a
    generator) read their data through this class::

        with BatchSource(generator, steps=steps_per_epoch, workers=2) as source:
            for epoch in range(epochs):
                for batch in source.epoch():
                    ...
                if source.exhausted:
                    break

    A plain generator continues across epochs; a Sequence is read pass after pass (in index
    order, or shuffled per pass) with ``on_epoch_end`` after each pass.

    Args:
        data: A ``Sequence`` (or an object with ``__len__`` and ``__getitem__``), or a
            generator / iterator / iterable yielding batches.
        workers: Worker threads or processes; 0 reads the data in the calling thread, with no
            queue.
        use_multiprocessing: Worker processes instead of threads.
        max_queue_size: Most batches produced ahead of the loop.
        shuffle: Shuffle the batch order of each pass over a Sequence.
        steps: Batches per epoch; defaults to ``len(data)`` for a Sequence and is required for a
            generator.
        epochs_hint: Number of epochs the loop will run, if known: workers then stop producing at
            ``steps * epochs_hint`` batches, so no batch is drawn from a generator in vain.
        seed: Seed of the shuffling; ``None`` draws one from ``np.random``.

    Attributes:
        steps_per_epoch: Batches in one epoch.
        exhausted: True once the generator ran out of data before the requested steps.

    Raises:
        ValueError: For a generator without ``steps``, or on a bad argument.
    """

    def __init__(
        self,
        data: Any,
        *,
        workers: int = 1,
        use_multiprocessing: bool = False,
        max_queue_size: int = 10,
        shuffle: bool = False,
        steps: int | None = None,
        epochs_hint: int | None = None,
        seed: int | None = None,
    ) -> None:
        if not isinstance(workers, int) or workers < 0:
            raise ValueError(f"`workers` must be an integer >= 0, got {workers!r}.")
        if not isinstance(max_queue_size, int) or max_queue_size < 1:
            raise ValueError(f"`max_queue_size` must be an integer >= 1, got {max_queue_size!r}.")
        for name, value in (("steps", steps), ("epochs_hint", epochs_hint)):
            if value is not None and (not isinstance(value, int) or value < 1):
                raise ValueError(f"`{name}` must be None or an integer >= 1, got {value!r}.")
        if isinstance(data, (np.ndarray, tuple, list, dict, str, bytes)):
            raise ValueError(
                "`data` must be a generator, an iterator or a keras.utils.Sequence, got a "
                f"{type(data).__name__}; pass arrays as `x` and `y` instead."
            )
        self.is_sequence = _is_sequence_like(data)
        if self.is_sequence:
            if steps is None:
                steps = len(data)
                if steps < 1:
                    raise ValueError(f"The Sequence has len() == {steps}; it must have batches.")
        else:
            if not hasattr(data, "__next__"):
                if not hasattr(data, "__iter__"):
                    raise ValueError(
                        "`data` must be a generator, an iterator or a keras.utils.Sequence, "
                        f"got {type(data).__name__}."
                    )
                data = iter(data)
            if steps is None:
                raise ValueError(
                    "`steps_per_epoch=None` is only valid for a generator based on the "
                    "`keras.utils.Sequence` class. Please specify `steps_per_epoch` or use "
                    "the `keras.utils.Sequence` class."
                )
            if use_multiprocessing and workers > 1:
                warnings.warn(
                    "Using a generator with `use_multiprocessing=True` and multiple workers may "
                    "duplicate your data. Please consider using the `keras.utils.Sequence` class.",
                    UserWarning,
                )
        self.data = data
        self.steps_per_epoch: int = steps
        self.exhausted = False
        self._workers = workers
        self._use_multiprocessing = use_multiprocessing
        self._max_queue_size = max_queue_size
        self._shuffle = shuffle
        self._epochs_hint = epochs_hint
        self._seed = seed
        self._stream: Iterator[Any] | None = None
        self._enqueuer: SequenceEnqueuer | None = None
        self._closed = False

    def _open(self) -> Iterator[Any]:
        if self._closed:
            raise RuntimeError("This BatchSource is closed.")
        if self._stream is None:
            if self._workers == 0:
                self._stream = (
                    _iter_sequence(self.data, _shuffle_rng(self._shuffle, self._seed))
                    if self.is_sequence
                    else self.data
                )
            else:
                if self.is_sequence:
                    self._enqueuer = OrderedEnqueuer(
                        self.data, self._use_multiprocessing, self._shuffle, seed=self._seed
                    )
                else:
                    self._enqueuer = GeneratorEnqueuer(self.data, self._use_multiprocessing)
                limit = None
                if self._epochs_hint is not None:
                    limit = self.steps_per_epoch * self._epochs_hint
                self._enqueuer.start(self._workers, self._max_queue_size, prefetch_limit=limit)
                self._stream = self._enqueuer.get()
        return self._stream

    def epoch(self, steps: int | None = None) -> Iterator[Any]:
        """Yields the batches of one epoch: ``steps`` of them (default ``steps_per_epoch``).

        Fewer come, with a warning and ``exhausted`` set, if the generator ends first.
        """
        if steps is None:
            steps = self.steps_per_epoch
        if not isinstance(steps, int) or steps < 1:
            raise ValueError(f"`steps` must be an integer >= 1, got {steps!r}.")
        return self._epoch(steps)

    def _epoch(self, steps: int) -> Iterator[Any]:
        if self.exhausted:
            return
        stream = self._open()
        for _ in range(steps):
            try:
                batch = next(stream)
            except StopIteration:
                self.exhausted = True
                total = ""
                if self._epochs_hint is not None:
                    total = f" (in this case, {self.steps_per_epoch * self._epochs_hint} batches)"
                warnings.warn(
                    "Your generator ran out of data; interrupting training. Make sure that your "
                    "generator can produce at least `steps_per_epoch * epochs` batches"
                    f"{total}.",
                    UserWarning,
                )
                return
            yield batch

    def close(self) -> None:
        """Stops the workers; the source cannot be read afterwards."""
        self._closed = True
        if self._enqueuer is not None:
            self._enqueuer.stop()
            self._enqueuer = None
        self._stream = None

    def __enter__(self) -> BatchSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
