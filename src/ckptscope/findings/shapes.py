"""Shapes of one trajectory (pure functions of steps and values): rise, peak, decline."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ckptscope.findings.base import Thresholds


@dataclass(frozen=True)
class Arc:
    """First, peak and last points of a trajectory, and the relative rise and decline."""

    first: float
    peak: float
    last: float
    first_step: int
    peak_step: int
    last_step: int

    @property
    def rise(self) -> float:
        """Peak relative to the first value (0.1: 10% above it)."""
        return self.peak / self.first - 1 if self.first > 0 else float("inf")

    @property
    def decline(self) -> float:
        """How far the last value is below the peak, relative to the peak."""
        return 1 - self.last / self.peak if self.peak > 0 else 0.0

    def rises_peaks_declines(self, th: Thresholds) -> bool:
        """Rises, peaks before the last checkpoint, then declines (F7, F14)."""
        return (
            self.rise >= th.rise and self.peak_step < self.last_step and self.decline >= th.decline
        )

    def describe(self, what: str) -> str:
        change = (self.last / self.first - 1) * 100 if self.first > 0 else float("nan")
        return (
            f"{what}: {self.first:.4g} at step {self.first_step}, peak {self.peak:.4g} at step "
            f"{self.peak_step}, final {self.last:.4g} at step {self.last_step} "
            f"({change:+.1f}% from first, {-self.decline * 100:+.1f}% from peak)"
        )


def arc(steps: np.ndarray, values: np.ndarray) -> Arc:
    """The :class:`Arc` of a trajectory sorted by step."""
    i = int(np.nanargmax(values))
    return Arc(float(values[0]), float(values[i]), float(values[-1]),
               int(steps[0]), int(steps[i]), int(steps[-1]))  # fmt: skip


def monotone_share(values: np.ndarray, increasing: bool = True) -> float:
    """Share of step-to-step changes that go the given way (ties count as going it)."""
    d = np.diff(values)
    if d.size == 0:
        return float("nan")
    return float(np.mean(d >= 0 if increasing else d <= 0))


def late_share(steps: np.ndarray, values: np.ndarray, tail: float = 0.25) -> float:
    """Share of the total change made in the last ``tail`` of the step range."""
    total = values[-1] - values[0]
    if total == 0:
        return float("nan")
    cut = steps[0] + (1 - tail) * (steps[-1] - steps[0])
    at_cut = float(np.interp(cut, steps, values))
    return float((values[-1] - at_cut) / total)


def first_crossing(steps: np.ndarray, values: np.ndarray, level: float) -> int | None:
    """The first step whose value reaches ``level``, or None."""
    hit = np.nonzero(values >= level)[0]
    return int(steps[hit[0]]) if hit.size else None
