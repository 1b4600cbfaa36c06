"""Pure reductions of loss curves over seeds: bands, smoothing, steps to a target loss."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd


def seed_bands(
    rows: pd.DataFrame, group: Sequence[str] = ("init",), value: str = "value"
) -> pd.DataFrame:
    """Mean, min and max of ``value`` over seeds, per ``group`` and step.

    ``rows`` has one row per (group..., seed, step). Returns columns ``*group, step, mean,
    lo, hi, n`` (``n``: seeds with a value at that step), sorted by group and step: the
    figures' aggregation over seeds, :func:`ckptscope.groups.bands.seed_stats`.
    """
    from ckptscope.groups.bands import seed_stats

    keys = [*group, "step"]
    return seed_stats(rows, keys, value)[[*keys, "mean", "lo", "hi", "n"]]


def trailing_mean(values: Sequence[float], window: int) -> np.ndarray:
    """Mean of the last ``window`` values at each position (fewer at the start)."""
    if window < 1:
        raise ValueError(f"window must be at least 1, got {window}")
    x = np.asarray(values, dtype=np.float64)
    csum = np.concatenate([[0.0], np.cumsum(x)])
    idx = np.arange(1, len(x) + 1)
    start = np.maximum(0, idx - window)
    return (csum[idx] - csum[start]) / (idx - start)


def steps_to_target(steps: Sequence[int], values: Sequence[float], target: float) -> int | None:
    """The first step whose value is at or below ``target``; None when none is."""
    order = np.argsort(np.asarray(steps), kind="stable")
    for i in order:
        if values[i] <= target:
            return int(steps[i])
    return None


@dataclass(frozen=True)
class Spread:
    """A quantity over seeds: mean, min and max of the seeds that reached it."""

    mean: float | None
    lo: float | None
    hi: float | None
    reached: int  # seeds with a value
    seeds: int  # seeds in all

    def text(self, digits: int = 0) -> str:
        """``310 (280-340)``, plus ``; 1 of 2 seeds never`` when some seeds have no value."""
        if self.mean is None:
            return f"not reached ({self.seeds} seeds)"
        body = f"{self.mean:.{digits}f} ({self.lo:.{digits}f}-{self.hi:.{digits}f})"
        missing = self.seeds - self.reached
        return body if not missing else f"{body}; {missing} of {self.seeds} seeds never"


def spread(values: Sequence[float | None]) -> Spread:
    """The :class:`Spread` of per-seed values (None: that seed never reached it)."""
    got = [float(v) for v in values if v is not None and not math.isnan(v)]
    if not got:
        return Spread(None, None, None, 0, len(values))
    return Spread(float(np.mean(got)), min(got), max(got), len(got), len(values))


def compare(a: Spread, b: Spread) -> str:
    """``lower``/``higher`` when every seed of ``a`` is below/above every seed of ``b``.

    ``overlap`` otherwise. A spread with seeds that never reached counts as higher than
    one whose seeds all did (never reaching is slower than reaching).
    """
    if a.reached == 0 or b.reached == 0:
        if a.reached == b.reached:
            return "overlap"
        return "higher" if a.reached == 0 else "lower"
    a_all, b_all = a.reached == a.seeds, b.reached == b.seeds
    if a_all and a.hi < b.lo:  # type: ignore[operator]
        return "lower"
    if b_all and a.lo > b.hi:  # type: ignore[operator]
        return "higher"
    return "overlap"
