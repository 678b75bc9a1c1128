"""Every method and argument of the Keras 2 ``Model`` documentation, with good and bad values.

Expected numbers are computed here with NumPy from the model's weights (forward pass, loss,
one SGD step), never by the engine itself. Which samples went into which training batch is
read off the running ``loss`` of a probe model whose sample ``i`` has the loss ``2**i``.
"""

import numpy as np
import pytest

import numkeras.engine as keras
from numkeras import backend
from numkeras.engine.models import Model
from numkeras.layers import Concatenate, Dense, Input

SGD = keras.optimizers.SGD


@pytest.fixture(autouse=True)
def _fresh_names():
    backend.clear_session()


# ------------------------------------------------------------------ helpers
def two_io(lr=0.0, **compile_kwargs):
    """Inputs ``a`` (3,) and ``b`` (2,); outputs ``r`` (1 unit) and ``c`` (2 units), linear."""
    a = Input(shape=(3,), name="a")
    b = Input(shape=(2,), name="b")
    h = Concatenate(name="cat")([a, b])
    model = Model([a, b], [Dense(1, name="r")(h), Dense(2, name="c")(h)])
    if compile_kwargs.get("loss") is not None:
        model.compile(SGD(learning_rate=lr), **compile_kwargs)
    return model


def io_data(n=10, seed=0):
    rng = np.random.default_rng(seed)
    f = "float32"
    return (rng.normal(size=(n, 3)).astype(f), rng.normal(size=(n, 2)).astype(f),
            rng.normal(size=(n, 1)).astype(f), rng.normal(size=(n, 2)).astype(f))


def np_two_io(model, xa, xb):
    wr, br, wc, bc = model.get_weights()
    h = np.concatenate([xa, xb], axis=1).astype(np.float64)
    return h, h @ wr + br, h @ wc + bc


def np_mse(p, y, sw=None):
    """Keras's weighted mse: per-sample mean over the last axis, weighted, / number of samples."""
    per_sample = ((p - y) ** 2).mean(axis=-1)
    w = np.ones(len(p)) if sw is None else np.asarray(sw, np.float64)
    return float((per_sample * w).sum() / len(p))


def np_mae(p, y, sw=None):
    per_sample = np.abs(p - y).mean(axis=-1)
    w = np.ones(len(p)) if sw is None else np.asarray(sw, np.float64)
    return float((per_sample * w).sum() / len(p))


def np_sgd_dense(h, p, y, kernel, bias, lr, sw=None, loss_weight=1.0):
    """One SGD step on a linear Dense for ``loss_weight * mse(p, y, sw)``."""
    n, m = y.shape
    w = np.ones(n) if sw is None else np.asarray(sw, np.float64)
    g = loss_weight * 2.0 * w[:, None] * (p - y) / (n * m)
    return kernel - lr * h.T @ g, bias - lr * g.sum(axis=0)


def linear(n_in=3, n_out=1, lr=0.0, loss="mse", **compile_kwargs):
    a = Input(shape=(n_in,), name="x")
    model = Model(a, Dense(n_out, name="y")(a))
    if loss is not None:
        model.compile(SGD(learning_rate=lr), loss, **compile_kwargs)
    return model


def probe(n):
    """A model predicting 0 whose mse on sample ``i`` is ``2**i`` (lr 0: it never changes)."""
    a = Input(shape=(1,), name="i")
    model = Model(a, Dense(1, use_bias=False, kernel_initializer="zeros", name="o")(a))
    model.compile(SGD(learning_rate=0.0), "mse")
    x = np.arange(n, dtype="float32")[:, None]
    y = np.sqrt(2.0 ** np.arange(n)).astype("float32")[:, None]
    return model, x, y


class BatchSpy(keras.callbacks.Callback):
    """Records the running ``loss`` after every training batch, per epoch."""

    def __init__(self):
        super().__init__()
        self.running = []

    def on_epoch_begin(self, epoch, logs=None):
        self.running.append([])

    def on_train_batch_end(self, batch, logs=None):
        self.running[-1].append(logs["loss"])


def decode(running, sizes):
    """Sample indices of each batch, from the running mean loss and the batch sizes."""
    batches, total, seen = [], 0.0, 0
    for mean, size in zip(running, sizes, strict=True):
        seen += size
        new_total = mean * seen
        code = int(round(new_total - total))
        total = new_total
        batches.append([i for i in range(code.bit_length()) if code >> i & 1])
    return batches


HOOKS = ("on_train_begin", "on_train_end", "on_epoch_begin", "on_epoch_end",
         "on_train_batch_begin", "on_train_batch_end", "on_test_begin", "on_test_end",
         "on_test_batch_begin", "on_test_batch_end", "on_predict_begin", "on_predict_end",
         "on_predict_batch_begin", "on_predict_batch_end")


class Hooks(keras.callbacks.Callback):
    """Records the name (and logs) of every hook called."""

    def __init__(self):
        super().__init__()
        self.calls = []
        self.logs = {}


def _recorder(hook):
    def record(self, *args):
        self.calls.append(hook)
        self.logs.setdefault(hook, []).append(dict(args[-1] or {}))
    return record


for _hook in HOOKS:
    setattr(Hooks, _hook, _recorder(_hook))


class ArraySeq(keras.utils.Sequence):
    """Batches of arrays; remembers the indices asked for."""

    def __init__(self, x, y=None, batch_size=4, sw=None):
        self.x, self.y, self.bs, self.sw = x, y, batch_size, sw
        self.asked = []

    def __len__(self):
        n = len(self.x[0]) if isinstance(self.x, list) else len(self.x)
        return -(-n // self.bs)

    def __getitem__(self, i):
        self.asked.append(i)
        s = slice(i * self.bs, (i + 1) * self.bs)
        x = [v[s] for v in self.x] if isinstance(self.x, list) else self.x[s]
        if self.y is None:
            return (x,)  # as tf-keras, a bare list would be read as (x, y)
        y = [v[s] for v in self.y] if isinstance(self.y, list) else self.y[s]
        return (x, y) if self.sw is None else (x, y, self.sw[s])


def cycle(batches):
    """An endless generator over a list of batches."""
    while True:
        yield from batches


def assert_weights(model, expected):
    for got, want in zip(model.get_weights(), expected, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


# ======================================================================= compile
def test_compile_optimizer_as_name_and_as_instance():
    model = linear()
    model.compile("sgd", "mse")
    assert type(model.optimizer).__name__ == "SGD"
    opt = SGD(learning_rate=0.25)
    model.compile(opt, "mse")
    assert model.optimizer is opt
    x, y = io_data(6)[0], io_data(6)[2]
    k, b = model.get_weights()
    model.train_on_batch(x, y)
    p = x @ k + b
    assert_weights(model, np_sgd_dense(x, p, y, k, b, lr=0.25))


@pytest.mark.parametrize("loss", [
    "mse", "mean_squared_error", keras.losses.mean_squared_error,
    keras.losses.MeanSquaredError(), ["mse"], {"y": "mse"},
])
def test_compile_loss_forms_single_output(loss):
    model = linear(loss=None)
    model.compile("sgd", loss)
    x, _, y, _ = io_data(7)
    k, b = model.get_weights()
    np.testing.assert_allclose(model.evaluate(x, y, verbose=0), np_mse(x @ k + b, y), rtol=1e-5)


@pytest.mark.parametrize("loss", [["mse", "mae"], {"c": "mae", "r": "mse"},
                                  [keras.losses.MeanSquaredError(), keras.losses.mae]])
def test_compile_loss_per_output_is_summed(loss):
    model = two_io(loss=loss)
    xa, xb, yr, yc = io_data()
    _, pr, pc = np_two_io(model, xa, xb)
    lr_, lc = np_mse(pr, yr), np_mae(pc, yc)
    np.testing.assert_allclose(model.evaluate([xa, xb], [yr, yc], verbose=0),
                               [lr_ + lc, lr_, lc], rtol=1e-5)


@pytest.mark.parametrize("loss_weights", [[0.5, 3.0], {"r": 0.5, "c": 3.0}, (0.5, 3)])
def test_compile_loss_weights_weight_the_sum_and_the_gradient(loss_weights):
    model = two_io(lr=0.1, loss="mse", loss_weights=loss_weights)
    xa, xb, yr, yc = io_data()
    h, pr, pc = np_two_io(model, xa, xb)
    wr, br, wc, bc = model.get_weights()
    result = model.train_on_batch([xa, xb], [yr, yc])
    np.testing.assert_allclose(
        result, [0.5 * np_mse(pr, yr) + 3 * np_mse(pc, yc), np_mse(pr, yr), np_mse(pc, yc)],
        rtol=1e-5)
    assert_weights(model, [*np_sgd_dense(h, pr, yr, wr, br, 0.1, loss_weight=0.5),
                           *np_sgd_dense(h, pc, yc, wc, bc, 0.1, loss_weight=3.0)])


@pytest.mark.parametrize("metrics, names", [
    (["mae"], ["r_mae", "c_mae"]),
    ({"c": ["mae", "mse"]}, ["c_mae", "c_mse"]),
    ({"c": "mse", "r": "mae"}, ["r_mae", "c_mse"]),  # output order, not dict order
    ([["mae"], ["mae", "mse"]], ["r_mae", "c_mae", "c_mse"]),
    (["mae", ["mse"]], ["r_mae", "c_mse"]),
])
def test_compile_metrics_forms_name_and_value(metrics, names):
    model = two_io(loss="mse", metrics=metrics)
    xa, xb, yr, yc = io_data()
    _, pr, pc = np_two_io(model, xa, xb)
    assert model.metrics_names == ["loss", "r_loss", "c_loss", *names]
    logs = model.evaluate([xa, xb], [yr, yc], verbose=0, return_dict=True)
    for name in names:
        out, fn = name.split("_")
        p, y = (pr, yr) if out == "r" else (pc, yc)
        np.testing.assert_allclose(logs[name], (np_mae if fn == "mae" else np_mse)(p, y),
                                   rtol=1e-5)


def test_compile_metric_instances_and_functions_are_kept_apart_per_output():
    # tf-keras copies a Metric instance given for several outputs: one state per output.
    shared = keras.metrics.MeanAbsoluteError(name="my")
    model = two_io(loss="mse", metrics=[shared, keras.metrics.mse])
    xa, xb, yr, yc = io_data()
    _, pr, pc = np_two_io(model, xa, xb)
    history = model.fit([xa, xb], [yr, yc], batch_size=3, shuffle=False, verbose=0)
    expected = {"r_my": np_mae(pr, yr), "r_mean_squared_error": np_mse(pr, yr),
                "c_my": np_mae(pc, yc), "c_mean_squared_error": np_mse(pc, yc)}
    assert list(history.history) == model.metrics_names == [
        "loss", "r_loss", "c_loss", *expected]
    for name, value in expected.items():
        np.testing.assert_allclose(history.history[name], [value], rtol=1e-5, err_msg=name)


def test_compile_weighted_metrics_use_sample_weights_metrics_do_not():
    model = linear(metrics=["mae"], weighted_metrics=["mae"])
    x, _, y, _ = io_data(8)
    sw = np.linspace(0.0, 2.0, 8)
    k, b = model.get_weights()
    p = x @ k + b
    loss, mae, weighted = model.evaluate(x, y, sample_weight=sw, verbose=0)
    assert model.metrics_names == ["loss", "mae", "weighted_mae"]
    np.testing.assert_allclose(loss, np_mse(p, y, sw), rtol=1e-5)
    np.testing.assert_allclose(mae, np_mae(p, y), rtol=1e-5)
    # A weighted metric is a weighted mean: divided by the sum of the weights.
    per_sample = np.abs(p - y).mean(axis=-1)
    np.testing.assert_allclose(weighted, (per_sample * sw).sum() / sw.sum(), rtol=1e-5)


@pytest.mark.parametrize("mode", [[None, "temporal"], {"t": "temporal"}, {"t": "temporal",
                                                                           "s": None}])
def test_compile_sample_weight_mode_per_output(mode):
    a = Input(shape=(4, 2), name="seq")
    t = Dense(1, name="t")(a)  # (4, 1) per sample: a temporal output
    s = Dense(1, name="s")(keras.layers.Flatten()(a))
    model = Model(a, [s, t])
    model.compile("sgd", "mse", sample_weight_mode=mode)
    rng = np.random.default_rng(1)
    x = rng.normal(size=(5, 4, 2)).astype("float32")
    ys, yt = rng.normal(size=(5, 1)), rng.normal(size=(5, 4, 1))
    sw_s = rng.random(5)
    sw_t = rng.random((5, 4))
    ps, pt = model.predict(x)
    ls = np_mse(ps, ys, sw_s)
    lt = float((((pt - yt) ** 2)[..., 0] * sw_t).sum() / sw_t.size)
    got = model.evaluate(x, {"s": ys, "t": yt}, sample_weight={"s": sw_s, "t": sw_t}, verbose=0)
    np.testing.assert_allclose(got, [ls + lt, ls, lt], rtol=1e-5)
    with pytest.raises(ValueError, match=r"'t'.*2D"):
        model.evaluate(x, [ys, yt], sample_weight=[sw_s, sw_s], verbose=0)
    with pytest.raises(ValueError, match=r"'s'.*temporal"):
        model.evaluate(x, [ys, yt], sample_weight=[sw_t, sw_t], verbose=0)


def test_compile_target_tensors_as_dict():
    model = two_io(loss=None)
    xa, xb, yr, yc = io_data()
    model.compile("sgd", "mse", target_tensors={"r": yr, "c": yc})
    _, pr, pc = np_two_io(model, xa, xb)
    np.testing.assert_allclose(model.evaluate([xa, xb], verbose=0)[0],
                               np_mse(pr, yr) + np_mse(pc, yc), rtol=1e-5)


@pytest.mark.parametrize("kwargs, match", [
    ({"optimizer": 5, "loss": "mse"}, "optimizer"),
    ({"optimizer": "sgd", "loss": 5}, "loss.*'r'"),
    ({"optimizer": "sgd", "loss": ["mse"] * 3}, "loss"),
    ({"optimizer": "sgd", "loss": "mse", "metrics": {"zz": "mae"}}, "metrics.*zz"),
    ({"optimizer": "sgd", "loss": "mse", "metrics": [["mae"]] * 3}, "metrics"),
    ({"optimizer": "sgd", "loss": "mse", "metrics": ["nope"]}, "metric.*nope"),
    ({"optimizer": "sgd", "loss": "mse", "weighted_metrics": ["nope"]}, "metric.*nope"),
    ({"optimizer": "sgd", "loss": "mse", "weighted_metrics": {"zz": "mae"}},
     "weighted_metrics.*zz"),
    ({"optimizer": "sgd", "loss": "mse", "loss_weights": {"zz": 1.0}}, "loss_weights.*zz"),
    ({"optimizer": "sgd", "loss": "mse", "loss_weights": [1.0, None, 2.0]}, "loss_weights"),
    ({"optimizer": "sgd", "loss": "mse", "loss_weights": {"r": "heavy"}},
     "loss_weights.*'r'"),
    ({"optimizer": "sgd", "loss": None, "loss_weights": [1.0, 1.0]}, "loss_weights"),
    ({"optimizer": "sgd", "loss": "mse", "sample_weight_mode": [None] * 3},
     "sample_weight_mode"),
    ({"optimizer": "sgd", "loss": "mse", "sample_weight_mode": {"zz": "temporal"}},
     "sample_weight_mode.*zz"),
    ({"optimizer": "sgd", "loss": "mse", "sample_weight_mode": {"c": "spatial"}},
     "sample_weight_mode.*'c'"),
    ({"optimizer": "sgd", "loss": "mse", "target_tensors": {"zz": np.zeros((2, 1))}},
     "target_tensors.*zz"),
])
def test_compile_bad_arguments_name_the_argument(kwargs, match):
    with pytest.raises(ValueError, match=match):
        two_io().compile(**kwargs)


def test_metrics_names_order_and_history_params():
    model = two_io(loss={"c": "mae", "r": "mse"}, metrics={"c": ["mse"], "r": "mae"},
                   weighted_metrics={"r": "mae"})
    assert model.metrics_names == ["loss", "r_loss", "c_loss", "r_mae", "r_weighted_mae",
                                   "c_mse"]
    xa, xb, yr, yc = io_data()
    history = model.fit([xa, xb], [yr, yc], batch_size=4, epochs=2, verbose=0,
                        validation_data=([xa, xb], [yr, yc]))
    assert list(history.history) == model.metrics_names + [
        f"val_{n}" for n in model.metrics_names]
    # tf-keras's keys (numkeras adds Keras 2.3's samples, batch_size, metrics...)
    assert {k: history.params[k] for k in ("verbose", "epochs", "steps")} == {
        "verbose": 0, "epochs": 2, "steps": 3}


# =========================================================================== fit
@pytest.mark.parametrize("form", ["list", "dict"])
def test_fit_multi_input_output_as_lists_and_dicts(form):
    model = two_io(lr=0.1, loss="mse")
    xa, xb, yr, yc = io_data()
    h, pr, pc = np_two_io(model, xa, xb)
    wr, br, wc, bc = model.get_weights()
    x = [xa, xb] if form == "list" else {"b": xb, "a": xa}
    y = [yr, yc] if form == "list" else {"c": yc, "r": yr}
    history = model.fit(x, y, batch_size=10, epochs=1, shuffle=False, verbose=0)
    np.testing.assert_allclose(history.history["r_loss"], [np_mse(pr, yr)], rtol=1e-5)
    np.testing.assert_allclose(history.history["c_loss"], [np_mse(pc, yc)], rtol=1e-5)
    assert_weights(model, [*np_sgd_dense(h, pr, yr, wr, br, 0.1),
                           *np_sgd_dense(h, pc, yc, wc, bc, 0.1)])


@pytest.mark.parametrize("x, y, match", [
    (lambda d: [d[0]], lambda d: [d[2], d[3]], r"2 input.*1"),
    (lambda d: [d[0], d[0]], lambda d: [d[2], d[3]], r"\bb\b.*\(2,\).*\(3,\)"),
    (lambda d: {"a": d[0]}, lambda d: [d[2], d[3]], r"input.*\['b'\]"),
    (lambda d: [d[0], d[1]], lambda d: [d[2], d[2]], r"\bc\b.*\(2,\).*\(1,\)"),
    (lambda d: [d[0], d[1]], lambda d: [d[2]], r"2 output.*1"),
    (lambda d: [d[0], d[1]], lambda d: {"r": d[2], "q": d[3]}, r"q"),
    (lambda d: [d[0], d[1][:9]], lambda d: [d[2], d[3]], "cardinality"),
    (lambda d: [d[0], d[1]], lambda d: {"r": d[2]}, r"target.*'c'"),
])
def test_fit_bad_data_names_input_output_and_shape(x, y, match):
    model = two_io(loss="mse")
    d = io_data()
    with pytest.raises(ValueError, match=match):
        model.fit(x(d), y(d), verbose=0)


def test_fit_batch_size_and_the_last_partial_batch():
    model, x, y = probe(10)
    spy = BatchSpy()
    history = model.fit(x, y, batch_size=4, epochs=1, shuffle=False, callbacks=[spy], verbose=0)
    assert decode(spy.running[0], [4, 4, 2]) == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    assert history.params["steps"] == 3
    # Epoch loss: the mean over samples, not over batches.
    np.testing.assert_allclose(history.history["loss"], [(2.0 ** np.arange(10)).mean()],
                               rtol=1e-6)
    spy = BatchSpy()
    model.fit(np.zeros((40, 1)), np.ones((40, 1)), epochs=1, callbacks=[spy], verbose=0)
    assert len(spy.running[0]) == 2  # batch_size=None is 32: batches of 32 and 8


def test_fit_shuffle_true_reorders_samples_every_epoch():
    model, x, y = probe(8)
    spy = BatchSpy()
    model.fit(x, y, batch_size=2, epochs=4, shuffle=True, callbacks=[spy], verbose=0)
    epochs = [decode(r, [2] * 4) for r in spy.running]
    sequential = [[0, 1], [2, 3], [4, 5], [6, 7]]
    for batches in epochs:
        assert sorted(i for b in batches for i in b) == list(range(8))  # each sample once
    assert any(batches != sequential for batches in epochs)


def test_fit_shuffle_false_keeps_order():
    model, x, y = probe(8)
    spy = BatchSpy()
    model.fit(x, y, batch_size=3, epochs=3, shuffle=False, callbacks=[spy], verbose=0)
    for running in spy.running:
        assert decode(running, [3, 3, 2]) == [[0, 1, 2], [3, 4, 5], [6, 7]]


def test_fit_shuffle_batch_moves_whole_batches_and_keeps_the_partial_one_last():
    model, x, y = probe(18)
    spy = BatchSpy()
    model.fit(x, y, batch_size=4, epochs=5, shuffle="batch", callbacks=[spy], verbose=0)
    chunks = [list(range(s, s + 4)) for s in range(0, 16, 4)]
    orders = []
    for running in spy.running:
        batches = decode(running, [4, 4, 4, 4, 2])
        assert sorted(batches[:4]) == chunks and batches[4] == [16, 17]
        orders.append(batches)
    assert any(b[:4] != chunks for b in orders)


@pytest.mark.parametrize("shuffle", ["sometimes", 2, None, [True]])
def test_fit_bad_shuffle(shuffle):
    model, x, y = probe(4)
    with pytest.raises(ValueError, match="shuffle"):
        model.fit(x, y, shuffle=shuffle, verbose=0)


def test_fit_steps_per_epoch_continues_the_data_across_epochs():
    # tf-keras 2: the batches of the next epoch start where the last epoch stopped.
    model, x, y = probe(10)
    spy = BatchSpy()
    history = model.fit(x, y, batch_size=4, epochs=3, steps_per_epoch=2, shuffle=False,
                        callbacks=[spy], verbose=0)
    got = [decode(r, s) for r, s in zip(spy.running, [[4, 4], [2, 4], [4, 2]], strict=True)]
    assert got == [[[0, 1, 2, 3], [4, 5, 6, 7]], [[8, 9], [0, 1, 2, 3]],
                   [[4, 5, 6, 7], [8, 9]]]
    np.testing.assert_allclose(history.history["loss"], [31.875, 130.5, 168.0], rtol=1e-6)
    assert history.params["steps"] == 2


@pytest.mark.parametrize("kwargs, match", [
    ({"epochs": 1.5}, "epochs"), ({"epochs": "2"}, "epochs"),
    ({"initial_epoch": -1}, "initial_epoch"), ({"initial_epoch": 0.5}, "initial_epoch"),
    ({"batch_size": 2.5}, "batch_size"), ({"batch_size": -4}, "batch_size"),
    ({"steps_per_epoch": 0}, "steps_per_epoch"), ({"steps_per_epoch": 1.0}, "steps_per_epoch"),
    ({"verbose": -1}, "verbose"), ({"verbose": "loud"}, "verbose"),
    ({"validation_split": 1.0}, "validation_split"),
    ({"validation_split": -0.2}, "validation_split"),
    ({"validation_split": "0.2"}, "validation_split"),
    ({"validation_data": (1, 2, 3, 4)}, "validation_data"),
    ({"validation_data": "val"}, "validation_data"),
    ({"validation_steps": 0, "validation_data": "ok"}, "validation_steps"),
    ({"validation_freq": "x", "validation_data": "ok"}, "validation_freq"),
    ({"validation_freq": 1.5, "validation_data": "ok"}, "validation_freq"),
    ({"callbacks": "history"}, "callbacks"),
    ({"class_weight": [1.0, 2.0]}, "class_weight"),
    ({"max_queue_size": 0}, "max_queue_size"), ({"workers": -1}, "workers"),
    ({"workers": 1.5}, "workers"), ({"use_multiprocessing": "yes"}, "use_multiprocessing"),
])
def test_fit_bad_arguments_name_the_argument(kwargs, match):
    model = linear()
    x, _, y, _ = io_data()
    if kwargs.get("validation_data") == "ok":
        kwargs["validation_data"] = (x, y)
    with pytest.raises(ValueError, match=match):
        model.fit(x, y, **{"verbose": 0, **kwargs})


def test_fit_epochs_and_initial_epoch():
    model = linear(lr=0.05)
    x, _, y, _ = io_data()
    counter = Hooks()
    history = model.fit(x, y, epochs=3, initial_epoch=1, callbacks=[counter], verbose=0)
    assert history.epoch == [1, 2] and counter.calls.count("on_epoch_begin") == 2
    history = model.fit(x, y, epochs=2, initial_epoch=2, verbose=0)  # nothing left to train
    assert history.epoch == [] and history.history == {}
    history = model.fit(x, y, epochs=0, verbose=0)
    assert history.epoch == []


@pytest.mark.parametrize("verbose", [0, 1, 2])
def test_fit_verbose_output(verbose, capsys):
    model, x, y = probe(10)
    model.fit(x, y, batch_size=4, epochs=2, verbose=verbose, validation_data=(x, y))
    out = capsys.readouterr().out
    if verbose == 0:
        assert out == ""
        return
    assert out.count("Epoch 1/2") == 1 and out.count("Epoch 2/2") == 1
    assert "val_loss: 102.3000" in out and "loss: 102.3000" in out
    if verbose == 1:
        assert "3/3 [==============================]" in out
    else:
        lines = [line for line in out.splitlines() if line.startswith("3/3 - ")]
        assert len(lines) == 2 and "[=" not in out  # one line per epoch, no bar


def test_fit_callbacks_see_train_and_validation_hooks_in_order():
    model, x, y = probe(6)
    hooks = Hooks()
    model.fit(x, y, batch_size=4, epochs=1, validation_data=(x, y), callbacks=hooks, verbose=0)
    assert hooks.calls == [
        "on_train_begin", "on_epoch_begin",
        "on_train_batch_begin", "on_train_batch_end", "on_train_batch_begin",
        "on_train_batch_end",
        "on_test_begin", "on_test_batch_begin", "on_test_batch_end", "on_test_batch_begin",
        "on_test_batch_end", "on_test_end",
        "on_epoch_end", "on_train_end"]
    assert hooks.model is model
    np.testing.assert_allclose(hooks.logs["on_epoch_end"][0]["val_loss"], 10.5, rtol=1e-6)


def test_fit_validation_data_three_tuple_weights_the_validation_loss():
    model = two_io(loss="mse", metrics=["mae"], weighted_metrics=["mae"])
    xa, xb, yr, yc = io_data()
    va, vb, vr, vc = io_data(6, seed=1)
    swr, swc = np.linspace(0, 1, 6), np.arange(6.0)
    _, pr, pc = np_two_io(model, va, vb)  # lr 0: the weights stay
    history = model.fit([xa, xb], [yr, yc], verbose=0,
                        validation_data=({"a": va, "b": vb}, [vr, vc], {"r": swr, "c": swc}))
    logs = {k: v[0] for k, v in history.history.items()}
    np.testing.assert_allclose(logs["val_r_loss"], np_mse(pr, vr, swr), rtol=1e-5)
    np.testing.assert_allclose(logs["val_c_loss"], np_mse(pc, vc, swc), rtol=1e-5)
    np.testing.assert_allclose(logs["val_loss"], np_mse(pr, vr, swr) + np_mse(pc, vc, swc),
                               rtol=1e-5)
    np.testing.assert_allclose(logs["val_c_mae"], np_mae(pc, vc), rtol=1e-5)
    with pytest.raises(ValueError, match=r"validation_data.*cardinality"):
        model.fit([xa, xb], [yr, yc], verbose=0,
                  validation_data=([va, vb], [vr, vc], np.ones(5)))
    with pytest.raises(ValueError, match=r"validation_data.*\bb\b.*\(2,\)"):
        model.fit([xa, xb], [yr, yc], verbose=0, validation_data=([va, va], [vr, vc]))


def test_fit_validation_data_overrides_validation_split():
    model, x, y = probe(10)
    history = model.fit(x, y, validation_split=0.5, validation_data=(x[:2], y[:2]), verbose=0)
    np.testing.assert_allclose(history.history["loss"], [(2.0 ** np.arange(10)).mean()])
    np.testing.assert_allclose(history.history["val_loss"], [1.5])


def test_fit_validation_split_holds_out_the_last_samples_and_their_weights():
    model, x, y = probe(10)
    history = model.fit(x, y, validation_split=0.2, verbose=0)
    np.testing.assert_allclose(history.history["loss"], [(2.0 ** np.arange(8)).mean()])
    np.testing.assert_allclose(history.history["val_loss"], [(2.0 ** 8 + 2.0 ** 9) / 2])
    sw = np.linspace(0.1, 1.0, 10)
    history = model.fit(x, y, validation_split=0.2, sample_weight=sw, verbose=0)
    np.testing.assert_allclose(history.history["val_loss"],
                               [(2.0 ** 8 * sw[8] + 2.0 ** 9 * sw[9]) / 2], rtol=1e-6)


def test_fit_class_weight_does_not_weigh_the_validation_split():
    # tf-keras: class weights apply to the training samples only; val_loss here is ln 2.
    a = Input(shape=(1,))
    model = Model(a, Dense(1, activation="sigmoid", kernel_initializer="zeros",
                           use_bias=False)(a))
    model.compile(SGD(learning_rate=0.0), "binary_crossentropy")
    x = np.arange(10, dtype="float32")[:, None]
    y = (np.arange(10) % 2).astype("float32")[:, None]
    history = model.fit(x, y, validation_split=0.2, class_weight={0: 1.0, 1: 3.0}, verbose=0)
    np.testing.assert_allclose(history.history["loss"], [2 * np.log(2)], rtol=1e-6)
    np.testing.assert_allclose(history.history["val_loss"], [np.log(2)], rtol=1e-6)


@pytest.mark.parametrize("validation_steps, expected", [
    (1, (1 + 2 + 4 + 8) / 4), (2, 255 / 8), (7, 1023 / 10), (None, 1023 / 10)])
def test_fit_validation_steps_with_arrays(validation_steps, expected):
    # As tf-keras: the first `validation_steps` batches; more steps than batches do not wrap.
    model, x, y = probe(10)
    history = model.fit(x, y, batch_size=4, validation_data=(x, y),
                        validation_steps=validation_steps, verbose=0)
    np.testing.assert_allclose(history.history["val_loss"], [expected], rtol=1e-6)


def test_fit_validation_steps_with_generator_and_sequence():
    model, x, y = probe(10)
    batches = [(x[i:i + 2], y[i:i + 2]) for i in range(0, 10, 2)]
    history = model.fit(x, y, epochs=2, validation_data=cycle(batches), validation_steps=2,
                        verbose=0)
    # The generator goes on: epoch 1 sees batches 0 and 1, epoch 2 batches 2 and 3.
    np.testing.assert_allclose(history.history["val_loss"], [15 / 4, 240 / 4], rtol=1e-6)
    seq = ArraySeq(x, y, batch_size=4)
    history = model.fit(x, y, validation_data=seq, verbose=0)  # steps: len(seq)
    np.testing.assert_allclose(history.history["val_loss"], [102.3], rtol=1e-6)
    assert seq.asked == [0, 1, 2]
    history = model.fit(x, y, validation_data=ArraySeq(x, y, batch_size=4), validation_steps=1,
                        verbose=0)
    np.testing.assert_allclose(history.history["val_loss"], [3.75], rtol=1e-6)
    with pytest.raises(ValueError, match="validation_steps"):
        model.fit(x, y, validation_data=cycle(batches), verbose=0)


def test_fit_class_weight_with_one_hot_and_sparse_targets():
    a = Input(shape=(2,), name="x")
    model = Model(a, Dense(3, activation="softmax", name="p")(a))
    rng = np.random.default_rng(0)
    x = rng.normal(size=(6, 2)).astype("float32")
    classes = np.array([0, 1, 2, 1, 0, 2])
    cw = {0: 1.0, 1: 2.0, 2: 0.5}
    probs = model.predict(x).astype(np.float64)
    nll = -np.log(probs[np.arange(6), classes])
    w = np.array([cw[c] for c in classes])
    expected = (w * nll).mean()  # tf-keras: weighted sum over the number of samples
    for loss, y in (("categorical_crossentropy", np.eye(3)[classes]),
                    ("sparse_categorical_crossentropy", classes),
                    ("sparse_categorical_crossentropy", classes[:, None])):
        model.compile(SGD(learning_rate=0.0), loss)
        history = model.fit(x, y, class_weight=cw, batch_size=6, verbose=0)
        np.testing.assert_allclose(history.history["loss"], [expected], rtol=1e-5)
        sw = np.arange(6.0)
        np.testing.assert_allclose(model.train_on_batch(x, y, class_weight=cw, sample_weight=sw),
                                   (sw * w * nll).mean(), rtol=1e-5)
        # class_weight is for training only: evaluation and validation are unweighted.
        history = model.fit(x, y, class_weight=cw, validation_data=(x, y), verbose=0)
        np.testing.assert_allclose(history.history["val_loss"], [nll.mean()], rtol=1e-5)


@pytest.mark.parametrize("class_weight, match", [
    ({0: 1.0, 2: 1.0}, "class_weight"),
    ({0: 1.0, 1: 1.0}, r"class_weight.*class 2"),
    ([1.0, 1.0, 1.0], "class_weight"),
    ({"zero": 1.0}, "class_weight"),
])
def test_fit_bad_class_weight(class_weight, match):
    a = Input(shape=(2,))
    model = Model(a, Dense(3, activation="softmax")(a))
    model.compile("sgd", "sparse_categorical_crossentropy")
    with pytest.raises(ValueError, match=match):
        model.fit(np.zeros((3, 2)), np.array([0, 1, 2]), class_weight=class_weight, verbose=0)
    multi = two_io(loss="mse")
    xa, xb, yr, yc = io_data()
    with pytest.raises(ValueError, match="class_weight"):
        multi.fit([xa, xb], [yr, yc], class_weight={0: 1.0}, verbose=0)


@pytest.mark.parametrize("form", ["array", "column", "list", "dict"])
def test_fit_sample_weight_forms(form):
    model = two_io(lr=0.1, loss="mse")
    xa, xb, yr, yc = io_data(8)
    h, pr, pc = np_two_io(model, xa, xb)
    wr, br, wc, bc = model.get_weights()
    sw = np.linspace(0.0, 2.0, 8)
    if form in ("array", "column"):
        sample_weight, swr, swc = (sw if form == "array" else sw[:, None]), sw, sw
    elif form == "list":
        sample_weight, swr, swc = [sw, None], sw, None
    else:
        sample_weight, swr, swc = {"c": sw}, None, sw
    history = model.fit([xa, xb], [yr, yc], sample_weight=sample_weight, batch_size=8,
                        shuffle=False, verbose=0)
    np.testing.assert_allclose(history.history["loss"],
                               [np_mse(pr, yr, swr) + np_mse(pc, yc, swc)], rtol=1e-5)
    assert_weights(model, [*np_sgd_dense(h, pr, yr, wr, br, 0.1, swr),
                           *np_sgd_dense(h, pc, yc, wc, bc, 0.1, swc)])


@pytest.mark.parametrize("sample_weight, match", [
    (np.ones(7), r"cardinality.*sample_weight"),
    (np.ones((8, 3)), r"sample_weight.*temporal"),
    ([np.ones(8)] * 3, "2 output"),
    ({"zz": np.ones(8)}, "zz"),
    (np.array(["a"] * 8), "sample_weight.*'r'"),
])
def test_fit_bad_sample_weight(sample_weight, match):
    model = two_io(loss="mse")
    xa, xb, yr, yc = io_data(8)
    with pytest.raises(ValueError, match=match):
        model.fit([xa, xb], [yr, yc], sample_weight=sample_weight, verbose=0)


def test_fit_returns_history_and_sets_model_history():
    model = linear(metrics=["mae"])
    x, _, y, _ = io_data()
    history = model.fit(x, y, epochs=2, verbose=0)
    assert isinstance(history, keras.callbacks.History) and model.history is history
    assert list(history.history) == ["loss", "mae"] and history.epoch == [0, 1]
    assert model.fit(x, y, nb_epoch=3, verbose=0).epoch == [0, 1, 2]  # Keras 1 spelling
    with pytest.raises(ValueError, match="`x`"):
        model.fit(None, y, verbose=0)


def test_fit_with_generator_and_sequence_and_queue_arguments():
    model, x, y = probe(12)
    batches = [(x[i:i + 4], y[i:i + 4]) for i in range(0, 12, 4)]
    expected = [(2.0 ** np.arange(12)).mean()] * 2
    for kwargs in ({"workers": 0}, {"workers": 3, "max_queue_size": 1},
                   {"workers": 1, "use_multiprocessing": False, "max_queue_size": 100}):
        history = model.fit(cycle(batches), steps_per_epoch=3, epochs=2, verbose=0, **kwargs)
        np.testing.assert_allclose(history.history["loss"], expected, rtol=1e-6)
        history = model.fit(ArraySeq(x, y, 4), epochs=2, shuffle=False, verbose=0, **kwargs)
        np.testing.assert_allclose(history.history["loss"], expected, rtol=1e-6)
    with pytest.raises(ValueError, match="use_multiprocessing"):
        model.fit(cycle(batches), steps_per_epoch=1, workers=1, use_multiprocessing=True,
                  verbose=0)  # a generator object cannot be sent to a process
    with pytest.raises(ValueError, match="validation_split"):
        model.fit(cycle(batches), steps_per_epoch=1, validation_split=0.5, verbose=0)
    with pytest.raises(ValueError, match="sample_weight"):
        model.fit(cycle(batches), steps_per_epoch=1, sample_weight=np.ones(4), verbose=0)
    # As tf-keras, batch_size is ignored for a generator: its batches are the batches.
    spy = BatchSpy()
    model.fit(cycle(batches), steps_per_epoch=3, batch_size=2, callbacks=[spy], verbose=0)
    assert decode(spy.running[0], [4, 4, 4]) == [list(range(s, s + 4)) for s in (0, 4, 8)]


# ====================================================================== evaluate
def test_evaluate_lists_dicts_and_scalar_or_list_result():
    model = two_io(loss="mse")
    xa, xb, yr, yc = io_data()
    _, pr, pc = np_two_io(model, xa, xb)
    expected = [np_mse(pr, yr) + np_mse(pc, yc), np_mse(pr, yr), np_mse(pc, yc)]
    for x, y in (([xa, xb], [yr, yc]), ({"a": xa, "b": xb}, {"r": yr, "c": yc}),
                 ((xa, xb), (yr, yc))):
        result = model.evaluate(x, y, verbose=0)
        assert isinstance(result, list)  # several outputs: a list even without metrics
        np.testing.assert_allclose(result, expected, rtol=1e-5)
    assert model.evaluate([xa, xb], [yr, yc], verbose=0, return_dict=True).keys() == {
        "loss", "r_loss", "c_loss"}
    single = linear()
    x, _, y, _ = io_data()
    assert isinstance(single.evaluate(x, y, verbose=0), float)


@pytest.mark.parametrize("batch_size", [None, 1, 3, 4, 10, 64])
def test_evaluate_batch_size_weights_batches_by_samples(batch_size):
    model, x, y = probe(10)
    hooks = Hooks()
    result = model.evaluate(x, y, batch_size=batch_size, callbacks=[hooks], verbose=0)
    np.testing.assert_allclose(result, 102.3, rtol=1e-6)
    assert hooks.calls.count("on_test_batch_end") == -(-10 // (batch_size or 32))


@pytest.mark.parametrize("steps, expected", [(1, 3.75), (2, 255 / 8), (3, 102.3), (5, 102.3)])
def test_evaluate_steps_with_arrays(steps, expected):
    model, x, y = probe(10)
    np.testing.assert_allclose(model.evaluate(x, y, batch_size=4, steps=steps, verbose=0),
                               expected, rtol=1e-6)


def test_evaluate_sample_weight_per_output():
    model = two_io(loss="mse")
    xa, xb, yr, yc = io_data()
    _, pr, pc = np_two_io(model, xa, xb)
    sw = np.arange(10.0)
    for sample_weight, swr, swc in ((sw, sw, sw), ([None, sw], None, sw), ({"r": sw}, sw, None)):
        result = model.evaluate([xa, xb], [yr, yc], sample_weight=sample_weight, batch_size=3,
                                verbose=0)
        np.testing.assert_allclose(result[1:], [np_mse(pr, yr, swr), np_mse(pc, yc, swc)],
                                   rtol=1e-5)


@pytest.mark.parametrize("verbose", [0, 1, 2])
def test_evaluate_verbose_output(verbose, capsys):
    model, x, y = probe(10)
    model.evaluate(x, y, batch_size=4, verbose=verbose)
    out = capsys.readouterr().out
    if verbose == 0:
        assert out == ""
    elif verbose == 1:
        assert "3/3 [==============================]" in out and "loss: 102.3000" in out
    else:
        assert out.startswith("3/3 - ") and "loss: 102.3000" in out and "[=" not in out


def test_evaluate_callbacks_get_test_hooks_only():
    model, x, y = probe(6)
    hooks = Hooks()
    result = model.evaluate(x, y, batch_size=4, callbacks=[hooks], verbose=0)
    assert hooks.calls == ["on_test_begin", "on_test_batch_begin", "on_test_batch_end",
                           "on_test_batch_begin", "on_test_batch_end", "on_test_end"]
    np.testing.assert_allclose(hooks.logs["on_test_batch_end"][0]["loss"], 3.75)
    np.testing.assert_allclose(hooks.logs["on_test_end"][0]["loss"], result)
    np.testing.assert_allclose(result, 10.5)


@pytest.mark.parametrize("kwargs, match", [
    ({"y": None}, r"`y`"), ({"x": None}, r"`x`"),
    ({"y": np.zeros((10, 2))}, r"\by\b.*\(1,\).*\(2,\)"),
    ({"x": np.zeros((10, 2))}, r"\bx\b.*\(3,\).*\(2,\)"),
    ({"sample_weight": np.ones(9)}, "sample_weight"),
    ({"batch_size": 0}, "batch_size"), ({"steps": 0}, "steps"), ({"steps": 2.0}, "steps"),
    ({"verbose": 3}, "verbose"), ({"callbacks": [print]}, "callbacks"),
    ({"max_queue_size": 0}, "max_queue_size"), ({"workers": -1}, "workers"),
    ({"use_multiprocessing": "no"}, "use_multiprocessing"),
])
def test_evaluate_bad_arguments(kwargs, match):
    model = linear()
    x, _, y, _ = io_data()
    args = {"x": x, "y": y, "verbose": 0, **kwargs}
    with pytest.raises(ValueError, match=match):
        model.evaluate(**args)


def test_evaluate_with_generator_yielding_sample_weights():
    model, x, y = probe(10)
    sw = np.linspace(0.0, 1.0, 10)
    batches = [(x[i:i + 4], y[i:i + 4], sw[i:i + 4]) for i in range(0, 10, 4)]
    expected = (2.0 ** np.arange(10) * sw).sum() / 10
    np.testing.assert_allclose(model.evaluate(cycle(batches), steps=3, verbose=0), expected,
                               rtol=1e-6)
    np.testing.assert_allclose(model.evaluate(ArraySeq(x, y, 4, sw=sw), verbose=0), expected,
                               rtol=1e-6)
    with pytest.raises(ValueError, match="`steps=None`"):
        model.evaluate(cycle(batches), verbose=0)
    with pytest.raises(ValueError, match="not supported"):
        model.evaluate(cycle(batches), y, steps=1, verbose=0)


# ======================================================================= predict
def test_predict_lists_dicts_order_and_uncompiled_model():
    model = two_io()  # never compiled
    xa, xb, _, _ = io_data(11)
    _, pr, pc = np_two_io(model, xa, xb)
    for x in ([xa, xb], (xa, xb), {"b": xb, "a": xa}):
        for batch_size in (None, 1, 4, 11, 100):
            r, c = model.predict(x, batch_size=batch_size)
            np.testing.assert_allclose(r, pr, rtol=1e-5, atol=1e-6)
            np.testing.assert_allclose(c, pc, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("steps, rows", [(1, 4), (2, 8), (3, 10), (5, 10)])
def test_predict_steps_with_arrays(steps, rows):
    model, x, _ = probe(10)
    model.set_weights([np.ones((1, 1), "float32")])
    np.testing.assert_array_equal(model.predict(x, batch_size=4, steps=steps), x[:rows])


@pytest.mark.parametrize("verbose", [0, 1, 2])
def test_predict_verbose_output(verbose, capsys):
    model, x, _ = probe(10)
    model.predict(x, batch_size=4, verbose=verbose)
    out = capsys.readouterr().out
    if verbose == 0:
        assert out == ""
    elif verbose == 1:
        assert "3/3 [==============================]" in out
    else:
        assert out.startswith("3/3 - ") and "[=" not in out


def test_predict_callbacks_get_predict_hooks_with_outputs():
    model, x, _ = probe(6)
    model.set_weights([np.full((1, 1), 2.0, "float32")])
    hooks = Hooks()
    model.predict(x, batch_size=4, callbacks=[hooks])
    assert hooks.calls == ["on_predict_begin", "on_predict_batch_begin", "on_predict_batch_end",
                           "on_predict_batch_begin", "on_predict_batch_end", "on_predict_end"]
    outputs = [logs["outputs"] for logs in hooks.logs["on_predict_batch_end"]]
    np.testing.assert_array_equal(np.concatenate(outputs), 2 * x)


@pytest.mark.parametrize("x, match", [
    (None, "x"),
    (lambda d: [d[0]], r"2 input"),
    (lambda d: [d[1], d[1]], r"\ba\b.*\(3,\).*\(2,\)"),
    (lambda d: {"a": d[0]}, r"\['b'\]"),
    (lambda d: {"a": d[0], "b": d[1], "q": d[1]}, "q"),
    (lambda d: [d[0], d[1][:5]], "cardinality"),
    (lambda d: [d[0][:, :, None], d[1]], r"\ba\b.*\(3,\)"),
])
def test_predict_bad_input(x, match):
    model = two_io()
    d = io_data()
    with pytest.raises(ValueError, match=match):
        model.predict(x(d) if callable(x) else x)


def test_predict_stateful_model_needs_whole_batches():
    a = Input(batch_shape=(4, 3, 2))
    model = Model(a, keras.layers.SimpleRNN(2, stateful=True, name="rnn")(a))
    x = np.ones((10, 3, 2), "float32")
    assert model.predict(x[:8], batch_size=4).shape == (8, 2)
    with pytest.raises(ValueError, match=r"'rnn'.*batch size 4.*2"):
        model.predict(x, batch_size=4)


@pytest.mark.parametrize("kwargs, match", [
    ({"batch_size": 0}, "batch_size"), ({"steps": -1}, "steps"), ({"verbose": 5}, "verbose"),
    ({"callbacks": 1}, "callbacks"), ({"max_queue_size": -1}, "max_queue_size"),
    ({"workers": "2"}, "workers"), ({"use_multiprocessing": 2}, "use_multiprocessing"),
])
def test_predict_bad_arguments(kwargs, match):
    model, x, _ = probe(4)
    with pytest.raises(ValueError, match=match):
        model.predict(x, **kwargs)


# ================================================================ train_on_batch
@pytest.mark.parametrize("form", ["list", "dict"])
def test_train_on_batch_lists_dicts_and_sample_weight(form):
    model = two_io(lr=0.2, loss="mse", metrics={"c": "mae"})
    xa, xb, yr, yc = io_data(6)
    h, pr, pc = np_two_io(model, xa, xb)
    wr, br, wc, bc = model.get_weights()
    sw = np.array([0.0, 1.0, 2.0, 0.5, 1.5, 1.0])
    if form == "list":
        result = model.train_on_batch([xa, xb], [yr, yc], sample_weight=[sw, None])
    else:
        result = model.train_on_batch({"a": xa, "b": xb}, {"r": yr, "c": yc},
                                      sample_weight={"r": sw})
    # Loss and metrics of the forward pass before the update.
    np.testing.assert_allclose(
        result, [np_mse(pr, yr, sw) + np_mse(pc, yc), np_mse(pr, yr, sw), np_mse(pc, yc),
                 np_mae(pc, yc)], rtol=1e-5)
    assert_weights(model, [*np_sgd_dense(h, pr, yr, wr, br, 0.2, sw),
                           *np_sgd_dense(h, pc, yc, wc, bc, 0.2)])


def test_train_on_batch_reset_metrics_true_and_false():
    model, x, y = probe(10)
    assert model.train_on_batch(x[:4], y[:4]) == pytest.approx(3.75)
    # reset_metrics=False: the mean over both batches' samples (tf-keras: 102.3).
    assert model.train_on_batch(x[4:], y[4:], reset_metrics=False) == pytest.approx(102.3)
    assert model.train_on_batch(x[4:], y[4:]) == pytest.approx(1008 / 6)
    assert model.train_on_batch(x[4:], y[4:], reset_metrics=True) == pytest.approx(1008 / 6)


def test_train_on_batch_class_weight_scales_the_update():
    a = Input(shape=(2,), name="x")
    model = Model(a, Dense(1, activation="sigmoid", name="p")(a))
    model.compile(SGD(learning_rate=0.5), "binary_crossentropy")
    rng = np.random.default_rng(3)
    x = rng.normal(size=(4, 2)).astype("float32")
    y = np.array([[0.0], [1.0], [1.0], [0.0]], "float32")
    k, b = model.get_weights()
    p = 1 / (1 + np.exp(-(x @ k + b)))
    w = np.where(y[:, 0] == 1, 3.0, 0.5)
    nll = -(y * np.log(p) + (1 - y) * np.log(1 - p))[:, 0]
    loss = model.train_on_batch(x, y, class_weight={0: 0.5, 1: 3.0})
    np.testing.assert_allclose(loss, (w * nll).mean(), rtol=1e-5)
    g = w[:, None] * (p - y) / 4  # d(weighted mean bce)/d(logit)
    assert_weights(model, [k - 0.5 * x.T @ g, b - 0.5 * g.sum(axis=0)])


@pytest.mark.parametrize("method", ["train_on_batch", "test_on_batch"])
@pytest.mark.parametrize("kwargs, error, match", [
    ({"y": np.zeros((6, 3))}, ValueError, r"\by\b.*\(1,\).*\(3,\)"),
    ({"x": np.zeros((6, 4))}, ValueError, r"\bx\b.*\(3,\).*\(4,\)"),
    ({"x": np.zeros((0, 3)), "y": np.zeros((0, 1))}, ValueError, "empty"),
    ({"sample_weight": np.ones(5)}, ValueError, "sample_weight"),
    ({"sample_weight": np.ones((6, 2))}, ValueError, "temporal"),
    ({"y": None}, ValueError, "`y`"),
    ({"x": None}, ValueError, "`x`"),
])
def test_on_batch_bad_data(method, kwargs, error, match):
    model = linear()
    x, _, y, _ = io_data(6)
    args = {"x": x, "y": y, **kwargs}
    with pytest.raises(error, match=match):
        getattr(model, method)(**args)


def test_on_batch_methods_need_compile_and_a_loss():
    model = linear(loss=None)
    x, _, y, _ = io_data(4)
    for method in ("train_on_batch", "test_on_batch"):
        with pytest.raises(RuntimeError, match=f"compile.*{method}"):
            getattr(model, method)(x, y)
    model.compile("sgd")  # no loss: predict only
    for method in ("train_on_batch", "test_on_batch", "fit", "evaluate"):
        with pytest.raises(RuntimeError, match="loss"):
            getattr(model, method)(x, y)
    assert model.predict(x).shape == (4, 1)
    with pytest.raises(ValueError, match="class_weight"):
        linear().train_on_batch(x, y, class_weight={1: 1.0})


# ================================================================= test_on_batch
def test_test_on_batch_lists_dicts_and_sample_weight_do_not_train():
    model = two_io(lr=1.0, loss="mse", metrics=["mae"])
    xa, xb, yr, yc = io_data(5)
    _, pr, pc = np_two_io(model, xa, xb)
    before = model.get_weights()
    sw = np.arange(5.0)
    expected = [np_mse(pr, yr, sw) + np_mse(pc, yc, sw), np_mse(pr, yr, sw), np_mse(pc, yc, sw),
                np_mae(pr, yr), np_mae(pc, yc)]
    for x, y in (([xa, xb], [yr, yc]), ({"a": xa, "b": xb}, {"r": yr, "c": yc})):
        np.testing.assert_allclose(model.test_on_batch(x, y, sample_weight=sw), expected,
                                   rtol=1e-5)
    assert_weights(model, before)
    logs = model.test_on_batch([xa, xb], [yr, yc], return_dict=True)
    assert list(logs) == model.metrics_names


# ============================================================== predict_on_batch
def test_predict_on_batch_lists_dicts_and_errors():
    model = two_io()
    xa, xb, _, _ = io_data(3)
    _, pr, pc = np_two_io(model, xa, xb)
    for x in ([xa, xb], {"a": xa, "b": xb}):
        r, c = model.predict_on_batch(x)
        np.testing.assert_allclose(r, pr, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(c, pc, rtol=1e-5, atol=1e-6)
    single = linear(loss=None)
    k, b = single.get_weights()
    np.testing.assert_allclose(single.predict_on_batch(xa), xa @ k + b, rtol=1e-5)
    for bad, match in ((None, "`x`"), ([xa], "2 input"), ([xa, xa], r"\bb\b.*\(2,\)"),
                       ({"a": xa}, r"\['b'\]")):
        with pytest.raises(ValueError, match=match):
            model.predict_on_batch(bad)


# ================================================================= fit_generator
def test_fit_generator_with_generator_yielding_sample_weights():
    model = linear(lr=0.1)
    x, _, y, _ = io_data(8)
    sw = np.linspace(0.5, 1.5, 8)
    k, b = model.get_weights()
    p = x @ k + b
    history = model.fit_generator(cycle([(x[:4], y[:4], sw[:4]), (x[4:], y[4:], sw[4:])]),
                                  steps_per_epoch=1, epochs=1, verbose=0)
    np.testing.assert_allclose(history.history["loss"], [np_mse(p[:4], y[:4], sw[:4])],
                               rtol=1e-5)
    assert_weights(model, np_sgd_dense(x[:4], p[:4], y[:4], k, b, 0.1, sw[:4]))


def test_fit_generator_with_sequence_steps_none_shuffle_and_epochs():
    model, x, y = probe(10)
    seq = ArraySeq(x, y, batch_size=2)
    hooks = Hooks()
    history = model.fit_generator(seq, epochs=3, initial_epoch=1, shuffle=False, workers=0,
                                  callbacks=[hooks], verbose=0)
    assert seq.asked == [0, 1, 2, 3, 4] * 2 and history.epoch == [1, 2]
    assert hooks.calls.count("on_train_batch_end") == 10
    assert hooks.calls.count("on_epoch_end") == 2
    np.testing.assert_allclose(history.history["loss"], [102.3] * 2, rtol=1e-6)
    assert history.params["steps"] == 5
    seq = ArraySeq(x, y, batch_size=2)
    model.fit_generator(seq, epochs=4, shuffle=True, workers=0, verbose=0)
    orders = [seq.asked[i:i + 5] for i in range(0, 20, 5)]
    assert all(sorted(o) == [0, 1, 2, 3, 4] for o in orders)
    assert any(o != [0, 1, 2, 3, 4] for o in orders)
    seq = ArraySeq(x, y, batch_size=2)
    model.fit_generator(seq, steps_per_epoch=2, epochs=2, shuffle=False, workers=0, verbose=0)
    assert seq.asked[:2] == [0, 1] and len(seq.asked) == 4


def test_fit_generator_multi_io_dict_batches_and_validation(capsys):
    model = two_io(loss="mse")
    xa, xb, yr, yc = io_data(8)
    _, pr, pc = np_two_io(model, xa, xb)
    batch = ({"a": xa, "b": xb}, {"r": yr, "c": yc})
    history = model.fit_generator(cycle([batch]), steps_per_epoch=2, epochs=2, verbose=2,
                                  validation_data=cycle([batch]), validation_steps=1,
                                  validation_freq=[2], max_queue_size=2, workers=2)
    out = capsys.readouterr().out
    assert "Epoch 2/2" in out and "2/2 - " in out
    expected = np_mse(pr, yr) + np_mse(pc, yc)
    np.testing.assert_allclose(history.history["loss"], [expected] * 2, rtol=1e-5)
    np.testing.assert_allclose(history.history["val_loss"], [expected], rtol=1e-5)
    history = model.fit_generator(cycle([batch]), steps_per_epoch=1, verbose=0,
                                  validation_data=([xa, xb], [yr, yc], [np.ones(8), None]))
    np.testing.assert_allclose(history.history["val_loss"], [expected], rtol=1e-5)


def test_fit_generator_class_weight():
    a = Input(shape=(2,))
    model = Model(a, Dense(2, activation="softmax")(a))
    model.compile(SGD(learning_rate=0.0), "categorical_crossentropy")
    x = np.array([[1.0, 2.0], [0.5, -1.0], [-1.0, 0.0]], "float32")
    y = np.eye(2)[[0, 1, 1]]
    p = model.predict(x).astype(np.float64)
    nll = -np.log((p * y).sum(axis=1))
    history = model.fit_generator(cycle([(x, y)]), steps_per_epoch=1,
                                  class_weight={0: 4.0, 1: 1.0}, verbose=0)
    np.testing.assert_allclose(history.history["loss"], [(nll * [4, 1, 1]).mean()], rtol=1e-5)


@pytest.mark.parametrize("generator, kwargs, error, match", [
    (lambda x, y: x, {}, ValueError, "generator"),
    (lambda x, y: [(x, y)], {}, ValueError, "generator"),
    (lambda x, y: cycle([(x, y)]), {}, ValueError, "steps_per_epoch"),
    (lambda x, y: cycle([(x[:, :2], y)]), {"steps_per_epoch": 1}, ValueError,
     r"generator.*\bx\b.*\(3,\)"),
    (lambda x, y: cycle([(x, y, x, y)]), {"steps_per_epoch": 1}, ValueError, "tuple"),
    (lambda x, y: cycle([(x, y[:3])]), {"steps_per_epoch": 1}, ValueError, "cardinality"),
    (lambda x, y: cycle([(x, y)]), {"steps_per_epoch": 0}, ValueError, "steps_per_epoch"),
    (lambda x, y: cycle([(x, y)]), {"steps_per_epoch": 1, "workers": -2}, ValueError,
     "workers"),
    (lambda x, y: cycle([(x, y)]), {"steps_per_epoch": 1, "use_multiprocessing": "x"},
     ValueError, "use_multiprocessing"),
    (lambda x, y: cycle([(x, y)]), {"steps_per_epoch": 1, "max_queue_size": 0}, ValueError,
     "max_queue_size"),
    (lambda x, y: cycle([(x, y)]), {"steps_per_epoch": 1, "verbose": 3}, ValueError,
     "verbose"),
    (lambda x, y: cycle([(x, y)]), {"steps_per_epoch": 1, "callbacks": [1]}, ValueError,
     "callbacks"),
    (lambda x, y: cycle([(x, y)]), {"steps_per_epoch": 1, "initial_epoch": -1}, ValueError,
     "initial_epoch"),
    (lambda x, y: cycle([(x, y)]), {"steps_per_epoch": 1, "class_weight": {1: 1.0}},
     ValueError, "class_weight"),
    (lambda x, y: cycle([(x, y)]), {"steps_per_epoch": 1, "validation_freq": 0,
                                    "validation_data": "4-tuple"}, ValueError, "validation"),
    (lambda x, y: cycle([(x, y)]), {"steps_per_epoch": 1, "validation_data": "4-tuple"},
     ValueError, "validation_data"),
    (lambda x, y: cycle([(x, y)]), {"steps_per_epoch": 1, "validation_data": "generator"},
     ValueError, "validation_steps"),
])
def test_fit_generator_bad_arguments(generator, kwargs, error, match):
    model = linear()
    x, _, y, _ = io_data(4)
    val = {"4-tuple": (x, y, x, y), "generator": cycle([(x, y)])}
    kwargs = {k: val.get(v, v) if isinstance(v, str) else v for k, v in kwargs.items()}
    with pytest.raises(error, match=match):
        model.fit_generator(generator(x, y), **{"verbose": 0, **kwargs})


def test_generator_methods_before_compile():
    model = linear(loss=None)
    x, _, y, _ = io_data(4)
    with pytest.raises(RuntimeError, match="compile"):
        model.fit_generator(cycle([(x, y)]), steps_per_epoch=1, verbose=0)
    with pytest.raises(RuntimeError, match="compile"):
        model.evaluate_generator(cycle([(x, y)]), steps=1)
    k, b = model.get_weights()
    np.testing.assert_allclose(model.predict_generator(cycle([x]), steps=2),
                               np.concatenate([x @ k + b] * 2), rtol=1e-5)


# ============================================================ evaluate_generator
def test_evaluate_generator_sequence_generator_callbacks_and_verbose(capsys):
    model = two_io(loss="mse", metrics={"r": "mae"})
    xa, xb, yr, yc = io_data(10)
    _, pr, pc = np_two_io(model, xa, xb)
    sw = np.linspace(0.1, 1.0, 10)
    expected = [np_mse(pr, yr, sw) + np_mse(pc, yc, sw), np_mse(pr, yr, sw), np_mse(pc, yc, sw),
                np_mae(pr, yr)]
    seq = ArraySeq([xa, xb], [yr, yc], batch_size=4, sw=sw)
    hooks = Hooks()
    np.testing.assert_allclose(model.evaluate_generator(seq, callbacks=[hooks]), expected,
                               rtol=1e-5)  # steps=None: len(seq) batches, weighted by samples
    assert hooks.calls.count("on_test_batch_end") == 3 and sorted(seq.asked) == [0, 1, 2]
    assert capsys.readouterr().out == ""  # verbose=0 by default
    gen = cycle([seq[i] for i in range(3)])
    result = model.evaluate_generator(gen, steps=3, workers=2, max_queue_size=1, verbose=1)
    np.testing.assert_allclose(result, expected, rtol=1e-5)
    assert "3/3 [" in capsys.readouterr().out
    with pytest.raises(ValueError, match="`steps=None`"):
        model.evaluate_generator(gen)
    with pytest.raises(ValueError, match="generator"):
        model.evaluate_generator(([xa, xb], [yr, yc]))
    with pytest.raises(ValueError, match="steps"):
        model.evaluate_generator(seq, steps=0)
    for kwargs, match in (({"max_queue_size": 0}, "max_queue_size"),
                          ({"workers": -1}, "workers"), ({"verbose": 4}, "verbose"),
                          ({"use_multiprocessing": None}, "use_multiprocessing"),
                          ({"callbacks": "x"}, "callbacks")):
        with pytest.raises(ValueError, match=match):
            model.evaluate_generator(seq, **kwargs)
    with pytest.raises(ValueError, match=r"generator.*\bc\b"):
        model.evaluate_generator(cycle([([xa, xb], [yr, yr])]), steps=1)


# ============================================================= predict_generator
def test_predict_generator_sequence_and_generator():
    model = two_io()
    xa, xb, _, _ = io_data(10)
    _, pr, pc = np_two_io(model, xa, xb)
    seq = ArraySeq([xa, xb], batch_size=3)  # yields (x,)
    hooks = Hooks()
    r, c = model.predict_generator(seq, callbacks=[hooks], workers=3)
    np.testing.assert_allclose(r, pr, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(c, pc, rtol=1e-5, atol=1e-6)
    assert hooks.calls.count("on_predict_batch_end") == 4
    # (x,), (x, None) and dict batches: x is taken, order kept.
    batches = [({"a": xa[:6], "b": xb[:6]},), ([xa[6:], xb[6:]], None)]
    r, c = model.predict_generator(cycle(batches), steps=2, workers=0)
    np.testing.assert_allclose(c, pc, rtol=1e-5, atol=1e-6)
    r, _ = model.predict_generator(ArraySeq([xa, xb], batch_size=4), steps=2)
    np.testing.assert_allclose(r, pr[:8], rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="`steps=None`"):
        model.predict_generator(cycle(batches))
    with pytest.raises(ValueError, match="generator"):
        model.predict_generator([xa, xb])
    for kwargs, match in (({"max_queue_size": 0}, "max_queue_size"),
                          ({"workers": -1}, "workers"), ({"verbose": 4}, "verbose"),
                          ({"use_multiprocessing": "x"}, "use_multiprocessing"),
                          ({"steps": 0}, "steps")):
        with pytest.raises(ValueError, match=match):
            model.predict_generator(seq, **kwargs)
    r, _ = model.predict_generator(cycle(batches), steps=2, max_queue_size=1, workers=2,
                                   use_multiprocessing=False)
    np.testing.assert_allclose(r, pr, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match=r"\bb\b.*\(2,\)"):
        model.predict_generator(cycle([((xa, xa),)]), steps=1)


@pytest.mark.parametrize("verbose", [0, 1])
def test_predict_generator_verbose(verbose, capsys):
    model, x, _ = probe(8)
    model.predict_generator(cycle([x[:4]]), steps=2, verbose=verbose)
    out = capsys.readouterr().out
    assert ("2/2 [" in out) == (verbose == 1) and (out == "") == (verbose == 0)


# ===================================================================== get_layer
@pytest.mark.parametrize("kwargs, expected", [
    ({"name": "r"}, "r"), ({"index": 0}, "a"), ({"index": -1}, "c"), ({"index": -5}, "a"),
    ({"index": np.int64(2)}, "cat"), ({"name": "a", "index": 3}, "r"),
    ({"name": "cat"}, "cat"),
])
def test_get_layer(kwargs, expected):
    assert two_io().get_layer(**kwargs).name == expected


@pytest.mark.parametrize("kwargs, match", [
    ({}, "name.*index"),
    ({"index": 5}, "index 5"), ({"index": -6}, "index -6"),
    ({"index": True}, "index"), ({"index": 1.0}, "index"), ({"index": "1"}, "index"),
    ({"name": "nope"}, "nope"), ({"name": 3}, "3"), ({"name": "R"}, "R"),
])
def test_get_layer_bad_name_or_index(kwargs, match):
    with pytest.raises(ValueError, match=match):
        two_io().get_layer(**kwargs)
