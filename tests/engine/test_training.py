"""compile / fit / evaluate / predict / *_on_batch / *_generator: arguments, good and bad."""

import threading

import numpy as np
import pytest

import numkeras.engine as keras
from numkeras import backend
from numkeras.engine.models import Model
from numkeras.layers import Dense, Input


@pytest.fixture(autouse=True)
def _fresh_names():
    backend.clear_session()


def make_model(n_in=4, n_out=1, activation=None, name_in=None, name_out=None):
    a = Input(shape=(n_in,), name=name_in)
    return Model(a, Dense(n_out, activation=activation, name=name_out)(a))


def data(n=10, n_in=4, n_out=1, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, n_in)).astype("float32")
    y = rng.normal(size=(n, n_out)).astype("float32")
    return x, y


class Counter(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.batches = 0
        self.epochs = []
        self.tests = 0

    def on_train_batch_end(self, batch, logs=None):
        self.batches += 1

    def on_epoch_end(self, epoch, logs=None):
        self.epochs.append(epoch)

    def on_test_begin(self, logs=None):
        self.tests += 1


# ------------------------------------------------------------------ compile
def test_methods_before_compile_raise_runtime_error():
    model = make_model()
    x, y = data()
    for call in (lambda: model.fit(x, y, verbose=0), lambda: model.evaluate(x, y, verbose=0),
                 lambda: model.train_on_batch(x, y), lambda: model.test_on_batch(x, y)):
        with pytest.raises(RuntimeError, match="compile"):
            call()
    assert model.predict(x).shape == (10, 1)  # predict works uncompiled, as in Keras


@pytest.mark.parametrize("kwargs, match", [
    ({"optimizer": "nope", "loss": "mse"}, "optimizer"),
    ({"optimizer": "sgd", "loss": "nope"}, "loss"),
    ({"optimizer": "sgd", "loss": "mse", "metrics": ["nope"]}, "metric"),
    ({"optimizer": "sgd", "loss": ["mse", "mse"]}, "loss"),
    ({"optimizer": "sgd", "loss": {"bogus": "mse"}}, "bogus"),
    ({"optimizer": "sgd", "loss": "mse", "loss_weights": [1.0, 2.0]}, "loss_weights"),
    ({"optimizer": "sgd", "loss": "mse", "loss_weights": ["x"]}, "loss_weights"),
    ({"optimizer": "sgd", "loss": "mse", "sample_weight_mode": "spatial"}, "sample_weight_mode"),
    ({"optimizer": "sgd", "loss": "mse", "bogus": 1}, "bogus"),
    ({"optimizer": "sgd", "loss": "mse", "target_tensors": [np.zeros((3, 7))]}, "target"),
])
def test_compile_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        make_model().compile(**kwargs)


def test_metrics_names_single_and_multi_output():
    model = make_model(n_out=3, activation="softmax")
    model.compile("sgd", "categorical_crossentropy", metrics=["acc", "mse", "mse"])
    assert model.metrics_names == ["loss", "acc", "mse", "mse_1"]
    a = Input(shape=(4,))
    model = Model(a, [Dense(1, name="o1")(a), Dense(1, name="o2")(a)])
    model.compile("sgd", ["mse", "mae"], metrics=["mae"], weighted_metrics=["mae"])
    assert model.metrics_names == ["loss", "o1_loss", "o2_loss", "o1_mae", "o1_weighted_mae",
                                   "o2_mae", "o2_weighted_mae"]


def test_metrics_list_of_lists_and_dict():
    a = Input(shape=(4,))
    model = Model(a, [Dense(1, name="a")(a), Dense(1, name="b")(a)])
    model.compile("sgd", "mse", metrics=["mae", ["mae", "mse"]])
    assert model.metrics_names[3:] == ["a_mae", "b_mae", "b_mse"]
    model.compile("sgd", "mse", metrics={"b": "mae"})
    assert model.metrics_names[3:] == ["b_mae"]


# ---------------------------------------------------------------------- fit
def test_fit_returns_history_with_params_and_epochs():
    model = make_model()
    model.compile("sgd", "mse", metrics=["mae"])
    x, y = data()
    history = model.fit(x, y, epochs=3, batch_size=4, verbose=0)
    assert history is model.history
    assert history.epoch == [0, 1, 2]
    assert set(history.history) == {"loss", "mae"}
    assert history.params["epochs"] == 3 and history.params["steps"] == 3


def test_initial_epoch_trains_epochs_2_3_4():
    model = make_model()
    model.compile("sgd", "mse")
    x, y = data()
    history = model.fit(x, y, epochs=5, initial_epoch=2, verbose=0)
    assert history.epoch == [2, 3, 4]


def test_batch_count_10_samples_batch_2_5_epochs():
    model = make_model()
    model.compile("sgd", "mse")
    counter = Counter()
    model.fit(*data(), batch_size=2, epochs=5, callbacks=[counter], verbose=0)
    assert counter.batches == 25


@pytest.mark.parametrize("freq, expected", [(2, 2), ([1, 3, 4], 3)])
def test_validation_freq(freq, expected):
    model = make_model()
    model.compile("sgd", "mse")
    x, y = data()
    history = model.fit(x, y, epochs=4, validation_data=(x, y), validation_freq=freq, verbose=0)
    assert len(history.history["val_loss"]) == expected
    assert len(history.history["loss"]) == 4


def test_validation_split_takes_the_last_samples_before_shuffling():
    model = make_model()
    model.compile("sgd", "mse")
    x, y = data(n=10)
    model.fit(x, y, epochs=1, validation_split=0.3, verbose=0, shuffle=True)
    w = model.get_weights()
    expected = model.evaluate(x[7:], y[7:], verbose=0)
    model.set_weights(w)
    history = model.fit(x, y, epochs=1, validation_split=0.3, verbose=0, shuffle=False)
    model2 = make_model()
    model2.compile("sgd", "mse")
    model2.set_weights(w)
    model2.fit(x[:7], y[:7], epochs=1, verbose=0, shuffle=False)
    np.testing.assert_allclose(history.history["val_loss"][0],
                               model2.evaluate(x[7:], y[7:], verbose=0), rtol=1e-5)
    assert np.isfinite(expected)
    with pytest.raises(ValueError, match="not sufficient to split"):
        model.fit(x[:1], y[:1], validation_split=0.5, verbose=0)


def test_shuffle_false_is_deterministic_and_batch_shuffle_runs():
    x, y = data(n=20)
    results = []
    for _ in range(2):
        backend.clear_session()
        model = make_model()
        model.set_weights([np.full((4, 1), 0.1, "float32"), np.zeros(1, "float32")])
        model.compile("sgd", "mse")
        results.append(model.fit(x, y, epochs=2, batch_size=6, shuffle=False,
                                 verbose=0).history["loss"])
    assert results[0] == results[1]
    model.fit(x, y, epochs=1, batch_size=6, shuffle="batch", verbose=0)
    with pytest.raises(ValueError, match="shuffle"):
        model.fit(x, y, shuffle="sometimes", verbose=0)


def test_fit_data_errors_name_input_output_and_shapes():
    model = make_model(name_in="features", name_out="target")
    model.compile("sgd", "mse")
    x, y = data()
    with pytest.raises(ValueError, match=r"features.*\(4,\).*\(3,\)"):
        model.fit(x[:, :3], y, verbose=0)
    with pytest.raises(ValueError, match=r"target.*\(1,\).*\(2,\)"):
        model.fit(x, np.zeros((10, 2)), verbose=0)
    with pytest.raises(ValueError, match="cardinality"):
        model.fit(x, y[:9], verbose=0)
    with pytest.raises(ValueError, match="object"):
        model.fit(np.array([object()] * 10), y, verbose=0)
    with pytest.raises(ValueError, match="batch_size"):
        model.fit(x, y, batch_size=0, verbose=0)
    with pytest.raises(ValueError, match="epochs"):
        model.fit(x, y, epochs=-1, verbose=0)
    with pytest.raises(ValueError, match="verbose"):
        model.fit(x, y, verbose=3)
    with pytest.raises(ValueError, match="validation_data"):
        model.fit(x, y, validation_data=(x,), verbose=0)
    with pytest.raises(ValueError, match="validation_freq"):
        model.fit(x, y, validation_data=(x, y), validation_freq=0, verbose=0)
    with pytest.raises(ValueError, match="callbacks"):
        model.fit(x, y, callbacks=[object()], verbose=0)
    with pytest.raises(TypeError, match="bogus"):
        model.fit(x, y, bogus=1, verbose=0)


def test_dict_inputs_and_outputs_by_name():
    a = Input(shape=(3,), name="a")
    b = Input(shape=(2,), name="b")
    h = keras.layers.Concatenate()([a, b])
    model = Model([a, b], [Dense(1, name="r")(h), Dense(1, activation="sigmoid", name="c")(h)])
    model.compile("adam", {"r": "mse", "c": "binary_crossentropy"}, metrics={"c": "accuracy"},
                  loss_weights={"r": 0.5, "c": 2.0})
    rng = np.random.default_rng(0)
    x = {"a": rng.normal(size=(8, 3)), "b": rng.normal(size=(8, 2))}
    y = {"r": rng.normal(size=(8, 1)), "c": (rng.random((8, 1)) > 0.5).astype("float32")}
    logs = model.fit(x, y, epochs=1, verbose=0).history
    assert set(logs) == {"loss", "r_loss", "c_loss", "c_accuracy"}
    np.testing.assert_allclose(logs["loss"][0], 0.5 * logs["r_loss"][0] + 2 * logs["c_loss"][0],
                               rtol=1e-5)
    with pytest.raises(ValueError, match="No data provided for input"):
        model.fit({"a": x["a"]}, y, verbose=0)
    with pytest.raises(ValueError, match="zzz"):
        model.fit({**x, "zzz": x["a"]}, y, verbose=0)


def test_sample_weight_and_class_weight_scale_the_loss():
    model = make_model(n_out=1, activation="sigmoid")
    model.compile("sgd", "binary_crossentropy")
    x, _ = data(n=8)
    y = np.array([0, 1, 0, 1, 1, 0, 0, 1], "float32")
    base = model.evaluate(x, y, verbose=0, batch_size=8)
    sw = np.full(8, 2.0, "float32")
    np.testing.assert_allclose(model.evaluate(x, y, sample_weight=sw, verbose=0), 2 * base,
                               rtol=1e-5)
    w = model.get_weights()
    model.train_on_batch(x, y, class_weight={0: 0.0, 1: 0.0})
    for a, b in zip(model.get_weights(), w, strict=True):  # zero weights: no update
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="class_weight"):
        model.fit(x, y, class_weight={1: 1.0, 2: 1.0}, verbose=0)
    with pytest.raises(ValueError, match="temporal"):
        model.fit(x, y, sample_weight=np.ones((8, 2)), verbose=0)


def test_target_tensors_let_fit_run_without_y():
    x, y = data()
    model = make_model()
    model.compile("sgd", "mse", target_tensors=[y])
    history = model.fit(x, epochs=2, verbose=0)
    assert len(history.history["loss"]) == 2
    model2 = make_model()
    model2.compile("sgd", "mse")
    with pytest.raises(ValueError, match="y"):
        model2.fit(x, verbose=0)


def test_steps_per_epoch_with_arrays():
    model = make_model()
    model.compile("sgd", "mse")
    counter = Counter()
    model.fit(*data(), batch_size=4, steps_per_epoch=5, epochs=2, callbacks=[counter], verbose=0)
    assert counter.batches == 10


def test_stop_training_from_callback_and_verbose_modes(capsys):
    model = make_model()
    model.compile("sgd", "mse")

    class Stop(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 1:
                self.model.stop_training = True

    history = model.fit(*data(), epochs=10, callbacks=[Stop()], verbose=0)
    assert history.epoch == [0, 1]
    model.fit(*data(), epochs=2, verbose=2)
    out = capsys.readouterr().out
    assert "Epoch 2/2" in out and "loss:" in out
    model.fit(*data(), epochs=1, verbose=1)
    assert "[" in capsys.readouterr().out


# ----------------------------------------------------------- evaluate etc.
def test_evaluate_scalar_or_list_and_return_dict():
    model = make_model()
    x, y = data()
    model.compile("sgd", "mse")
    loss = model.evaluate(x, y, verbose=0)
    assert isinstance(loss, float)
    np.testing.assert_allclose(loss, np.mean((model.predict(x) - y) ** 2), rtol=1e-5)
    model.compile("sgd", "mse", metrics=["mae"])
    result = model.evaluate(x, y, verbose=0)
    assert isinstance(result, list) and len(result) == 2
    np.testing.assert_allclose(result[1], np.mean(np.abs(model.predict(x) - y)), rtol=1e-5)
    assert set(model.evaluate(x, y, verbose=0, return_dict=True)) == {"loss", "mae"}
    with pytest.raises(ValueError, match="steps"):
        model.evaluate(x, y, steps=0, verbose=0)


def test_predict_batches_and_errors():
    model = make_model(n_out=2)
    x, _ = data(n=70)
    k, b = model.get_weights()
    np.testing.assert_allclose(model.predict(x, batch_size=16), x @ k + b, rtol=1e-5)
    np.testing.assert_allclose(model.predict_on_batch(x), x @ k + b, rtol=1e-5)
    np.testing.assert_allclose(model(x), x @ k + b, rtol=1e-5)
    assert model.predict(x, steps=2, batch_size=16).shape == (32, 2)
    with pytest.raises(ValueError, match="shape"):
        model.predict(x[:, :2])
    with pytest.raises(ValueError, match="required"):
        model.predict(None)


def test_on_batch_methods_and_reset_metrics():
    model = make_model()
    model.compile("sgd", "mse", metrics=["mae"])
    x, y = data()
    loss, mae = model.train_on_batch(x, y)
    assert np.isfinite(loss) and np.isfinite(mae)
    a = model.test_on_batch(x[:5], y[:5])
    b = model.test_on_batch(x[5:], y[5:], reset_metrics=False)
    both = model.evaluate(x, y, verbose=0, batch_size=10)
    c = model.test_on_batch(x[:5], y[:5])
    np.testing.assert_allclose(a, c, rtol=1e-6)
    np.testing.assert_allclose(b, both, rtol=1e-5)  # accumulated over both halves
    with pytest.raises(ValueError, match="shape"):
        model.train_on_batch(x[:, :1], y)


# --------------------------------------------------------------- generators
class Batches(keras.utils.Sequence):
    def __init__(self, x, y, batch_size):
        self.x, self.y, self.bs = x, y, batch_size
        self.epoch_ends = 0

    def __len__(self):
        return int(np.ceil(len(self.x) / self.bs))

    def __getitem__(self, i):
        s = slice(i * self.bs, (i + 1) * self.bs)
        return self.x[s], self.y[s]

    def on_epoch_end(self):
        self.epoch_ends += 1


def test_fit_with_sequence_calls_on_epoch_end_every_epoch():
    model = make_model()
    model.compile("sgd", "mse")
    x, y = data(n=12)
    seq = Batches(x, y, 5)
    history = model.fit(seq, epochs=3, verbose=0, shuffle=False)
    assert len(history.history["loss"]) == 3
    assert seq.epoch_ends == 3


def test_plain_generator_needs_steps_per_epoch():
    model = make_model()
    model.compile("sgd", "mse")
    x, y = data()

    def gen():
        while True:
            yield x, y

    with pytest.raises(ValueError, match="steps_per_epoch=None"):
        model.fit(gen(), epochs=1, verbose=0)
    with pytest.raises(ValueError, match="not supported"):
        model.fit(gen(), y, steps_per_epoch=1, verbose=0)
    history = model.fit_generator(gen(), steps_per_epoch=3, epochs=2, verbose=0)
    assert len(history.history["loss"]) == 2


@pytest.mark.parametrize("workers", [0, 1, 4])
def test_generator_methods_keep_batch_order(workers):
    model = make_model(n_out=2)
    model.compile("sgd", "mse", metrics=["mae"])
    x, y = data(n=40, n_out=2)
    lock = threading.Lock()

    def gen():
        i = 0
        while True:
            with lock:
                s = slice((i % 8) * 5, (i % 8 + 1) * 5)
                i += 1
            yield x[s], y[s]

    pred = model.predict_generator(gen(), steps=8, workers=workers)
    np.testing.assert_allclose(pred, model.predict(x), rtol=1e-5)
    ev = model.evaluate_generator(gen(), steps=8, workers=workers)
    np.testing.assert_allclose(ev, model.evaluate(x, y, verbose=0, batch_size=5), rtol=1e-5)


def test_evaluate_generator_weights_uneven_batches_by_samples():
    model = make_model()
    model.compile("sgd", "mse")
    x, y = data(n=11)
    seq = Batches(x, y, 5)  # batches of 5, 5, 1
    np.testing.assert_allclose(model.evaluate_generator(seq),
                               model.evaluate(x, y, verbose=0, batch_size=11), rtol=1e-5)


def test_generator_yielding_bad_batches():
    model = make_model()
    model.compile("sgd", "mse")
    x, y = data()

    def bad():
        while True:
            yield x, y, None, None

    with pytest.raises(ValueError, match="tuple"):
        model.fit(bad(), steps_per_epoch=1, verbose=0)

    def wrong_shape():
        while True:
            yield x[:, :2], y

    with pytest.raises(ValueError, match="generator"):
        model.fit(wrong_shape(), steps_per_epoch=1, verbose=0)


# ------------------------------------------------------------------ digits
def test_mlp_learns_digits_to_96_percent():
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    np.random.seed(0)  # initial weights and shuffling
    digits = load_digits()
    x = (digits.data / 16.0).astype("float32")
    y = keras.utils.to_categorical(digits.target, 10)
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.25, random_state=0)
    a = Input(shape=(64,))
    h = Dense(64, activation="relu")(a)
    model = Model(a, Dense(10, activation="softmax")(h))
    model.compile("adam", "categorical_crossentropy", metrics=["accuracy"])
    model.fit(x_train, y_train, epochs=30, batch_size=32, verbose=0)
    _, accuracy = model.evaluate(x_test, y_test, verbose=0)
    assert accuracy >= 0.96


@pytest.mark.parametrize("separate_activation", [False, True])
def test_crossentropy_on_softmax_output_uses_logits_like_tf_keras(separate_activation):
    a = Input(shape=(1,))
    if separate_activation:
        out = keras.layers.Activation("softmax")(Dense(3, use_bias=False)(a))
    else:
        out = Dense(3, activation="softmax", use_bias=False)(a)
    model = Model(a, out)
    model.set_weights([np.array([[50.0, 0.0, 0.0]], "float32")])
    model.compile("sgd", "categorical_crossentropy")
    x = np.ones((1, 1), "float32")
    y = np.array([[0.0, 1.0, 0.0]], "float32")
    # From probabilities Keras would clip at -log(1e-7) = 16.1; from logits it is ~50.
    np.testing.assert_allclose(model.evaluate(x, y, verbose=0), 50.0, rtol=1e-5)
    model.train_on_batch(x, y)
    k = model.get_weights()[0]
    np.testing.assert_allclose(k, [[50.0 - 0.01, 0.01, 0.0]], atol=1e-5)  # grad = p - y


def test_evaluation_computes_no_loss_gradient(monkeypatch):
    """evaluate / test_on_batch need the loss values only; fit needs the gradient too."""
    from numkeras import losses
    from numkeras.engine.ops import loss_kernels

    a = Input(shape=(3,))
    model = Model(a, Dense(2, activation="softmax")(Dense(4)(a)))
    model.compile(optimizer="sgd", loss="categorical_crossentropy")
    rng = np.random.default_rng(0)
    x = rng.normal(size=(8, 3)).astype("float32")
    y = np.eye(2, dtype="float32")[rng.integers(0, 2, 8)]
    expected = model.evaluate(x, y, verbose=0)

    def no_gradient(self, *args, **kwargs):
        raise AssertionError("a loss gradient was computed")

    monkeypatch.setattr(losses.LossFunctionWrapper, "gradient", no_gradient)
    real_fused = loss_kernels.values_and_gradient

    def fused_values_only(loss, y_true, y_pred, scale=1.0, with_gradient=True):
        if with_gradient:
            raise AssertionError("a loss gradient was computed")
        return real_fused(loss, y_true, y_pred, scale, with_gradient)

    monkeypatch.setattr(loss_kernels, "values_and_gradient", fused_values_only)
    assert model.evaluate(x, y, verbose=0) == expected
    assert model.test_on_batch(x, y) == pytest.approx(expected, rel=1e-6)
    with pytest.raises(AssertionError, match="gradient was computed"):
        model.train_on_batch(x, y)
