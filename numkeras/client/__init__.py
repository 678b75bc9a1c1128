"""numkeras over the service, shaped as the Keras 2 namespace: ``import numkeras.client as keras``.

``keras.Input``, ``keras.Model``, ``keras.models``, ``keras.layers``, ``keras.optimizers``,
``keras.losses``, ``keras.metrics``, ``keras.callbacks``, ``keras.utils`` and friends, with
models that live and train on a numkeras server (``NUMKERAS_URL`` / ``NUMKERAS_API_KEY``, or
``keras.connect(url, api_key=...)``). Only httpx and NumPy are needed: nothing here imports the
engine (numba) or the server (FastAPI).
"""

from numkeras import (
    activations,
    backend,
    callbacks,
    constraints,
    initializers,
    layers,
    losses,
    metrics,
    optimizers,
    regularizers,
    utils,
)
from numkeras.client import models
from numkeras.client.connection import Connection, connect, get_connection
from numkeras.client.models import Model, get_model
from numkeras.layers import Input
from numkeras.utils.generic_utils import alias_keras_submodules

# `from numkeras.client.layers import Dense` works like `from keras.layers import Dense`.
alias_keras_submodules(__name__, globals())

__all__ = [
    "Connection", "Input", "Model", "activations", "backend", "callbacks", "connect",
    "constraints", "get_connection", "get_model", "initializers", "layers", "losses", "metrics",
    "models", "optimizers", "regularizers", "utils",
]
