"""compile's arguments resolved per output: losses, loss weights, metrics and their names."""

from __future__ import annotations

from typing import Any

import numpy as np

from numkeras import losses as losses_module
from numkeras import metrics as metrics_module


def map_to_outputs(value: Any, output_names: list[str], argument: str,
                   broadcast_single: bool = True, nested_is_per_output: bool = False) -> list:
    """Maps a compile argument (one value, a list or a dict) to one entry per output.

    Raises:
        ValueError: naming ``argument`` for a wrong length or an unknown output name.
    """
    n = len(output_names)
    if isinstance(value, dict):
        unknown = [k for k in value if k not in output_names]
        if unknown:
            raise ValueError(
                f"Unknown entries in {argument} dictionary: {unknown}. Only expected the "
                f"following keys: {output_names}"
            )
        return [value.get(name) for name in output_names]
    if isinstance(value, (list, tuple)):
        if nested_is_per_output and not any(isinstance(v, (list, tuple)) for v in value):
            return [list(value) for _ in range(n)]
        if len(value) != n:
            raise ValueError(
                f"When passing a list as {argument}, it should have one entry per model output. "
                f"The model has {n} output(s), but you passed {argument}={value!r}"
            )
        return list(value)
    if broadcast_single:
        return [value] * n
    return [value] + [None] * (n - 1)


class RunningMean:
    """A weighted mean of scalars (the ``loss`` metrics, weighted by batch size)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.total = 0.0
        self.count = 0.0

    def update_state(self, value: float, sample_weight: float = 1.0) -> None:
        self.total += float(value) * sample_weight
        self.count += sample_weight

    def result(self) -> float:
        return self.total / self.count if self.count else 0.0

    def reset_state(self) -> None:
        self.total = 0.0
        self.count = 0.0


class CompiledLoss:
    """One Loss object (or None) and one weight per output, and the loss-tracking means."""

    def __init__(self, loss: Any, loss_weights: Any, output_names: list[str]) -> None:
        if loss is None:
            raise ValueError("compile: `loss` is required to train or evaluate a model; "
                             "got loss=None.")
        per_output = map_to_outputs(loss, output_names, "loss")
        self.losses = []
        for name, item in zip(output_names, per_output, strict=True):
            try:
                self.losses.append(None if item is None else losses_module.to_loss_object(item))
            except ValueError as e:
                raise ValueError(f"compile: invalid loss for output {name!r}: {e}") from None
        if all(obj is None for obj in self.losses):
            raise ValueError(f"compile: no loss is given for any output {output_names}.")
        weights = [1.0] * len(output_names) if loss_weights is None else \
            map_to_outputs(loss_weights, output_names, "loss_weights")
        self.weights = []
        for name, w in zip(output_names, weights, strict=True):
            w = 1.0 if w is None else w
            if not isinstance(w, (int, float, np.number)) or isinstance(w, bool):
                raise ValueError(f"compile: loss_weights for output {name!r} must be a number, "
                                 f"got {w!r}.")
            self.weights.append(float(w))
        self.loss_metric = RunningMean("loss")
        self.output_metrics = (
            [RunningMean(f"{name}_loss") if obj is not None else None
             for name, obj in zip(output_names, self.losses, strict=True)]
            if len(output_names) > 1 else [None] * len(output_names)
        )

    @property
    def metrics(self) -> list[RunningMean]:
        return [self.loss_metric] + [m for m in self.output_metrics if m is not None]


class CompiledMetrics:
    """Per output: unweighted metrics (no sample weights) and weighted metrics, Keras-named."""

    def __init__(self, metrics: Any, weighted_metrics: Any, output_names: list[str]) -> None:
        self.output_names = output_names
        plain = self._per_output(metrics, "metrics")
        weighted = self._per_output(weighted_metrics, "weighted_metrics")
        self.specs: list[list[tuple[str, Any, bool]]] = []
        taken: set[str] = set()
        multi = len(output_names) > 1
        for out_name, items, witems in zip(output_names, plain, weighted, strict=True):
            specs = []
            pairs = [(i, False) for i in items] + [(i, True) for i in witems]
            for identifier, is_weighted in pairs:
                try:
                    base = metrics_module.metric_display_name(identifier)
                except ValueError as e:
                    raise ValueError(f"compile: invalid metric for output {out_name!r}: {e}") \
                        from None
                name = f"{out_name}_{base}" if multi else base
                if is_weighted and name in taken:
                    name = f"{out_name}_weighted_{base}" if multi else f"weighted_{base}"
                name = _unique(name, taken)
                taken.add(name)
                specs.append((name, identifier, is_weighted))
            self.specs.append(specs)
        self.objects: list[list[Any]] | None = None

    def _per_output(self, value: Any, argument: str) -> list[list]:
        if value is None:
            return [[] for _ in self.output_names]
        if not isinstance(value, (list, tuple, dict)):
            value = [value]
        per_output = map_to_outputs(value, self.output_names, argument,
                                    nested_is_per_output=True)
        out = []
        for item in per_output:
            if item is None:
                out.append([])
            elif isinstance(item, (list, tuple)):
                out.append(list(item))
            else:
                out.append([item])
        return out

    @property
    def names(self) -> list[str]:
        return [name for specs in self.specs for name, _, _ in specs]

    def build(self, y_true: list[np.ndarray | None], y_pred: list[np.ndarray],
              losses: list[Any]) -> None:
        """Resolves identifiers (``accuracy`` by the shapes, as Keras) on the first batch."""
        if self.objects is not None:
            return
        self.objects = []
        seen: set[int] = set()
        for i, specs in enumerate(self.specs):
            objs = []
            for name, identifier, _ in specs:
                yt_shape = None if y_true[i] is None else y_true[i].shape
                metric = metrics_module.resolve(identifier, yt_shape, y_pred[i].shape,
                                                loss=losses[i] if i < len(losses) else None)
                if id(metric) in seen:  # one Metric instance listed for several outputs
                    metric = type(metric).from_config(metric.get_config())
                seen.add(id(metric))
                metric._display_name = name
                objs.append(metric)
            self.objects.append(objs)

    def update(self, y_true: list, y_pred: list, sample_weights: list, masks: list) -> None:
        assert self.objects is not None
        for i, specs in enumerate(self.specs):
            if y_true[i] is None:
                continue
            for (_, _, weighted), metric in zip(specs, self.objects[i], strict=True):
                sw = _masked_weights(sample_weights[i], masks[i]) if weighted else masks[i]
                metric.update_state(y_true[i], y_pred[i], sample_weight=sw)

    def results(self) -> list[tuple[str, float]]:
        if self.objects is None:
            return []
        return [(m._display_name, float(m.result())) for objs in self.objects for m in objs]

    def reset(self) -> None:
        for objs in self.objects or []:
            for m in objs:
                m.reset_state()


def _masked_weights(sw: np.ndarray | None, mask: np.ndarray | None) -> np.ndarray | None:
    """Weighted metrics see sample weights times the output mask, as in tf-keras."""
    if mask is None:
        return sw
    mask = mask.astype(np.float32)
    if sw is None:
        return mask
    if sw.ndim < mask.ndim:
        sw = sw.reshape(sw.shape + (1,) * (mask.ndim - sw.ndim))
    return sw * mask


def _unique(name: str, taken: set[str]) -> str:
    """Keras 2 suffixes repeated metric names: ``mse``, ``mse_1``, ``mse_2``."""
    if name not in taken:
        return name
    i = 1
    while f"{name}_{i}" in taken:
        i += 1
    return f"{name}_{i}"
