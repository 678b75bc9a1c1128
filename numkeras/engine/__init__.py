"""The local engine, shaped as the Keras 2 namespace: ``import numkeras.engine as keras``.

``keras.Input``, ``keras.Model``, ``keras.models``, ``keras.layers``, ``keras.optimizers``,
``keras.losses``, ``keras.metrics``, ``keras.callbacks``, ``keras.utils`` and friends, with
models that train in this process on the Numba/NumPy engine.
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
from numkeras.engine import models
from numkeras.engine.models import Model
from numkeras.layers import Input
from numkeras.utils.generic_utils import alias_keras_submodules

# `from numkeras.engine.layers import Dense` works like `from keras.layers import Dense`.
alias_keras_submodules(__name__, globals())

__all__ = [
    "Input", "Model", "activations", "backend", "callbacks", "constraints", "initializers",
    "layers", "losses", "metrics", "models", "optimizers", "regularizers", "utils",
]
