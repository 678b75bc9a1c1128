"""tf-keras 2 runner: the benchmark's models in the maintained Keras 2, trained on the CPU.

Run by bench_engine.py with the python of the virtual environment that holds tensorflow-cpu and
tf-keras (``--tf-python`` or ``NUMKERAS_TF_PYTHON``); never imported by numkeras or its tests.
The model code is numkeras's word for word (common.build_keras_model), with
``import tf_keras as keras``.
TensorFlow keeps its default thread pools (one intra-op thread per core).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import common  # noqa: E402

keras: Any = None


class TfKerasRunner:
    name = "tf-keras"

    def load(self) -> str:
        global keras
        import tensorflow as tf
        import tf_keras

        keras = tf_keras
        tf.get_logger().setLevel("ERROR")
        self._tf = tf
        return f"tf-keras {tf_keras.__version__} / tensorflow {tf.__version__}"

    def info(self) -> dict[str, Any]:
        threading = self._tf.config.threading
        return {"intra_op_threads": threading.get_intra_op_parallelism_threads() or "default",
                "inter_op_threads": threading.get_inter_op_parallelism_threads() or "default"}

    def build(self, name: str) -> Any:
        return common.build_keras_model(keras, name)

    def fit_epoch(self, model: Any, x: np.ndarray, y: np.ndarray, batch_size: int) -> None:
        model.fit(x, y, batch_size=batch_size, epochs=1, verbose=0)

    def evaluate(self, model: Any, x: np.ndarray, y: np.ndarray, batch_size: int) -> Any:
        return model.evaluate(x, y, batch_size=batch_size, verbose=0)

    def predict(self, model: Any, x: np.ndarray, batch_size: int) -> np.ndarray:
        return model.predict(x, batch_size=batch_size, verbose=0)


if __name__ == "__main__":
    common.run_child(TfKerasRunner())
