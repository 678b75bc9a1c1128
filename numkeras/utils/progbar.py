"""Keras's text progress bar (``keras.utils.Progbar``)."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterable
from typing import Any

import numpy as np


def _format_value(value: Any) -> str:
    if isinstance(value, str):
        return value
    try:
        number = float(np.mean(value))
    except (TypeError, ValueError):
        return str(value)
    return f"{number:.4f}" if abs(number) > 1e-3 else f"{number:.4e}"


def _format_time(seconds: float, unit_name: str) -> str:
    if seconds >= 1 or seconds == 0:
        return f" {seconds:.0f}s/{unit_name}"
    if seconds >= 1e-3:
        return f" {seconds * 1e3:.0f}ms/{unit_name}"
    return f" {seconds * 1e6:.0f}us/{unit_name}"


def _format_eta(eta: float) -> str:
    if eta > 3600:
        return f"{int(eta // 3600)}:{int(eta % 3600 // 60):02d}:{int(eta % 60):02d}"
    if eta > 60:
        return f"{int(eta // 60)}:{int(eta % 60):02d}"
    return f"{int(eta)}s"


class Progbar:
    """Displays a progress bar.

    Args:
        target: Total number of steps expected, None if unknown.
        width: Progress bar width on screen.
        verbose: Verbosity mode, 0 (silent), 1 (bar updated in place), 2 (one line when done).
        interval: Minimum visual progress update interval (in seconds).
        stateful_metrics: Names of metrics displayed as given. All other values are
            averaged over the steps seen, weighted by the steps each update covers.
        unit_name: Display name for step counts (usually ``"step"`` or ``"sample"``).
    """

    def __init__(
        self,
        target: int | None,
        width: int = 30,
        verbose: int = 1,
        interval: float = 0.05,
        stateful_metrics: Iterable[str] | None = None,
        unit_name: str = "step",
    ) -> None:
        self.target = target
        self.width = width
        self.verbose = verbose
        self.interval = interval
        self.unit_name = unit_name
        self.stateful_metrics = set(stateful_metrics or ())
        # Not a terminal (a file, a pipe, pytest's capture): one line per update, as Keras.
        self._dynamic_display = (
            (hasattr(sys.stdout, "isatty") and sys.stdout.isatty())
            or "ipykernel" in sys.modules
            or "PYCHARM_HOSTED" in os.environ
        )
        self._total_width = 0
        self._seen_so_far = 0
        self._values: dict[str, list[Any]] = {}
        self._values_order: list[str] = []
        self._start = time.time()
        self._last_update = 0.0
        self._time_at_epoch_end: float | None = None
        self._time_after_first_step: float | None = None

    def update(
        self,
        current: int,
        values: Iterable[tuple[str, Any]] | None = None,
        finalize: bool | None = None,
    ) -> None:
        """Updates the progress bar.

        Args:
            current: Index of the current step (1-based count of steps done).
            values: ``(name, value)`` pairs for the last step(s).
            finalize: Whether this is the last update; defaults to ``current >= target``.
        """
        if finalize is None:
            finalize = self.target is not None and current >= self.target
        for name, value in values or ():
            if name not in self._values_order:
                self._values_order.append(name)
            if name in self.stateful_metrics or isinstance(value, str):
                self._values[name] = [value, 1]
            else:
                # At least 1, or an update repeating the last step would drop the value.
                weight = max(current - self._seen_so_far, 1)
                total = self._values.setdefault(name, [0.0, 0])
                total[0] = total[0] + value * weight
                total[1] += weight
        self._seen_so_far = current

        now = time.time()
        elapsed = f" - {now - self._start:.0f}s"
        if current == self.target:
            self._time_at_epoch_end = now

        if self.verbose == 1:
            if now - self._last_update < self.interval and not finalize:
                return
            self._last_update = now
            self._write(self._bar_line(current, now, finalize, elapsed), finalize)
        elif self.verbose == 2 and finalize:
            target = self.target if self.target is not None else current
            line = f"{current:>{len(str(target))}d}/{target}{elapsed}{self._metrics_text()}"
            if self._time_at_epoch_end is not None:
                epoch_time = self._time_at_epoch_end - self._start
                line += " -" + _format_time(epoch_time, "epoch")
                line += " -" + _format_time(epoch_time / max(target, 1), self.unit_name)
            sys.stdout.write(line + "\n")
            sys.stdout.flush()
            self._last_update = now

    def add(self, n: int, values: Iterable[tuple[str, Any]] | None = None) -> None:
        """Advances the bar by ``n`` steps."""
        self.update(self._seen_so_far + n, values)

    def _bar_line(self, current: int, now: float, finalize: bool, elapsed: str) -> str:
        if self.target is not None:
            bar = f"{current:>{len(str(self.target))}d}/{self.target} ["
            filled = int(self.width * current / self.target) if self.target else self.width
            if filled > 0:
                bar += "=" * (filled - 1) + (">" if current < self.target else "=")
            bar += "." * (self.width - filled) + "]"
        else:
            bar = f"{current:7d}/Unknown"
        per_step = self._step_duration(current, now)
        if self.target is None or finalize:
            info = elapsed + _format_time(per_step, self.unit_name)
        else:
            info = " - ETA: " + _format_eta(per_step * (self.target - current))
        return bar + info + self._metrics_text()

    def _metrics_text(self) -> str:
        parts = []
        for name in self._values_order:
            total, count = self._values[name]
            value = total if isinstance(total, str) else total / max(1, count)
            parts.append(f" - {name}: {_format_value(value)}")
        return "".join(parts)

    def _write(self, line: str, finalize: bool) -> None:
        if self._dynamic_display:
            # Pad with spaces so that a shorter line hides the end of the previous one.
            message = "\r" + line + " " * max(self._total_width - len(line), 0)
        else:
            message = "\n" + line
        self._total_width = len(line)
        if finalize:
            message += "\n"
        sys.stdout.write(message)
        sys.stdout.flush()

    def _step_duration(self, current: int, now: float) -> float:
        # The first step (compilation, warm-up) is left out of the estimate once there are more.
        if not current:
            return 0.0
        if self._time_after_first_step is not None and current > 1:
            per_step = (now - self._time_after_first_step) / (current - 1)
        else:
            per_step = (now - self._start) / current
        if current == 1:
            self._time_after_first_step = now
        return per_step
