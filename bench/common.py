"""What every benchmark runner shares: the models' specs, their data, timing and the child protocol.

Pure standard library + NumPy, so that it also runs in a peer's own virtual environment (the
tf-keras venv). Each framework is a *runner* with five methods::

    load() -> str                          imports the framework, returns its version
    build(name) -> model                   the compiled model (Adam, the spec's loss)
    fit_epoch(model, x, y, batch_size)     one training epoch, shuffled
    evaluate(model, x, y, batch_size)      loss over the data
    predict(model, x, batch_size)          outputs over the data, as one array

and ``run_child(runner)`` turns it into a command line: ``--mode train | memory | first-fit``,
writing one JSON document to ``--out``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
import traceback
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Spec:
    """One benchmark model: the issue's batch size and sample count, and its data."""

    name: str
    batch_size: int
    samples: int
    loss: str
    input_shape: tuple[int, ...]
    output_units: int


SPECS: dict[str, Spec] = {
    "tiny": Spec("tiny", 32, 32_000, "mse", (20,), 1),
    "mlp": Spec("mlp", 128, 20_480, "categorical_crossentropy", (784,), 10),
    "cnn": Spec("cnn", 128, 4_096, "categorical_crossentropy", (28, 28, 1), 10),
    "lstm": Spec("lstm", 64, 4_096, "mse", (50, 32), 1),
}
MODEL_NAMES = tuple(SPECS)
QUICK_DIVISOR = 8  # --quick trains on 1/8 of the samples (whole batches still)
FIRST_FIT_SAMPLES = 1_024  # the "one small epoch" of the first-fit figure (tiny, batch 32)

# The goals, next to the ratios they constrain.
GOALS = {
    "tiny": ">= 2.0x torch",
    "mlp": ">= 1.2x torch, >= 55% GEMM",
    "cnn": ">= 1.0x tf-keras",
    "lstm": ">= 1.2x torch",
}
GOAL_FIRST_FIT_S = 2.0


class LayerUnavailable(Exception):
    """The framework lacks a layer the model needs (reported as "n/a", not as a failure)."""


def core_count() -> int:
    """CPUs this process may run on (the affinity mask, not the host's total)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def samples_for(name: str, quick: bool) -> int:
    spec = SPECS[name]
    if not quick:
        return spec.samples
    steps = max(spec.samples // spec.batch_size // QUICK_DIVISOR, 2)
    return steps * spec.batch_size


def make_data(name: str, n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Synthetic float32 data of the model's shapes (Keras layout: channels last)."""
    spec = SPECS[name]
    rng = np.random.default_rng(seed)
    if name == "tiny":
        x = rng.standard_normal((n, 20), dtype=np.float32)
        y = np.sin(x[:, :5]).sum(axis=1, keepdims=True).astype(np.float32)
    elif name == "lstm":
        x = rng.standard_normal((n, 50, 32), dtype=np.float32)
        y = x[:, -5:, :4].mean(axis=(1, 2))[:, None].astype(np.float32)
    else:
        x = rng.random((n, *spec.input_shape), dtype=np.float32)
        labels = rng.integers(0, spec.output_units, size=n)
        y = np.eye(spec.output_units, dtype=np.float32)[labels]
    return np.ascontiguousarray(x), np.ascontiguousarray(y)


def rss_mb() -> float:
    """Current resident set size in MiB (Linux /proc; NaN elsewhere)."""
    try:
        with open("/proc/self/statm") as f:
            pages = int(f.read().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError, IndexError):
        return float("nan")


def ru_maxrss_mb() -> float:
    """``getrusage(RUSAGE_SELF).ru_maxrss`` in MiB.

    On Linux it also counts the parent's resident size at the time it started this process
    (exec folds the old address space's high-water mark into it), so a big parent inflates it.
    """
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 1024


def peak_rss_mb() -> float:
    """This process's peak resident set size in MiB: Linux's ``VmHWM`` (the high-water mark of
    this program's own address space), else ``ru_maxrss``."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except (OSError, ValueError, IndexError):
        pass
    return ru_maxrss_mb()


def timed(fn: Any, *args: Any) -> float:
    start = time.perf_counter()
    fn(*args)
    return time.perf_counter() - start


def train_figures(runner: Any, name: str, quick: bool, repeat: int = 1) -> dict[str, Any]:
    """Steady-state samples/s of train (one epoch after a warm-up epoch), evaluate, predict."""
    spec = SPECS[name]
    n = samples_for(name, quick)
    x, y = make_data(name, n)
    model = runner.build(name)
    bs = spec.batch_size
    warmup_s = timed(runner.fit_epoch, model, x, y, bs)
    epochs = [timed(runner.fit_epoch, model, x, y, bs) for _ in range(repeat)]
    train_s = min(epochs)  # the least disturbed epoch, when there are several
    runner.evaluate(model, x, y, bs)
    eval_s = timed(runner.evaluate, model, x, y, bs)
    runner.predict(model, x, bs)
    predict_s = timed(runner.predict, model, x, bs)
    return {
        "samples": n, "batch_size": bs, "warmup_epoch_s": warmup_s, "epoch_s": train_s,
        "epochs_s": epochs,
        "train_samples_per_s": n / train_s,
        "evaluate_samples_per_s": n / eval_s,
        "predict_samples_per_s": n / predict_s,
    }


def run_child(runner: Any, argv: list[str] | None = None) -> None:
    """The command line of a runner: measure, then write one JSON document to ``--out``."""
    parser = argparse.ArgumentParser(description=f"{runner.name} benchmark runner")
    parser.add_argument("--mode", choices=("train", "memory", "first-fit"), default="train")
    parser.add_argument("--models", default=",".join(MODEL_NAMES))
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--t0", type=float, default=None,
                        help="time.time() of the parent just before it started this process")
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    t0 = args.t0 if args.t0 is not None else time.time()
    result: dict[str, Any] = {"runner": runner.name, "mode": args.mode}
    try:
        result["version"] = runner.load()
        result["available"] = True
    except ImportError as e:
        result.update(available=False, reason=f"not installed ({e})")
        _write(args.out, result)
        return
    result["info"] = getattr(runner, "info", lambda: {})()
    if args.mode == "train":
        result["models"] = {}
        for name in args.models.split(","):
            print(f"[{runner.name}] {name} ...", file=sys.stderr, flush=True)
            result["models"][name] = _guarded(train_figures, runner, name, args.quick,
                                              args.repeat)
            _write(args.out, result)  # partial results survive a crash in a later model
    elif args.mode == "memory":
        result["memory"] = _guarded(_memory, runner, args.quick)
    else:
        result["first_fit"] = _guarded(_first_fit, runner, t0)
    _write(args.out, result)


def _guarded(fn: Any, *args: Any) -> dict[str, Any]:
    try:
        return fn(*args)
    except LayerUnavailable as e:
        return {"na": "layer not available", "missing": str(e)}
    except Exception as e:  # one model failing must not hide the others' figures
        traceback.print_exc()
        return {"na": f"error: {type(e).__name__}: {str(e).splitlines()[0][:120]}"}


def _memory(runner: Any, quick: bool) -> dict[str, Any]:
    name = "mlp"
    n = samples_for(name, quick)
    after_import = rss_mb()
    x, y = make_data(name, n)
    model = runner.build(name)
    before_fit = rss_mb()
    runner.fit_epoch(model, x, y, SPECS[name].batch_size)
    return {"samples": n, "rss_after_import_mb": after_import, "rss_before_fit_mb": before_fit,
            "data_mb": (x.nbytes + y.nbytes) / 2**20, "peak_rss_mb": peak_rss_mb(),
            "ru_maxrss_mb": ru_maxrss_mb()}


def _first_fit(runner: Any, t0: float) -> dict[str, Any]:
    # load() already ran: the import is inside the measured span.
    imported = time.time()
    x, y = make_data("tiny", FIRST_FIT_SAMPLES)
    model = runner.build("tiny")
    built = time.time()
    runner.fit_epoch(model, x, y, SPECS["tiny"].batch_size)
    done = time.time()
    return {"samples": FIRST_FIT_SAMPLES, "import_s": imported - t0, "build_s": built - imported,
            "fit_s": done - built, "total_s": done - t0}


def _write(path: str, result: dict[str, Any]) -> None:
    tmp = f"{path}.tmp"
    with open(tmp, "w") as f:
        json.dump(result, f, indent=1)
    os.replace(tmp, path)


def build_keras_model(keras: Any, name: str) -> Any:
    """The model ``name`` as a Keras 2 user writes it, for any module shaped like ``keras``.

    Raises:
        LayerUnavailable: if ``keras.layers`` lacks a layer the model needs.
    """
    layers = keras.layers
    needs = {"tiny": ["Dense"], "mlp": ["Dense"],
             "cnn": ["Conv2D", "MaxPooling2D", "Flatten", "Dense"], "lstm": ["LSTM", "Dense"]}
    missing = [layer for layer in needs[name] if not hasattr(layers, layer)]
    if missing:
        raise LayerUnavailable(", ".join(missing))
    spec = SPECS[name]
    inputs = keras.Input(shape=spec.input_shape)
    if name == "tiny":
        h = layers.Dense(64, activation="relu")(inputs)
        h = layers.Dense(64, activation="relu")(h)
        outputs = layers.Dense(1)(h)
    elif name == "mlp":
        h = layers.Dense(512, activation="relu")(inputs)
        h = layers.Dense(256, activation="relu")(h)
        outputs = layers.Dense(10, activation="softmax")(h)
    elif name == "cnn":
        h = layers.Conv2D(32, 3, activation="relu")(inputs)
        h = layers.MaxPooling2D()(h)
        h = layers.Conv2D(64, 3, activation="relu")(h)
        h = layers.MaxPooling2D()(h)
        h = layers.Flatten()(h)
        h = layers.Dense(128, activation="relu")(h)
        outputs = layers.Dense(10, activation="softmax")(h)
    else:
        h = layers.LSTM(64)(inputs)
        outputs = layers.Dense(1)(h)
    model = keras.Model(inputs=inputs, outputs=outputs)
    model.compile(optimizer=keras.optimizers.Adam(), loss=spec.loss)
    return model
