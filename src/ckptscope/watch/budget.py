"""The watcher's time budget: its own seconds against the training's, as a fraction.

Time is measured by an injectable clock (``time.perf_counter`` by default), so a test can
drive it. Training time is the time between ``Watcher.step`` calls; the watcher's time is
the time inside them. Cheap weight statistics run at every watched step; an expensive
analysis runs only when its last measured cost still fits::

    spent + cost <= fraction * training

An analysis whose cost is not known yet runs once when the watcher is under budget
(``spent < fraction * training``), which measures it; so apart from that one first run of
each expensive analysis and the cheap statistics, the watcher's time never exceeds the
fraction of the training time so far.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, field

from ckptscope.errors import UsageError

#: analyses that run at every watched step whatever the budget: one pass over the weights
CHEAP: frozenset[str] = frozenset({"weights", "integrity"})
#: analyses that share one evaluation pass (``analyses/evaluation.py``): run together
EVALUATION: tuple[str, ...] = ("activations", "gradients")
#: the default budget: at most 5% of the training's wall time
DEFAULT_FRACTION = 0.05


def check_fraction(budget: object) -> float:
    """``budget`` as a fraction in (0, 1]; UsageError in one line otherwise."""
    ok = isinstance(budget, numbers.Real) and not isinstance(budget, bool)
    if not ok or not math.isfinite(float(budget)) or not 0 < float(budget) <= 1:  # type: ignore[arg-type]
        raise UsageError(
            f"watch budget {budget!r} is not a fraction of the training time in (0, 1] "
            "(0.05: at most 5%)"
        )
    return float(budget)  # type: ignore[arg-type]


def units(analyses: tuple[str, ...]) -> tuple[tuple[str, ...], list[tuple[str, ...]]]:
    """The cheap analyses, and the expensive ones in groups that run as one call each
    (activations and gradients together: they share a forward pass)."""
    cheap = tuple(a for a in analyses if a in CHEAP)
    groups: list[tuple[str, ...]] = []
    evaluation = tuple(a for a in analyses if a in EVALUATION)
    for name in analyses:
        if name in CHEAP:
            continue
        if name in EVALUATION:
            if name == evaluation[0]:
                groups.append(evaluation)
            continue
        groups.append((name,))
    return cheap, groups


@dataclass
class TimeBudget:
    """Seconds of training and of the watcher's own work, and each group's last cost."""

    fraction: float = DEFAULT_FRACTION
    training: float = 0.0
    spent: float = 0.0
    costs: dict[tuple[str, ...], float] = field(default_factory=dict)

    @property
    def allowance(self) -> float:
        """The watcher's seconds allowed so far."""
        return self.fraction * self.training

    def fits(self, group: tuple[str, ...], running: float = 0.0) -> bool:
        """Whether running ``group`` now keeps the watcher within its budget (``running``:
        seconds of the watcher's current work not yet in ``spent``)."""
        spent = self.spent + running
        cost = self.costs.get(group)
        if cost is None:  # never run: once, while under budget, to measure it
            return spent < self.allowance
        return spent + cost <= self.allowance

    def share(self) -> float:
        """The watcher's time as a fraction of the training's (0 before any training)."""
        return self.spent / self.training if self.training > 0 else 0.0
