"""numkeras: Keras 2 training as a service.

``numkeras.engine`` runs Keras 2 models in-process on a Numba/NumPy engine;
``numkeras.client`` runs the same code on a numkeras server.
"""

__version__ = "0.1.0"
