"""Keras 2 callbacks driven by a fake model that has exactly the callbacks' model interface."""

from __future__ import annotations

import csv
import math
import re

import numpy as np
import pytest

from numkeras.callbacks import (
    BaseLogger,
    Callback,
    CallbackList,
    CSVLogger,
    EarlyStopping,
    History,
    LambdaCallback,
    LearningRateScheduler,
    ModelCheckpoint,
    ProgbarLogger,
    ReduceLROnPlateau,
    TerminateOnNaN,
)
from numkeras.utils.progbar import Progbar


class FakeOptimizer:
    def __init__(self, learning_rate: float = 0.01) -> None:
        self.learning_rate = learning_rate

    @property
    def lr(self) -> float:
        return self.learning_rate

    @lr.setter
    def lr(self, value: float) -> None:
        self.learning_rate = value


class FakeModel:
    """``stop_training``, weights, save/save_weights, ``optimizer``, ``metrics_names``,
    ``history``: nothing more."""

    def __init__(self, learning_rate: float = 0.01) -> None:
        self.stop_training = False
        self.optimizer = FakeOptimizer(learning_rate)
        self.metrics_names = ["loss", "accuracy"]
        self.history = None
        self._weights = [np.zeros((2, 2), np.float32), np.zeros(2, np.float32)]
        self.saved: list[tuple[str, str]] = []

    def get_weights(self) -> list[np.ndarray]:
        # Like a live engine: the arrays it returns change when the model trains.
        return self._weights

    def set_weights(self, weights: list[np.ndarray]) -> None:
        for mine, theirs in zip(self._weights, weights, strict=True):
            mine[...] = theirs

    def save(self, filepath: str, overwrite: bool = True) -> None:
        assert overwrite is True
        self.saved.append(("model", filepath))

    def save_weights(self, filepath: str, overwrite: bool = True) -> None:
        assert overwrite is True
        self.saved.append(("weights", filepath))

    def train_one_epoch(self, epoch: int) -> None:
        for w in self._weights:
            w[...] = epoch + 1


def fit(callbacks, epoch_logs, model=None, steps=2, batch_logs=None, **params):
    """Drives callbacks as the engine's fit does; returns the number of epochs run."""
    model = model or FakeModel()
    params = {"verbose": 0, "epochs": len(epoch_logs), "steps": steps, **params}
    cbks = CallbackList(callbacks, model=model, **params)
    model.stop_training = False
    cbks.on_train_begin()
    epochs_run = 0
    for epoch, logs in enumerate(epoch_logs):
        cbks.on_epoch_begin(epoch)
        for batch in range(steps):
            cbks.on_train_batch_begin(batch)
            model.train_one_epoch(epoch)
            cbks.on_train_batch_end(batch, dict((batch_logs or {}).get((epoch, batch), {})))
        cbks.on_epoch_end(epoch, dict(logs))
        epochs_run += 1
        if model.stop_training:
            break
    cbks.on_train_end()
    return epochs_run


def loss_logs(*values, key="val_loss"):
    return [{key: v} for v in values]


class Recorder(Callback):
    def __init__(self, name, calls):
        super().__init__()
        self.name = name
        self.calls = calls

    def on_train_begin(self, logs=None):
        self.calls.append((self.name, "train_begin"))

    def on_epoch_begin(self, epoch, logs=None):
        self.calls.append((self.name, "epoch_begin", epoch))

    def on_batch_begin(self, batch, logs=None):
        self.calls.append((self.name, "batch_begin", batch))

    def on_batch_end(self, batch, logs=None):
        self.calls.append((self.name, "batch_end", batch))

    def on_epoch_end(self, epoch, logs=None):
        self.calls.append((self.name, "epoch_end", epoch))

    def on_train_end(self, logs=None):
        self.calls.append((self.name, "train_end"))

    def on_test_batch_end(self, batch, logs=None):
        self.calls.append((self.name, "test_batch_end", batch))

    def on_predict_end(self, logs=None):
        self.calls.append((self.name, "predict_end"))


# --- Callback and CallbackList -----------------------------------------------------------


def test_callback_defaults_and_batch_aliases():
    cb = Callback()
    assert cb.model is None and cb.params is None and cb.validation_data is None
    assert not cb._implements_train_batch_hooks()
    calls = []
    rec = Recorder("a", calls)
    rec.on_train_batch_begin(3, {})
    rec.on_train_batch_end(3, {})
    assert calls == [("a", "batch_begin", 3), ("a", "batch_end", 3)]
    assert rec._implements_train_batch_hooks() and rec._implements_test_batch_hooks()
    assert not rec._implements_predict_batch_hooks()


def test_callback_list_calls_every_hook_on_every_callback_in_order():
    calls = []
    a, b = Recorder("a", calls), Recorder("b", calls)
    model = FakeModel()
    cbks = CallbackList([a, [b]], model=model, verbose=0, epochs=2)
    assert cbks.callbacks == [a, b] and list(cbks) == [a, b]
    assert a.model is model and b.params == {"verbose": 0, "epochs": 2} == cbks.params
    cbks.on_train_begin()
    cbks.on_epoch_begin(0)
    cbks.on_batch_begin(0)
    cbks.on_train_batch_end(0)
    cbks.on_test_batch_end(5)
    cbks.on_epoch_end(0, {"loss": 1.0})
    cbks.on_predict_end()
    cbks.on_train_end()
    assert calls == [
        ("a", "train_begin"), ("b", "train_begin"),
        ("a", "epoch_begin", 0), ("b", "epoch_begin", 0),
        ("a", "batch_begin", 0), ("b", "batch_begin", 0),
        ("a", "batch_end", 0), ("b", "batch_end", 0),
        ("a", "test_batch_end", 5), ("b", "test_batch_end", 5),
        ("a", "epoch_end", 0), ("b", "epoch_end", 0),
        ("a", "predict_end"), ("b", "predict_end"),
        ("a", "train_end"), ("b", "train_end"),
    ]  # fmt: skip


def test_callback_list_adds_history_then_progbar_after_user_callbacks():
    user = Callback()
    model = FakeModel()
    cbks = CallbackList([user], add_history=True, add_progbar=True, model=model, verbose=1)
    assert [type(cb) for cb in cbks.callbacks] == [Callback, History, ProgbarLogger]
    assert model.history is cbks.callbacks[1]
    assert cbks.callbacks[2].use_steps

    own_history, own_progbar = History(), ProgbarLogger()
    cbks = CallbackList([own_progbar, own_history], add_history=True, add_progbar=True)
    assert cbks.callbacks == [own_progbar, own_history]
    cbks.append(user)
    assert cbks.callbacks[-1] is user and len(cbks) == 3


def test_callback_list_epoch_logs_are_shared_so_later_callbacks_see_lr():
    seen = []
    model = FakeModel(learning_rate=0.25)
    reduce = ReduceLROnPlateau(monitor="loss", patience=5)
    spy = LambdaCallback(on_epoch_end=lambda epoch, logs: seen.append(dict(logs)))
    fit([reduce, spy], [{"loss": 1.0}], model=model)
    assert seen == [{"loss": 1.0, "lr": 0.25}]


def test_batch_hook_needs():
    assert not CallbackList([History(), EarlyStopping()])._implements_train_batch_hooks()
    assert CallbackList([TerminateOnNaN()])._implements_train_batch_hooks()
    assert CallbackList([LambdaCallback(on_batch_end=print)])._implements_train_batch_hooks()
    assert CallbackList([ModelCheckpoint("x", save_freq=2)])._implements_train_batch_hooks()
    assert not CallbackList([ModelCheckpoint("x")])._implements_train_batch_hooks()
    quiet = CallbackList([ProgbarLogger()], verbose=2, epochs=1, steps=4)
    assert not quiet._implements_train_batch_hooks()
    loud = CallbackList([ProgbarLogger()], verbose=1, epochs=1, steps=4)
    assert loud._implements_train_batch_hooks() and loud._implements_test_batch_hooks()


# --- History and BaseLogger ---------------------------------------------------------------


def test_history_records_epochs_and_sets_model_history():
    model = FakeModel()
    history = History()
    fit([history], [{"loss": 3.0, "val_loss": 4.0}, {"loss": 2.0, "val_loss": 5.0}], model=model)
    assert model.history is history
    assert history.epoch == [0, 1]
    assert history.history == {"loss": [3.0, 2.0], "val_loss": [4.0, 5.0]}
    assert history.params["epochs"] == 2 and history.params["steps"] == 2


def test_base_logger_weights_batches_by_size():
    logger = BaseLogger(stateful_metrics=["gauge"])
    batch_logs = {
        (0, 0): {"batch": 0, "size": 2, "loss": 1.0, "gauge": 7.0},
        (0, 1): {"batch": 1, "size": 3, "loss": 2.0, "gauge": 9.0},
    }
    seen = []
    spy = LambdaCallback(on_epoch_end=lambda e, logs: seen.append(dict(logs)))
    fit([logger, spy], [{}], batch_logs=batch_logs, metrics=["loss", "gauge"])
    assert seen[0]["loss"] == pytest.approx((2 * 1.0 + 3 * 2.0) / 5)
    assert seen[0]["gauge"] == 9.0
    assert "size" not in seen[0] and "batch" not in seen[0]


# --- EarlyStopping ------------------------------------------------------------------------


def test_early_stopping_patience_counts_epochs_without_improvement():
    stop = EarlyStopping(patience=2)
    assert fit([stop], loss_logs(1.0, 0.9, 0.95, 0.96, 0.5, 0.4)) == 4
    assert stop.stopped_epoch == 3 and stop.best == 0.9 and stop.best_epoch == 1


def test_early_stopping_patience_zero_stops_at_first_non_improvement():
    stop = EarlyStopping(patience=0)
    assert fit([stop], loss_logs(1.0, 0.9, 0.9, 0.1)) == 3
    assert stop.stopped_epoch == 2


def test_early_stopping_min_delta():
    # 0.99 and 0.985 improve on 1.0 by less than 0.02: no improvement.
    stop = EarlyStopping(min_delta=0.02, patience=1)
    assert fit([stop], loss_logs(1.0, 0.99, 0.985)) == 2
    loose = EarlyStopping(min_delta=0.005, patience=1)
    assert fit([loose], loss_logs(1.0, 0.99, 0.98, 0.979)) == 4
    assert loose.best == 0.98 and loose.stopped_epoch == 3


@pytest.mark.parametrize(
    ("monitor", "mode", "values", "epochs_run"),
    [
        ("val_accuracy", "auto", (0.5, 0.6, 0.55, 0.7), 3),  # max
        ("acc", "auto", (0.5, 0.6, 0.55, 0.7), 3),
        ("val_auc", "auto", (0.5, 0.6, 0.55, 0.7), 3),
        ("val_loss", "auto", (0.5, 0.6, 0.55, 0.7), 2),  # min
        ("val_loss", "max", (0.5, 0.6, 0.55, 0.7), 3),
        ("val_accuracy", "min", (0.5, 0.6, 0.55, 0.7), 2),
        ("val_accuracy_top", "auto", (0.5, 0.6, 0.55, 0.7), 2),  # only a suffix counts
    ],
)
def test_early_stopping_modes(monitor, mode, values, epochs_run):
    stop = EarlyStopping(monitor=monitor, mode=mode)
    assert fit([stop], loss_logs(*values, key=monitor)) == epochs_run


def test_early_stopping_unknown_mode_falls_back_to_auto():
    with pytest.warns(UserWarning, match="mode 'best' is unknown"):
        stop = EarlyStopping(monitor="val_acc", mode="best")
    assert stop.monitor_op is np.greater


def test_early_stopping_baseline():
    # Improving epochs that do not beat the baseline do not reset the patience counter.
    with_baseline = EarlyStopping(patience=2, baseline=0.5)
    assert fit([with_baseline], loss_logs(0.8, 0.7, 0.75, 0.9, 0.9)) == 3
    without = EarlyStopping(patience=2)
    assert fit([without], loss_logs(0.8, 0.7, 0.75, 0.9, 0.9)) == 4
    beaten = EarlyStopping(patience=2, baseline=0.75)
    assert fit([beaten], loss_logs(0.8, 0.7, 0.75, 0.9, 0.9)) == 4


def test_early_stopping_restores_best_weights_when_stopping():
    model = FakeModel()
    stop = EarlyStopping(patience=1, restore_best_weights=True, verbose=1)
    # The fake model's weights after epoch e are all e + 1; the best epoch is 1.
    assert fit([stop], loss_logs(1.0, 0.5, 0.7, 0.1), model=model) == 3
    for w in model.get_weights():
        np.testing.assert_array_equal(w, 2.0)


def test_early_stopping_restores_best_weights_at_train_end_without_stopping(capsys):
    model = FakeModel()
    stop = EarlyStopping(patience=5, restore_best_weights=True, verbose=1)
    assert fit([stop], loss_logs(1.0, 0.2, 0.7, 0.6), model=model) == 4
    assert stop.stopped_epoch == 0
    np.testing.assert_array_equal(model.get_weights()[1], [2.0, 2.0])
    out = capsys.readouterr().out
    assert "Restoring model weights from the end of the best epoch: 2." in out
    assert "early stopping" not in out


def test_early_stopping_without_restore_keeps_last_weights(capsys):
    model = FakeModel()
    stop = EarlyStopping(patience=1, verbose=1)
    assert fit([stop], loss_logs(1.0, 0.5, 0.7, 0.1), model=model) == 3
    np.testing.assert_array_equal(model.get_weights()[0], np.full((2, 2), 3.0))
    assert capsys.readouterr().out == "Epoch 3: early stopping\n"


def test_early_stopping_start_from_epoch():
    stop = EarlyStopping(patience=1, start_from_epoch=2)
    # Epochs 0 and 1 are warm-up: their better values are ignored.
    assert fit([stop], loss_logs(0.1, 0.2, 0.9, 0.8, 0.85, 0.1)) == 5
    assert stop.best == 0.8 and stop.best_epoch == 3 and stop.stopped_epoch == 4


def test_early_stopping_missing_monitor_warns_and_never_stops():
    stop = EarlyStopping(monitor="val_loss", patience=0)
    with pytest.warns(RuntimeWarning, match="`val_loss` which is not available.*loss"):
        assert fit([stop], loss_logs(1.0, 2.0, 3.0, key="loss")) == 3


# --- ModelCheckpoint ----------------------------------------------------------------------


def test_model_checkpoint_formats_filepath_every_epoch(tmp_path):
    model = FakeModel()
    pattern = str(tmp_path / "w.{epoch:02d}-{val_loss:.2f}.h5")
    ckpt = ModelCheckpoint(pattern)
    fit([ckpt], loss_logs(0.5, 0.25, 0.125), model=model)
    assert model.saved == [
        ("model", str(tmp_path / "w.01-0.50.h5")),
        ("model", str(tmp_path / "w.02-0.25.h5")),
        ("model", str(tmp_path / "w.03-0.12.h5")),
    ]


def test_model_checkpoint_creates_directory_and_saves_weights(tmp_path):
    model = FakeModel()
    ckpt = ModelCheckpoint(tmp_path / "sub" / "w.h5", save_weights_only=True)
    fit([ckpt], loss_logs(1.0), model=model)
    assert (tmp_path / "sub").is_dir()
    assert model.saved == [("weights", str(tmp_path / "sub" / "w.h5"))]


@pytest.mark.parametrize(
    ("monitor", "mode", "saved_epochs"),
    [
        ("val_loss", "auto", [1, 2, 4]),
        ("val_acc", "auto", [1, 3]),
        ("fmeasure", "auto", [1, 3]),
        ("val_fmeasure", "auto", [1, 2, 4]),
        ("val_loss", "max", [1, 3]),
        ("val_acc", "min", [1, 2, 4]),
    ],
)
def test_model_checkpoint_save_best_only(monitor, mode, saved_epochs):
    model = FakeModel()
    ckpt = ModelCheckpoint("m{epoch}", monitor=monitor, mode=mode, save_best_only=True)
    fit([ckpt], loss_logs(0.5, 0.4, 0.6, 0.3, 0.45, key=monitor), model=model)
    assert model.saved == [("model", f"m{e}") for e in saved_epochs]


def test_model_checkpoint_initial_value_threshold_and_messages(capsys):
    model = FakeModel()
    ckpt = ModelCheckpoint("m{epoch}", save_best_only=True, initial_value_threshold=0.45, verbose=1)
    fit([ckpt], loss_logs(0.5, 0.4), model=model)
    assert model.saved == [("model", "m2")]
    out = capsys.readouterr().out
    assert "\nEpoch 1: val_loss did not improve from 0.45000\n" in out
    assert "\nEpoch 2: val_loss improved from 0.45000 to 0.40000, saving model to m2\n" in out


def test_model_checkpoint_save_best_only_missing_monitor_warns():
    model = FakeModel()
    ckpt = ModelCheckpoint("m", save_best_only=True)
    with pytest.warns(RuntimeWarning, match="only with val_loss available"):
        fit([ckpt], loss_logs(0.5, key="loss"), model=model)
    assert model.saved == []


def test_model_checkpoint_period():
    model = FakeModel()
    ckpt = ModelCheckpoint("m{epoch}", period=2)
    fit([ckpt], loss_logs(5, 4, 3, 2, 1), model=model)
    assert model.saved == [("model", "m2"), ("model", "m4")]


def test_model_checkpoint_period_with_save_best_only():
    model = FakeModel()
    ckpt = ModelCheckpoint("m{epoch}", period=2, save_best_only=True)
    # Epoch 3 has the best value but only epochs 2, 4, 6 are checked.
    fit([ckpt], loss_logs(5, 4, 1, 4.5, 2, 3), model=model)
    assert model.saved == [("model", "m2"), ("model", "m6")]


def test_model_checkpoint_save_freq_in_batches():
    model = FakeModel()
    ckpt = ModelCheckpoint("m{epoch}-{batch}", save_freq=3)
    fit([ckpt], loss_logs(1, 1, 1), model=model, steps=4)
    # Global batches 3, 6, 9, 12 are (epoch 1, batch 3), (2, 2), (3, 1), (3, 4).
    assert model.saved == [("model", n) for n in ("m1-3", "m2-2", "m3-1", "m3-4")]


def test_model_checkpoint_missing_format_key():
    ckpt = ModelCheckpoint("w.{epoch:02d}-{val_acc:.2f}.h5")
    with pytest.raises(KeyError, match="val_acc"):
        fit([ckpt], loss_logs(0.5))


@pytest.mark.parametrize("save_freq", ["batch", 0, -2, 1.5])
def test_model_checkpoint_bad_save_freq(save_freq):
    with pytest.raises(ValueError, match="save_freq"):
        ModelCheckpoint("m", save_freq=save_freq)


def test_model_checkpoint_existing_directory(tmp_path):
    with pytest.raises(OSError, match="non-directory filepath"):
        fit([ModelCheckpoint(tmp_path)], loss_logs(0.5))


# --- ReduceLROnPlateau --------------------------------------------------------------------


def lr_history(callback, values, lr=1.0, key="val_loss"):
    """The learning rate during each epoch and what each epoch's logs reported."""
    model = FakeModel(learning_rate=lr)
    history = History()
    during = []
    spy = LambdaCallback(on_epoch_begin=lambda e, logs: during.append(model.optimizer.lr))
    fit([callback, spy, history], loss_logs(*values, key=key), model=model)
    assert history.history["lr"] == during
    return during


def test_reduce_lr_on_plateau_patience():
    reduce = ReduceLROnPlateau(factor=0.5, patience=2)
    during = lr_history(reduce, [1.0] * 7)
    assert during == [1.0, 1.0, 1.0, 0.5, 0.5, 0.25, 0.25]


def test_reduce_lr_on_plateau_min_delta_and_epsilon_alias():
    # Each epoch improves by 0.05: an improvement for min_delta 0.01, not for 0.1.
    values = [1.0, 0.95, 0.9, 0.85]
    assert lr_history(ReduceLROnPlateau(patience=1, min_delta=0.01), values) == [1.0] * 4
    assert lr_history(ReduceLROnPlateau(patience=1, min_delta=0.1), values) == pytest.approx(
        [1.0, 1.0, 0.1, 0.01]
    )
    with pytest.warns(DeprecationWarning, match="epsilon"):
        old = ReduceLROnPlateau(patience=1, epsilon=0.1)
    assert old.min_delta == 0.1


def test_reduce_lr_on_plateau_cooldown():
    during = lr_history(ReduceLROnPlateau(factor=0.5, patience=2, cooldown=2), [1.0] * 7)
    assert during == [1.0, 1.0, 1.0, 0.5, 0.5, 0.5, 0.25]


def test_reduce_lr_on_plateau_min_lr(capsys):
    reduce = ReduceLROnPlateau(factor=0.1, patience=1, min_lr=0.05, verbose=1)
    during = lr_history(reduce, [1.0] * 5)
    assert during == pytest.approx([1.0, 1.0, 0.1, 0.05, 0.05])
    out = capsys.readouterr().out
    assert out.count("ReduceLROnPlateau reducing learning rate to") == 2
    assert "\nEpoch 3: ReduceLROnPlateau reducing learning rate to 0.05.\n" in out


def test_reduce_lr_on_plateau_auto_mode_maximizes_accuracy():
    values = [0.5, 0.6, 0.7, 0.8]
    assert (
        lr_history(ReduceLROnPlateau(monitor="val_acc", patience=1), values, key="val_acc")
        == [1.0] * 4
    )
    assert lr_history(
        ReduceLROnPlateau(monitor="val_acc", patience=1, mode="min"), values, key="val_acc"
    ) == pytest.approx([1.0, 1.0, 0.1, 0.01])


def test_reduce_lr_on_plateau_factor_must_be_below_one():
    with pytest.raises(ValueError, match="factor >= 1.0. Got 1.5"):
        ReduceLROnPlateau(factor=1.5)


def test_reduce_lr_on_plateau_missing_monitor_warns():
    with pytest.warns(RuntimeWarning, match="`val_loss` which is not available"):
        assert lr_history(ReduceLROnPlateau(patience=0), [1.0, 1.0], key="loss") == [1.0, 1.0]


# --- LearningRateScheduler ----------------------------------------------------------------


def test_learning_rate_scheduler_two_argument_schedule(capsys):
    sched = LearningRateScheduler(lambda epoch, lr: lr * 0.5 if epoch else lr, verbose=1)
    assert lr_history(sched, [0, 0, 0], lr=0.8) == [0.8, 0.4, 0.2]
    assert "\nEpoch 2: LearningRateScheduler setting learning rate to 0.4.\n" in (
        capsys.readouterr().out
    )


def test_learning_rate_scheduler_one_argument_schedule():
    sched = LearningRateScheduler(lambda epoch: 0.1 / (epoch + 1))
    assert lr_history(sched, [0, 0, 0]) == pytest.approx([0.1, 0.05, 0.1 / 3])


def test_learning_rate_scheduler_accepts_numpy_floats():
    sched = LearningRateScheduler(lambda epoch: np.float32(0.5))
    assert lr_history(sched, [0]) == [0.5]


def test_learning_rate_scheduler_non_float_result():
    with pytest.raises(ValueError, match="should be float. Got: 1"):
        fit([LearningRateScheduler(lambda epoch: 1)], loss_logs(0.5))


# --- TerminateOnNaN -----------------------------------------------------------------------


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf, np.float32("nan")])
def test_terminate_on_nan(bad, capsys):
    model = FakeModel()
    batch_logs = {(1, 0): {"loss": 0.5}, (1, 1): {"loss": bad}}
    assert fit([TerminateOnNaN()], loss_logs(1, 1, 1), model=model, batch_logs=batch_logs) == 2
    assert model.stop_training is True
    assert capsys.readouterr().out == "Batch 1: Invalid loss, terminating training\n"


def test_terminate_on_nan_ignores_finite_losses():
    model = FakeModel()
    batch_logs = {(0, 0): {"loss": 1e30}, (0, 1): {"accuracy": math.nan}}
    assert fit([TerminateOnNaN()], loss_logs(1, 1), model=model, batch_logs=batch_logs) == 2
    assert model.stop_training is False


# --- CSVLogger ----------------------------------------------------------------------------


def read_rows(path, delimiter=","):
    with open(path, newline="") as f:
        return list(csv.reader(f, delimiter=delimiter))


def test_csv_logger_header_and_rows(tmp_path):
    path = tmp_path / "log.csv"
    logs = [
        {"val_loss": 0.5, "loss": 0.75, "accuracy": 0.25, "val_accuracy": 0.125},
        {"loss": 0.5, "val_accuracy": 0.5, "accuracy": 1.0, "val_loss": 0.25},
    ]
    fit([CSVLogger(path)], logs)
    assert read_rows(path) == [
        ["epoch", "accuracy", "loss", "val_accuracy", "val_loss"],
        ["0", "0.25", "0.75", "0.125", "0.5"],
        ["1", "1.0", "0.5", "0.5", "0.25"],
    ]


def test_csv_logger_without_validation_adds_val_columns_and_na(tmp_path):
    path = tmp_path / "log.csv"
    fit([CSVLogger(path, separator=";")], [{"loss": 2.0}, {"loss": 1.0, "val_loss": 3.0}])
    assert read_rows(path, ";") == [
        ["epoch", "loss", "val_loss"],
        ["0", "2.0", "NA"],
        ["1", "1.0", "3.0"],
    ]


def test_csv_logger_append_and_overwrite(tmp_path):
    path = tmp_path / "log.csv"
    fit([CSVLogger(path)], [{"loss": 2.0, "val_loss": 4.0}])
    fit([CSVLogger(path, append=True)], [{"loss": 1.0, "val_loss": 3.0}])
    assert read_rows(path) == [
        ["epoch", "loss", "val_loss"],
        ["0", "2.0", "4.0"],
        ["0", "1.0", "3.0"],
    ]
    fit([CSVLogger(path)], [{"loss": 0.5, "val_loss": 0.25}])
    assert read_rows(path) == [["epoch", "loss", "val_loss"], ["0", "0.5", "0.25"]]


def test_csv_logger_append_to_new_file_writes_header(tmp_path):
    path = tmp_path / "new.csv"
    fit([CSVLogger(path, append=True)], [{"loss": 1.0, "val_loss": 2.0, "v": [1, 2]}])
    assert read_rows(path) == [["epoch", "loss", "v", "val_loss"], ["0", "1.0", "[1, 2]", "2.0"]]


# --- LambdaCallback -----------------------------------------------------------------------


def test_lambda_callback_hooks():
    calls = []
    cb = LambdaCallback(
        on_epoch_begin=lambda epoch, logs: calls.append(("epoch_begin", epoch)),
        on_epoch_end=lambda epoch, logs: calls.append(("epoch_end", epoch, logs["loss"])),
        on_batch_begin=lambda b, lg: calls.append(("batch_begin", b)),
        on_batch_end=lambda b, lg: calls.append(("batch_end", b)),
        on_train_begin=lambda logs: calls.append(("train_begin",)),
        on_train_end=lambda logs: calls.append(("train_end",)),
        on_test_batch_end=lambda batch, logs: calls.append(("test_batch_end", batch)),
    )
    fit([cb], [{"loss": 0.5}], steps=2)
    CallbackList([cb]).on_test_batch_end(7)
    assert calls == [
        ("train_begin",),
        ("epoch_begin", 0),
        ("batch_begin", 0), ("batch_end", 0),
        ("batch_begin", 1), ("batch_end", 1),
        ("epoch_end", 0, 0.5),
        ("train_end",),
        ("test_batch_end", 7),
    ]  # fmt: skip


def test_lambda_callback_unset_hooks_do_nothing():
    cb = LambdaCallback(on_train_end=lambda logs: None)
    assert fit([cb], [{"loss": 0.5}]) == 1
    assert not cb._implements_train_batch_hooks()


# --- Progbar and ProgbarLogger ------------------------------------------------------------

TIME = r"\d+(?:s|ms|us)"


def test_progbar_bar_drawing(capsys):
    bar = Progbar(4, interval=0)
    bar.update(1, [("loss", 0.5)])
    bar.update(3, [("loss", 2.0)])
    bar.update(4, [("loss", 1.0)])
    lines = capsys.readouterr().out.split("\n")
    assert lines[0] == ""
    assert lines[1] == "1/4 [======>.......................] - ETA: 0s - loss: 0.5000"
    # Not stateful: weighted by the steps each update covers, (0.5 + 2 * 2.0) / 3.
    assert lines[2] == "3/4 [=====================>........] - ETA: 0s - loss: 1.5000"
    assert re.fullmatch(rf"4/4 \[={{30}}\] - \d+s {TIME}/step - loss: 1\.3750", lines[3])
    assert lines[4] == ""


def test_progbar_stateful_unknown_target_and_small_values(capsys):
    bar = Progbar(None, interval=0, stateful_metrics=["acc"])
    bar.update(2, [("acc", 0.25), ("tiny", 1e-5)])
    bar.update(5, [("acc", 0.75), ("tiny", 1e-5)])
    lines = capsys.readouterr().out.split("\n")
    assert re.fullmatch(
        rf"      2/Unknown - \d+s {TIME}/step - acc: 0\.2500 - tiny: 1\.0000e-05", lines[1]
    )
    assert re.fullmatch(
        rf"      5/Unknown - \d+s {TIME}/step - acc: 0\.7500 - tiny: 1\.0000e-05", lines[2]
    )


def test_progbar_dynamic_display_redraws_in_place(capsys):
    bar = Progbar(10, interval=0, width=10)
    bar._dynamic_display = True
    bar.update(5, [("loss", 0.123456)], finalize=False)
    bar.update(10, [])
    out = capsys.readouterr().out
    first, rest = out[: out.index("\r", 1)], out[out.index("\r", 1) :]
    assert first == "\r 5/10 [====>.....] - ETA: 0s - loss: 0.1235"
    assert rest.startswith("\r10/10 [==========] - ") and rest.endswith(" - loss: 0.1235\n")


def test_progbar_verbose_2_prints_only_when_done(capsys):
    bar = Progbar(4, verbose=2)
    bar.update(2, [("loss", 1.0)])
    assert capsys.readouterr().out == ""
    bar.update(4, [("loss", 1.0)])
    out = capsys.readouterr().out
    assert re.fullmatch(rf"4/4 - \d+s - loss: 1\.0000 - {TIME}/epoch - {TIME}/step\n", out)


def run_progbar_fit(verbose, epochs=2, steps=4, target_known=True, validation_batches=0):
    batch_logs = {
        (e, b): {"loss": 4.0 / 2**b, "accuracy": 0.25 * b}
        for e in range(epochs)
        for b in range(steps)
    }
    epoch_logs = [
        {"loss": 0.6931471, "accuracy": 0.5, "val_loss": 0.7, "val_accuracy": 0.0}
    ] * epochs

    class Validation(Callback):
        """Validation inside fit calls the test hooks: the progress bar stays silent."""

        def on_epoch_end(self, epoch, logs=None):
            for b in range(validation_batches):
                self.cbks.on_test_batch_end(b, {"loss": 9.0})
            self.cbks.on_test_end({"loss": 9.0})

    validation = Validation()
    params = {"verbose": verbose, "epochs": epochs, "steps": steps if target_known else None}
    cbks = CallbackList([validation], add_history=True, add_progbar=True, **params)
    validation.cbks = cbks
    model = FakeModel()
    cbks.set_model(model)
    cbks.on_train_begin()
    for epoch in range(epochs):
        cbks.on_epoch_begin(epoch)
        for batch in range(steps):
            cbks.on_train_batch_begin(batch)
            cbks.on_train_batch_end(batch, batch_logs[(epoch, batch)])
        cbks.on_epoch_end(epoch, dict(epoch_logs[epoch]))
    cbks.on_train_end()
    return model


def test_progbar_logger_verbose_1(capsys):
    model = run_progbar_fit(verbose=1, validation_batches=3)
    assert model.history.history["loss"] == [0.6931471] * 2
    lines = capsys.readouterr().out.split("\n")
    # Without a terminal each redraw is a new line; updates closer than 0.05 s are skipped.
    assert lines[0] == "Epoch 1/2"
    assert lines[1] == ""
    # The batch logs are shown as given (running averages), not averaged again.
    assert (
        lines[2]
        == "1/4 [======>.......................] - ETA: 0s - loss: 4.0000 - accuracy: 0.0000e+00"
    )
    final = rf"4/4 \[={{30}}\] - \d+s {TIME}/step - loss: 0\.6931 - accuracy: 0\.5000"
    final += r" - val_loss: 0\.7000 - val_accuracy: 0\.0000e\+00"
    finals = [line for line in lines if line.startswith("4/4")]
    assert len(finals) == 2 and all(re.fullmatch(final, line) for line in finals)
    assert [line for line in lines if line.startswith("Epoch")] == ["Epoch 1/2", "Epoch 2/2"]
    assert lines[-1] == ""
    assert "9.0000" not in "\n".join(lines)


def test_progbar_logger_verbose_2(capsys):
    run_progbar_fit(verbose=2)
    lines = capsys.readouterr().out.split("\n")
    line = r"4/4 - \d+s - loss: 0\.6931 - accuracy: 0\.5000 - val_loss: 0\.7000"
    line += rf" - val_accuracy: 0\.0000e\+00 - {TIME}/epoch - {TIME}/step"
    assert len(lines) == 5 and lines[-1] == ""
    assert lines[0] == "Epoch 1/2" and lines[2] == "Epoch 2/2"
    assert re.fullmatch(line, lines[1]) and re.fullmatch(line, lines[3])


def test_progbar_logger_unknown_steps_learns_them_in_the_first_epoch(capsys):
    run_progbar_fit(verbose=2, steps=3, target_known=False)
    lines = capsys.readouterr().out.split("\n")
    assert re.match(r"3/3 - \d+s - loss: 0\.6931", lines[1]) and lines[3].startswith("3/3 - ")


def test_progbar_logger_single_epoch_has_no_epoch_line(capsys):
    run_progbar_fit(verbose=2, epochs=1)
    assert capsys.readouterr().out.startswith("4/4 - ")


def test_progbar_logger_evaluate_shows_test_progress(capsys):
    cbks = CallbackList([ProgbarLogger()], verbose=1, epochs=1, steps=2, model=FakeModel())
    cbks.on_test_begin()
    cbks.on_test_batch_end(0, {"loss": 3.0})
    cbks.on_test_batch_end(1, {"loss": 2.5})
    cbks.on_test_end({"loss": 2.5})
    lines = capsys.readouterr().out.split("\n")
    assert lines[1] == "1/2 [==============>...............] - ETA: 0s - loss: 3.0000"
    assert re.fullmatch(rf"2/2 \[={{30}}\] - \d+s {TIME}/step - loss: 2\.5000", lines[2])


def test_progbar_logger_samples_mode_counts_batch_sizes(capsys):
    logger = ProgbarLogger(count_mode="samples")
    cbks = CallbackList([logger], verbose=1, epochs=1, samples=5, steps=2)
    cbks.on_train_begin()
    cbks.on_epoch_begin(0)
    cbks.on_train_batch_end(0, {"size": 3, "loss": 1.0})
    cbks.on_train_batch_end(1, {"size": 2, "loss": 1.0})
    cbks.on_epoch_end(0, {"loss": 1.0})
    lines = capsys.readouterr().out.split("\n")
    assert lines[1] == "3/5 [=================>............] - ETA: 0s - loss: 1.0000"
    assert re.fullmatch(rf"5/5 \[={{30}}\] - \d+s {TIME}/sample - loss: 1\.0000", lines[2])


def test_progbar_logger_bad_count_mode():
    with pytest.raises(ValueError, match="count_mode: 'batches'"):
        ProgbarLogger(count_mode="batches")
