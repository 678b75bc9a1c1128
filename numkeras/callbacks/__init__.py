"""Keras 2 callbacks (``keras.callbacks``): pure Python, driven by the engine or the client."""

from numkeras.callbacks.base_logger import BaseLogger
from numkeras.callbacks.callback import Callback
from numkeras.callbacks.callback_list import CallbackList
from numkeras.callbacks.csv_logger import CSVLogger
from numkeras.callbacks.early_stopping import EarlyStopping
from numkeras.callbacks.history import History
from numkeras.callbacks.lambda_callback import LambdaCallback
from numkeras.callbacks.learning_rate_scheduler import LearningRateScheduler
from numkeras.callbacks.model_checkpoint import ModelCheckpoint
from numkeras.callbacks.progbar_logger import ProgbarLogger
from numkeras.callbacks.reduce_lr_on_plateau import ReduceLROnPlateau
from numkeras.callbacks.terminate_on_nan import TerminateOnNaN

__all__ = [
    "BaseLogger",
    "CSVLogger",
    "Callback",
    "CallbackList",
    "EarlyStopping",
    "History",
    "LambdaCallback",
    "LearningRateScheduler",
    "ModelCheckpoint",
    "ProgbarLogger",
    "ReduceLROnPlateau",
    "TerminateOnNaN",
]
