"""The Keras 2 documentation's functional-API example, trained on a numkeras server.

Start a server as the README says (``numkeras serve --data-dir ./numkeras-data``), export the
``NUMKERAS_URL`` and ``NUMKERAS_API_KEY`` it prints, then run
``python examples/client_documentation_example.py``. The only change from a Keras 2 script is
the import lines.
"""

import numpy as np
from numkeras.client.layers import Dense, Input

import numkeras.client as keras
from numkeras.client.models import Model

a = Input(shape=(32,))
b = Dense(32)(a)
model = Model(inputs=a, outputs=b)

model.summary()
model.compile(optimizer="sgd", loss="mse", metrics=["mae"])
print("model id on the server:", model.id)

rng = np.random.default_rng(0)
x = rng.normal(size=(1024, 32)).astype("float32")
y = x @ rng.normal(size=(32, 32)).astype("float32") * 0.1

history = model.fit(x, y, batch_size=32, epochs=5, validation_split=0.2, verbose=2)
print("History:", {k: [round(v, 4) for v in vals] for k, vals in history.history.items()})
print("evaluate:", model.evaluate(x, y, verbose=0))  # x and y are not uploaded again
print("predict:", model.predict(x[:2]).shape)
print("keras namespace:", keras.Model is Model)
