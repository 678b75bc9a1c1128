"""Keras 2's ``fit_generator`` / ``evaluate_generator`` / ``predict_generator``.

They are ``fit`` / ``evaluate`` / ``predict`` given a generator or Sequence; the engine's and
the client's Model share them through this mixin.
"""

from __future__ import annotations

from typing import Any

from numkeras.utils.data_utils import is_generator_like


def _check_generator(generator: Any, method: str) -> None:
    if not is_generator_like(generator):
        raise ValueError(f"{method}: `generator` must be a generator, an iterator or a "
                         f"keras.utils.Sequence, got {type(generator).__name__}.")


class GeneratorMethods:
    """The generator forms of the Model methods (the class also defines fit/evaluate/predict)."""

    def fit_generator(self, generator: Any, steps_per_epoch: int | None = None, epochs: int = 1,
                      verbose: Any = 1, callbacks: Any = None, validation_data: Any = None,
                      validation_steps: int | None = None, validation_freq: Any = 1,
                      class_weight: Any = None, max_queue_size: int = 10, workers: int = 1,
                      use_multiprocessing: bool = False, shuffle: bool = True,
                      initial_epoch: int = 0) -> Any:
        """Keras 2's generator form of ``fit``."""
        _check_generator(generator, "fit_generator")
        return self.fit(generator, steps_per_epoch=steps_per_epoch, epochs=epochs,
                        verbose=verbose, callbacks=callbacks, validation_data=validation_data,
                        validation_steps=validation_steps, validation_freq=validation_freq,
                        class_weight=class_weight, max_queue_size=max_queue_size,
                        workers=workers, use_multiprocessing=use_multiprocessing,
                        shuffle=shuffle, initial_epoch=initial_epoch)

    def evaluate_generator(self, generator: Any, steps: int | None = None, callbacks: Any = None,
                           max_queue_size: int = 10, workers: int = 1,
                           use_multiprocessing: bool = False, verbose: Any = 0) -> Any:
        """Keras 2's generator form of ``evaluate``: metrics over all batches' samples."""
        _check_generator(generator, "evaluate_generator")
        return self.evaluate(generator, steps=steps, callbacks=callbacks,
                             max_queue_size=max_queue_size, workers=workers,
                             use_multiprocessing=use_multiprocessing, verbose=verbose)

    def predict_generator(self, generator: Any, steps: int | None = None, callbacks: Any = None,
                          max_queue_size: int = 10, workers: int = 1,
                          use_multiprocessing: bool = False, verbose: Any = 0) -> Any:
        """Keras 2's generator form of ``predict``; batch order is kept with any workers."""
        _check_generator(generator, "predict_generator")
        return self.predict(generator, steps=steps, callbacks=callbacks,
                            max_queue_size=max_queue_size, workers=workers,
                            use_multiprocessing=use_multiprocessing, verbose=verbose)
