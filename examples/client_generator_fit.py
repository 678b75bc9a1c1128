"""Generator-fed training on a numkeras server: a ``keras.utils.Sequence`` for fit_generator,
a plain Python generator for fit, evaluate_generator and predict_generator.

The generators run in this process (``workers`` / ``use_multiprocessing`` / ``max_queue_size``
keep their Keras meaning here) and their batches are sent to the server. Run against a server
started as the README says, with ``NUMKERAS_URL`` and ``NUMKERAS_API_KEY`` set:
``python examples/client_generator_fit.py``.
"""

import numpy as np

import numkeras.client as keras

rng = np.random.default_rng(0)
x = rng.normal(size=(1000, 10)).astype("float32")
y = keras.utils.to_categorical((x[:, 0] > 0).astype(int) + (x[:, 1] > 0).astype(int), 3)


class Batches(keras.utils.Sequence):
    """Batches of 50 samples, reshuffled after every epoch."""

    def __init__(self) -> None:
        self.order = np.arange(len(x))

    def __len__(self) -> int:
        return len(x) // 50

    def __getitem__(self, i: int) -> tuple:
        idx = self.order[i * 50:(i + 1) * 50]
        return x[idx], y[idx]

    def on_epoch_end(self) -> None:
        rng.shuffle(self.order)


def forever(batch_size: int = 40):
    while True:
        idx = rng.integers(0, len(x), size=batch_size)
        yield x[idx], y[idx]


inputs = keras.Input(shape=(10,))
hidden = keras.layers.Dense(32, activation="relu")(inputs)
outputs = keras.layers.Dense(3, activation="softmax")(hidden)
model = keras.Model(inputs, outputs)
model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])

model.fit_generator(Batches(), epochs=3, verbose=2, workers=2,
                    callbacks=[keras.callbacks.EarlyStopping(monitor="loss", patience=1)])
model.fit(forever(), steps_per_epoch=10, epochs=2, verbose=2)
print("evaluate_generator:", model.evaluate_generator(forever(), steps=5))
print("predict_generator:", model.predict_generator(Batches()).shape)
