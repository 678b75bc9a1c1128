"""Conv2D training speed: the [engine-speed] cnn model on numkeras, and on PyTorch in the same
run when ``import torch`` works.

Model: Input(28, 28, 1) -> Conv2D(32, 3, relu) -> MaxPooling2D -> Conv2D(64, 3, relu) ->
MaxPooling2D -> Flatten -> Dense(128, relu) -> Dense(10, softmax); Adam, categorical
cross-entropy, batch 128, 4096 random samples; one warm-up epoch, then the median of
``--repeat`` timed epochs. Prints samples/s and the numkeras / torch ratio.

    python bench/bench_conv.py [--repeat 3] [--threads N] [--no-torch]

``--threads N`` sets ``NUMKERAS_NUM_THREADS`` for numkeras and ``torch.set_num_threads(N)``;
by default both use every core.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import common  # noqa: E402

SPEC = common.SPECS["cnn"]


def build_numkeras():
    import numkeras.engine as keras

    inputs = keras.Input(shape=SPEC.input_shape)
    h = keras.layers.Conv2D(32, 3, activation="relu")(inputs)
    h = keras.layers.MaxPooling2D()(h)
    h = keras.layers.Conv2D(64, 3, activation="relu")(h)
    h = keras.layers.MaxPooling2D()(h)
    h = keras.layers.Flatten()(h)
    h = keras.layers.Dense(128, activation="relu")(h)
    outputs = keras.layers.Dense(SPEC.output_units, activation="softmax")(h)
    model = keras.Model(inputs, outputs)
    model.compile(optimizer=keras.optimizers.Adam(), loss=SPEC.loss)
    return model


def epoch_seconds(fit_epoch, repeat: int) -> tuple[float, float]:
    """(warm-up epoch, median of ``repeat`` epochs) in seconds."""
    warmup = common.timed(fit_epoch)
    return warmup, float(np.median([common.timed(fit_epoch) for _ in range(repeat)]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--no-torch", action="store_true")
    args = parser.parse_args()
    if args.threads is not None:  # read when numkeras is imported, in build_numkeras
        os.environ["NUMKERAS_NUM_THREADS"] = str(args.threads)
    x, y = common.make_data("cnn", SPEC.samples)
    bs = SPEC.batch_size
    print(f"cnn: {SPEC.samples} samples, batch {bs}, {common.core_count()} cores, "
          f"threads {args.threads or 'default'}")

    start = time.perf_counter()
    model = build_numkeras()
    warm, nk = epoch_seconds(lambda: model.fit(x, y, batch_size=bs, epochs=1, verbose=0),
                             args.repeat)
    print(f"numkeras  train {SPEC.samples / nk:9.0f} samples/s  (epoch {nk:.3f} s, warm-up "
          f"{warm:.2f} s, build+all {time.perf_counter() - start:.1f} s)")

    if args.no_torch:
        return
    sys.path.insert(0, str(Path(__file__).resolve().parent / "peers"))
    import torch_peer
    from torch_peer import TorchRunner

    runner = TorchRunner()
    try:
        version = runner.load()
    except ImportError:
        print("torch     not installed: no comparison")
        return
    if args.threads is not None:
        torch_peer.torch.set_num_threads(args.threads)
    net = runner.build("cnn")
    warm, th = epoch_seconds(lambda: runner.fit_epoch(net, x, y, bs), args.repeat)
    print(f"torch {version}  train {SPEC.samples / th:9.0f} samples/s  (epoch {th:.3f} s, "
          f"warm-up {warm:.2f} s, {runner.info()['num_threads']} threads)")
    print(f"ratio numkeras / torch: {th / nk:.2f}x")


if __name__ == "__main__":
    main()
