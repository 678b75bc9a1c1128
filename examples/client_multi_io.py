"""A multi-input, multi-output model trained on a numkeras server, with dict data, dict losses
and loss_weights (the Keras 2 guide's "news headline" shape, on random data).

Run against a server started as the README says, with ``NUMKERAS_URL`` and
``NUMKERAS_API_KEY`` set: ``python examples/client_multi_io.py``.
"""

import numpy as np

import numkeras.client as keras

headline = keras.Input(shape=(20,), name="headline")
meta = keras.Input(shape=(5,), name="meta")
h = keras.layers.Dense(32, activation="relu", name="text_features")(headline)
aux = keras.layers.Dense(1, activation="sigmoid", name="aux_output")(h)
joined = keras.layers.Concatenate(name="join")([h, meta])
joined = keras.layers.Dense(16, activation="relu", name="dense")(joined)
main = keras.layers.Dense(1, activation="sigmoid", name="main_output")(joined)
model = keras.Model(inputs=[headline, meta], outputs=[main, aux], name="news")

model.compile(optimizer="rmsprop",
              loss={"main_output": "binary_crossentropy", "aux_output": "binary_crossentropy"},
              loss_weights={"main_output": 1.0, "aux_output": 0.2},
              metrics={"main_output": ["accuracy"]})
print("metrics_names:", model.metrics_names)

rng = np.random.default_rng(0)
x = {"headline": rng.normal(size=(512, 20)).astype("float32"),
     "meta": rng.normal(size=(512, 5)).astype("float32")}
label = (x["headline"][:, :3].sum(axis=1) + x["meta"][:, 0] > 0).astype("float32")[:, None]
y = {"main_output": label, "aux_output": label}

history = model.fit(x, y, batch_size=32, epochs=4, validation_split=0.25, verbose=2)
print("val main accuracy:", [round(v, 3) for v in history.history["val_main_output_accuracy"]])
print("evaluate:", model.evaluate(x, y, verbose=0, return_dict=True))
main_pred, aux_pred = model.predict(x)
print("predict shapes:", main_pred.shape, aux_pred.shape)
print("get_layer('join').get_config()['axis']:", model.get_layer("join").get_config()["axis"])
