"""Data of client calls: generators read in the client, arrays of one batch, results.

``GeneratorFeed`` is the one place where a generator's batches reach the server.
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

from numkeras.client.connection import Connection
from numkeras.utils.data_utils import BatchSource, unpack_x_y_sample_weight


def num_samples(data: Any) -> int:
    """Samples of an array, or of the first array of a list or dict."""
    if isinstance(data, dict):
        data = next(iter(data.values()))
    elif isinstance(data, (list, tuple)):
        data = data[0]
    return len(data)


def _concat(parts: list[Any]) -> Any:
    first = parts[0]
    if first is None:
        return None
    if isinstance(first, dict):
        return {k: np.concatenate([np.asarray(p[k]) for p in parts]) for k in first}
    if isinstance(first, (list, tuple)):
        return [np.concatenate([np.asarray(p[i]) for p in parts]) for i in range(len(first))]
    return np.concatenate([np.asarray(p) for p in parts])


class GeneratorFeed:
    """The batches of a generator or ``Sequence``, read in the client with Keras's
    ``workers`` / ``use_multiprocessing`` / ``max_queue_size`` and sent to a job.

    Each epoch's batches are pushed to a streamed job (``stream: true``) while it runs. On a
    server without streamed jobs they are drained into one dataset instead and the job runs
    on it as arrays, with shuffling off and the generator's batch size, which gives the same
    batches in the same order (batches of uneven sizes are re-batched, with a warning).

    Args:
        conn: The connection.
        data: The generator or Sequence.
        steps: Batches per epoch (``len(data)`` for a Sequence when None).
        workers, use_multiprocessing, max_queue_size, shuffle: Keras's meaning.
        epochs_hint: Epochs that will be read, if known.
        what: The calling method, for messages.
    """

    def __init__(self, conn: Connection, data: Any, steps: int | None, workers: int,
                 use_multiprocessing: bool, max_queue_size: int, shuffle: bool,
                 epochs_hint: int | None, what: str, names: tuple[list, list] = ([], [])
                 ) -> None:
        self.conn, self.what = conn, what
        self.input_names, self.output_names = names
        self.max_queue_size = max_queue_size
        self.source = BatchSource(data, workers=workers, use_multiprocessing=use_multiprocessing,
                                  max_queue_size=max_queue_size, shuffle=shuffle, steps=steps,
                                  epochs_hint=None if epochs_hint is None else max(epochs_hint, 1))
        self.steps_per_epoch = self.source.steps_per_epoch

    @property
    def exhausted(self) -> bool:
        return self.source.exhausted

    def job_data(self, kind: str, verbose: int = 0
                 ) -> tuple[dict[str, Any], Callable[[str, threading.Event], None] | None]:
        """The job arguments that make a job read this feed's next epoch, and the function
        that pushes its batches once the job exists (None when they were uploaded ahead).

        This is the one place that decides how a generator's batches reach the server:
        pushed to a streamed job when the server offers it, else drained into a dataset
        (``epoch``)."""
        if not self.conn.streams_batches:
            data = self.epoch(verbose)
            return {"x": data["x"], "y": data["y"], "sample_weight": data["sample_weight"],
                    "batch_size": data["batch_size"],
                    **({"shuffle": False} if kind == "fit" else {})}, None
        steps = self.steps_per_epoch
        spec = {"stream": True, "steps_per_epoch" if kind == "fit" else "steps": steps,
                "max_queue_size": self.max_queue_size}

        def push(job_id: str, stop: threading.Event) -> None:
            pushed = 0
            for batch in self.source.epoch(steps):
                if stop.is_set():
                    return
                x, y, sw = unpack_x_y_sample_weight(batch)
                arrays = batch_arrays("x", x, self.input_names)
                if kind != "predict":
                    arrays.update(batch_arrays("y", y, self.output_names))
                    arrays.update(batch_arrays("sample_weight", sw, self.output_names))
                self.conn.push_batch(job_id, arrays)
                pushed += 1
            if pushed < steps and not stop.is_set():
                self.conn.request("POST", f"/jobs/{job_id}/batches/end")

        return spec, push

    def epoch(self, verbose: int = 0) -> dict[str, Any]:
        """The next epoch's batches as job data: ``{"x", "y", "sample_weight"}`` references
        and the ``batch_size`` that slices them back into the same batches.

        Raises:
            ValueError: when the generator yields no batch.
        """
        xs, ys, sws = [], [], []
        for batch in self.source.epoch(self.steps_per_epoch):
            x, y, sw = unpack_x_y_sample_weight(batch)
            xs.append(x)
            ys.append(y)
            sws.append(sw)
        if not xs:
            raise ValueError(f"{self.what}: the generator yielded no batch.")
        sizes = [num_samples(x) for x in xs]
        batch_size = sizes[0]
        if any(s != batch_size for s in sizes[:-1]) or sizes[-1] > batch_size:
            warnings.warn(f"{self.what}: the generator's batches have different sizes {sizes}; "
                          f"the server re-batches them by {batch_size}.", stacklevel=3)
        return {"x": self.conn.data_ref(_concat(xs), verbose),
                "y": self.conn.data_ref(_concat(ys), verbose),
                "sample_weight": self.conn.data_ref(_concat(sws), verbose),
                "batch_size": batch_size, "steps": len(xs)}

    def close(self) -> None:
        self.source.close()


def batch_arrays(prefix: str, data: Any, names: list[str]) -> dict[str, np.ndarray]:
    """The npz members of one batch for ``*_on_batch`` and streamed jobs: ``x`` or
    ``x:<input name>`` (None entries of a per-output list are left out)."""
    if data is None:
        return {}
    if isinstance(data, dict):
        return {f"{prefix}:{k}": np.asarray(v) for k, v in data.items() if v is not None}
    if isinstance(data, (list, tuple)) and any(v is None for v in data):
        return {f"{prefix}:{n}": np.asarray(v) for n, v in zip(names, data, strict=True)
                if v is not None}
    if isinstance(data, (list, tuple)):
        if len(data) == 1:
            return {prefix: np.asarray(data[0])}
        if len(data) != len(names):
            raise ValueError(f"`{prefix}`: the model has {len(names)} {prefix} array(s) "
                             f"{names}, but {len(data)} were given.")
        return {f"{prefix}:{n}": np.asarray(v) for n, v in zip(names, data, strict=True)}
    return {prefix: np.asarray(data)}


def finite(value: Any) -> Any:
    """Server JSON numbers back to Python floats ("NaN" and "Infinity" included)."""
    if isinstance(value, str) and value in ("NaN", "Infinity", "-Infinity"):
        return float(value.replace("Infinity", "inf"))
    if isinstance(value, list):
        return [finite(v) for v in value]
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    return value
