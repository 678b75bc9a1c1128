"""Built-in callbacks driving a real engine model through fit."""

import csv

import numpy as np
import pytest

import numkeras.engine as keras
from numkeras import backend
from numkeras.engine.models import Model
from numkeras.layers import Dense, Input


@pytest.fixture(autouse=True)
def _fresh_names():
    backend.clear_session()


def regression(n=64, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3)).astype("float32")
    y = (x @ np.array([[1.0], [-2.0], [0.5]], "float32")).astype("float32")
    return x, y


def model_for(lr=0.05):
    a = Input(shape=(3,))
    model = Model(a, Dense(1)(a))
    model.compile(keras.optimizers.SGD(learning_rate=lr), "mse")
    return model


def test_early_stopping_restores_best_weights():
    x, y = regression()
    model = model_for(lr=0.9)  # diverges: the first epoch is the best

    seen = []

    class Record(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            seen.append([w.copy() for w in self.model.get_weights()])

    stop = keras.callbacks.EarlyStopping(monitor="loss", patience=1, restore_best_weights=True)
    history = model.fit(x, y, epochs=20, batch_size=64, callbacks=[Record(), stop], verbose=0)
    losses = history.history["loss"]
    best = int(np.argmin(losses))
    assert len(losses) < 20 and stop.stopped_epoch > 0
    for got, want in zip(model.get_weights(), seen[best], strict=True):
        np.testing.assert_array_equal(got, want)


def test_reduce_lr_on_plateau_and_scheduler_change_the_optimizer():
    x, y = regression()
    model = model_for(lr=0.1)
    sched = keras.callbacks.LearningRateScheduler(lambda epoch, lr: 0.1 / (epoch + 1))
    history = model.fit(x, y, epochs=3, callbacks=[sched], verbose=0)
    np.testing.assert_allclose(history.history["lr"], [0.1, 0.05, 0.1 / 3], rtol=1e-6)
    np.testing.assert_allclose(model.optimizer.learning_rate, 0.1 / 3, rtol=1e-6)
    model = model_for(lr=0.0)  # no progress: a plateau from the start
    plateau = keras.callbacks.ReduceLROnPlateau(monitor="loss", factor=0.5, patience=1,
                                                min_lr=0.0)
    model.optimizer.learning_rate = 0.2
    model.compile(keras.optimizers.SGD(learning_rate=0.0), "mse")
    model.fit(x, y, epochs=4, callbacks=[plateau], verbose=0)
    assert model.optimizer.learning_rate == 0.0


def test_learning_rate_set_by_a_callback_is_used_by_the_next_step():
    x, y = regression()
    model = model_for(lr=0.05)
    before = model.get_weights()

    class Freeze(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.model.optimizer.learning_rate = 0.0

    model.fit(x, y, epochs=2, callbacks=[Freeze()], verbose=0)
    for a, b in zip(model.get_weights(), before, strict=True):
        np.testing.assert_array_equal(a, b)


def test_terminate_on_nan_stops_within_the_epoch():
    x, y = regression()
    y[5] = np.nan
    model = model_for()
    counter = []
    cb = keras.callbacks.LambdaCallback(on_batch_end=lambda batch, logs: counter.append(batch))
    history = model.fit(x, y, epochs=5, batch_size=4, shuffle=False,
                        callbacks=[cb, keras.callbacks.TerminateOnNaN()], verbose=0)
    assert len(history.epoch) == 1 and len(counter) == 2  # the NaN is in the second batch


def test_csv_logger_and_model_checkpoint_write_files(tmp_path):
    x, y = regression()
    model = model_for()
    log = tmp_path / "log.csv"
    path = str(tmp_path / "w.{epoch:02d}-{val_loss:.3f}.h5")
    model.fit(x, y, epochs=2, validation_split=0.25, verbose=0,
              callbacks=[keras.callbacks.CSVLogger(str(log)),
                         keras.callbacks.ModelCheckpoint(path, save_weights_only=True)])
    rows = list(csv.DictReader(log.open()))
    assert [r["epoch"] for r in rows] == ["0", "1"]
    assert set(rows[0]) == {"epoch", "loss", "val_loss"}
    files = sorted(p.name for p in tmp_path.glob("w.*.h5"))
    assert len(files) == 2 and files[0].startswith("w.01-")
    fresh = model_for()
    fresh.load_weights(str(tmp_path / files[1]))
    for a, b in zip(fresh.get_weights(), model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_model_checkpoint_full_model_save_best_only(tmp_path):
    x, y = regression()
    model = model_for()
    path = tmp_path / "best.h5"
    model.fit(x, y, epochs=3, validation_data=(x, y), verbose=0,
              callbacks=[keras.callbacks.ModelCheckpoint(str(path), save_best_only=True)])
    loaded = keras.models.load_model(str(path))
    np.testing.assert_allclose(loaded.predict(x), model.predict(x), rtol=1e-6)


class Squares(keras.utils.Sequence):
    def __init__(self, n_batches=4, size=8):
        self.n, self.size = n_batches, size

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        x = np.full((self.size, 3), float(i), "float32")
        return x, x[:, :1] * 2.0


@pytest.mark.parametrize("workers, processes", [(0, False), (2, False), (2, True)])
def test_fit_evaluate_predict_with_workers(workers, processes):
    model = model_for(lr=0.01)
    seq = Squares()
    history = model.fit(seq, epochs=2, workers=workers, use_multiprocessing=processes,
                        shuffle=False, verbose=0)
    assert len(history.history["loss"]) == 2
    pred = model.predict(seq, workers=workers, use_multiprocessing=processes)
    x_all = np.concatenate([seq[i][0] for i in range(len(seq))])
    np.testing.assert_allclose(pred, model.predict(x_all), rtol=1e-6)
    ev = model.evaluate(seq, workers=workers, use_multiprocessing=processes, verbose=0)
    y_all = np.concatenate([seq[i][1] for i in range(len(seq))])
    np.testing.assert_allclose(ev, model.evaluate(x_all, y_all, verbose=0), rtol=1e-5)
