"""Compiles the engine's most used numba kernels into numba's cache (``NUMBA_CACHE_DIR``), so
that the first job of a new server does not pay for it: ``python -m numkeras.server.warmup``.

The Docker image runs it at build time. It trains tiny models with every built-in optimizer, an
mlp whose products are split over the cores, and a small CNN and LSTM (their kernels take
seconds to compile).
"""

from __future__ import annotations

import os
import sys
import time

import numpy as np

OPTIMIZERS = ("sgd", "rmsprop", "adam", "adagrad", "adadelta", "adamax", "nadam")


def warm_up() -> float:
    """Fits, evaluates and predicts tiny models; returns the seconds it took."""
    import numkeras.engine as keras
    from numkeras.engine import updates

    start = time.perf_counter()
    rng = np.random.default_rng(0)
    x = rng.normal(size=(32, 4)).astype(np.float32)
    labels = rng.integers(0, 3, size=32)
    for optimizer in OPTIMIZERS:
        a = keras.Input(shape=(4,))
        h = keras.layers.Dense(8, activation="relu")(a)
        b = keras.layers.Dense(3, activation="softmax")(h)
        model = keras.Model(inputs=a, outputs=b)
        model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy",
                      metrics=["accuracy"])
        model.fit(x, labels, batch_size=16, epochs=1, validation_split=0.25, verbose=0)
        model.evaluate(x, labels, verbose=0)
        model.predict(x, verbose=0)
    # Products large enough to be split over the cores (their task descriptions compile per
    # operand layout), Adam's blocks as call tasks, the fused softmax crossentropy.
    wide = rng.normal(size=(64, 512)).astype(np.float32)
    a = keras.Input(shape=(512,))
    h = keras.layers.Dense(256, activation="relu")(keras.layers.Dense(512, activation="relu")(a))
    model = keras.Model(inputs=a, outputs=keras.layers.Dense(3, activation="softmax")(h))
    model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
    model.fit(wide, np.eye(3, dtype=np.float32)[labels[:16].repeat(4)], batch_size=64, verbose=0)
    updates.compile_tasks()  # large models' update blocks, for every optimizer
    a = keras.Input(shape=(4,))
    b = keras.layers.Dense(1, activation="sigmoid")(keras.layers.Dense(4, activation="tanh")(a))
    model = keras.Model(inputs=a, outputs=b)
    model.compile(optimizer="sgd", loss="binary_crossentropy", metrics=["mse"])
    model.fit(x, (labels > 0).astype(np.float32), batch_size=16, verbose=0)
    images = rng.normal(size=(8, 8, 8, 1)).astype(np.float32)
    a = keras.Input(shape=(8, 8, 1))
    h = keras.layers.MaxPooling2D()(keras.layers.Conv2D(16, 3, activation="relu")(a))
    h = keras.layers.Conv2D(16, 3, padding="same", activation="relu")(h)  # Winograd
    b = keras.layers.Dense(3, activation="softmax")(keras.layers.Flatten()(h))
    model = keras.Model(inputs=a, outputs=b)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.fit(images, labels[:8], batch_size=4, verbose=0)
    model.predict(images, verbose=0)
    sequences = rng.normal(size=(8, 5, 3)).astype(np.float32)
    a = keras.Input(shape=(5, 3))
    b = keras.layers.Dense(1)(keras.layers.LSTM(4)(a))
    model = keras.Model(inputs=a, outputs=b)
    model.compile(optimizer="adam", loss="mse")
    model.fit(sequences, x[:8, :1], batch_size=4, verbose=0)
    model.predict(sequences, verbose=0)
    return time.perf_counter() - start


def main() -> int:
    """Runs the warm-up and says where the cache went."""
    seconds = warm_up()
    where = os.environ.get("NUMBA_CACHE_DIR") or "__pycache__ beside the engine's sources"
    print(f"numba cache warmed in {seconds:.1f} s ({where})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
