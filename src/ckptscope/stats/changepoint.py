"""Phase changes in a metric's trajectory over checkpoints.

Method. The series is taken in checkpoint order (index, not step: checkpoints are often
log-spaced, and a regime change is "between two checkpoints" whatever their distance),
transformed to a scale where changes are comparable (``log`` for positive scales such as
Student-t nu or norms, ``asinh`` for kurtosis), and segmented by PELT (Killick et al. 2012)
with the Gaussian mean-shift cost ``sum (y - mean)**2 / sigma**2`` and a BIC-like penalty
of ``2 ln n`` per change (one new mean and one location). ``sigma`` is the noise level
estimated robustly from first differences (``1.4826 MAD / sqrt 2``), so a smooth trend
gives a small sigma and is cut into many short segments rather than hiding a jump.

Keeping it quiet. A boundary is reported only when the change is *sudden and large*: the
local level after it (median of up to ``window`` checkpoints of the following segment)
differs from the level before it (same, preceding segment) by at least the metric's
``threshold`` on the transformed scale. A smooth trend has nearly equal local levels on
either side of each boundary and is not reported. Categorical series (the winning family)
change where one value that holds for at least ``min_run`` checkpoints gives way to
another that does too.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class MetricSpec:
    """How to look for changes in one metric: its scale and what counts as substantial."""

    metric: str
    transform: str = "identity"  # "identity", "log" or "asinh"
    threshold: float = 1.0  # minimal |after - before| on the transformed scale
    lower: float | None = None  # clip before transforming (e.g. nu at 100: "Gaussian")
    upper: float | None = None
    #: values are category codes (a stored label, coded by the caller): a change is a new
    #: stable run, not a jump
    categorical: bool = False
    label: str | None = None  # how messages name the metric

    def apply(self, values: np.ndarray) -> np.ndarray:
        """The transformed series; ``log`` maps non-positive values to NaN (then dropped)."""
        y = np.asarray(values, dtype=np.float64)
        if self.lower is not None or self.upper is not None:
            y = np.clip(y, self.lower, self.upper)
        if self.transform == "log":
            # a zero-initialised bias has norm 0 at step 0: no level to compare on a log scale
            return np.log(np.where(y > 0, y, np.nan))
        if self.transform == "asinh":
            return np.arcsinh(y)
        if self.transform == "identity":
            return y
        raise ValueError(f"unknown transform {self.transform!r}; use identity, log or asinh")


#: Specs of the metrics the "phases" derivation watches (thresholds on transformed scales).
DEFAULT_SPECS: dict[str, MetricSpec] = {
    # excess kurtosis 0.1 -> 0.7 (asinh jump 0.55) counts; 10 -> 14 (0.34) does not
    "kurtosis": MetricSpec("kurtosis", "asinh", 0.5, label="kurtosis"),
    # nu halves or doubles; nu above 100 is indistinguishable from Gaussian
    "t_nu": MetricSpec(
        "t_nu", "log", float(np.log(2.0)), lower=0.05, upper=100.0, label="Student-t nu"
    ),
    "gennorm_beta": MetricSpec("gennorm_beta", "log", float(np.log(1.3)), label="gen. normal beta"),
    "norm": MetricSpec("norm", "log", float(np.log(1.5)), label="norm"),
    # a label in the store (the family name); the phases derivation codes it by family
    "fit_winner": MetricSpec("fit_winner", categorical=True, label="best family"),
}


@dataclass(frozen=True)
class Change:
    """A regime change between checkpoints ``index - 1`` and ``index`` of a trajectory."""

    index: int  # first checkpoint (position in the series) of the new regime
    step: int  # its training step
    prev_step: int  # the step of the checkpoint before
    before: float  # local level before, in the metric's own units
    after: float  # local level after
    jump: float  # after - before on the transformed scale


def noise_sigma(y: np.ndarray) -> float:
    """Robust noise level of a series from its first differences (0 for constant series)."""
    d = np.diff(np.asarray(y, dtype=np.float64))
    if d.size == 0:
        return 0.0
    return float(1.4826 * np.median(np.abs(d - np.median(d))) / np.sqrt(2))


def pelt(y: np.ndarray, penalty: float, min_size: int = 2) -> list[int]:
    """Change indices (starts of segments after the first) minimising L2 cost + penalty each.

    PELT: exact optimal partitioning with pruning, for the cost ``sum (y - mean)**2`` of a
    segment (scale ``y`` by the noise level first to make the penalty meaningful).
    """
    y = np.asarray(y, dtype=np.float64)
    n = y.size
    if min_size < 1:
        raise ValueError(f"min_size must be >= 1, got {min_size}")
    if n < 2 * min_size:
        return []
    s1 = np.concatenate([[0.0], np.cumsum(y)])
    s2 = np.concatenate([[0.0], np.cumsum(y * y)])

    def cost(a: np.ndarray, b: int) -> np.ndarray:
        m = b - a
        return s2[b] - s2[a] - (s1[b] - s1[a]) ** 2 / m

    f = np.full(n + 1, np.inf)
    f[0] = -penalty
    last = np.zeros(n + 1, dtype=np.int64)
    candidates = np.array([0], dtype=np.int64)
    for t in range(min_size, n + 1):
        ok = t - candidates >= min_size
        c = candidates[ok]
        total = f[c] + cost(c, t) + penalty
        j = int(np.argmin(total))
        f[t], last[t] = total[j], c[j]
        # prune s whose best continuation can never beat t's (valid for L2: no K term)
        keep = ~ok
        keep[ok] = total - penalty <= f[t]
        candidates = np.append(candidates[keep], t - min_size + 1)
    cps, t = [], n
    while t > 0:
        t = int(last[t])
        if t > 0:
            cps.append(t)
    return sorted(cps)


def _categorical_changes(steps: np.ndarray, y: np.ndarray, min_run: int) -> list[Change]:
    # run-length encode, then keep only runs long enough to be a regime
    starts = np.flatnonzero(np.concatenate([[True], y[1:] != y[:-1]]))
    ends = np.append(starts[1:], y.size)
    stable = [(s, e, y[s]) for s, e in zip(starts, ends, strict=True) if e - s >= min_run]
    out = []
    for (_, _, a), (s, _, b) in itertools.pairwise(stable):
        if a != b:
            out.append(Change(int(s), int(steps[s]), int(steps[s - 1]), float(a), float(b), 1.0))
    return out


def detect_changes(
    steps: np.ndarray,
    values: np.ndarray,
    spec: MetricSpec | None = None,
    *,
    penalty: float | None = None,
    min_size: int = 2,
    window: int = 3,
) -> list[Change]:
    """Substantial regime changes of one trajectory (see the module docstring).

    ``steps`` and ``values`` are parallel; they are sorted by step, and values that are
    non-finite (or non-positive, for a ``log`` transform) are dropped. ``penalty`` defaults to ``2 ln n``; ``min_size`` is the shortest segment
    (and, for categorical metrics, the shortest run, plus one) in checkpoints.
    """
    spec = spec or MetricSpec("value")
    steps = np.asarray(steps, dtype=np.int64)
    values = np.asarray(values, dtype=np.float64)
    if steps.shape != values.shape or steps.ndim != 1:
        raise ValueError(f"steps {steps.shape} and values {values.shape} must be parallel 1-D")
    order = np.argsort(steps, kind="stable")
    steps, values = steps[order], values[order]
    keep = np.isfinite(values)
    steps, values = steps[keep], values[keep]
    if spec.categorical:
        return _categorical_changes(steps, values, min_size + 1)
    y = spec.apply(values)
    keep = np.isfinite(y)
    steps, values, y = steps[keep], values[keep], y[keep]
    n = values.size
    if n < 2 * min_size:
        return []
    sigma = noise_sigma(y)
    # floor: a perfectly smooth series must not make every tiny wiggle infinitely costly
    sigma = max(sigma, spec.threshold / 100, 1e-12)
    pen = 2 * np.log(n) if penalty is None else penalty
    bounds = [0, *pelt(y / sigma, pen, min_size), n]
    out = []
    for a, b, c in zip(bounds, bounds[1:], bounds[2:], strict=False):
        lo, hi = max(a, b - window), min(c, b + window)
        before_t, after_t = float(np.median(y[lo:b])), float(np.median(y[b:hi]))
        jump = after_t - before_t
        if abs(jump) >= spec.threshold:
            out.append(
                Change(
                    int(b),
                    int(steps[b]),
                    int(steps[b - 1]),
                    float(np.median(values[lo:b])),
                    float(np.median(values[b:hi])),
                    jump,
                )
            )
    return out
