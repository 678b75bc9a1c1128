"""``TerminateOnNaN``: stops training when the loss becomes NaN or infinite."""

from __future__ import annotations

import numpy as np

from numkeras.callbacks.callback import Callback, Logs


class TerminateOnNaN(Callback):
    """Sets ``model.stop_training`` when a batch ends with a NaN or infinite ``loss``."""

    def on_batch_end(self, batch: int, logs: Logs = None) -> None:
        loss = (logs or {}).get("loss")
        if loss is not None and not np.all(np.isfinite(loss)):
            print(f"Batch {batch}: Invalid loss, terminating training")
            self.model.stop_training = True
