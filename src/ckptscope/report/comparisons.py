"""The report's comparison section: groups of runs that can be set side by side.

Two groups are comparable when they have the same size and either the same suite and
another variant (``160m`` and ``160m-deduped``) or another suite and the same variant
(``demo/w64`` and ``demoB/w64``). For each such pair (at most :data:`MAX_PAIRS`) the
section shows :func:`ckptscope.groups.compare`'s summary of where the groups differ beyond
the seed spread, and its interactive panels (a, b, b - a) for one metric.

A pair where a group has one seed is still shown (Pythia's ``160m`` and ``160m-deduped``
have one each, and where they differ is worth seeing), but its wording says so
(:func:`seed_caveat`): with no seed spread, every nonzero difference is listed and none
is weighed against seed noise.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from ckptscope.errors import CkptscopeError, UsageError
from ckptscope.groups import STANDARD, ModelGroup, compare, model_groups

log = logging.getLogger(__name__)

#: the most pairs of groups a report compares
MAX_PAIRS = 4
#: the metric the interactive panels show when the store has it
METRIC = "norm"


@dataclass
class ComparisonView:
    """One pair of groups: title, summary table, its interactive spec (None: no rows)."""

    a: str
    b: str
    seeds: str
    summary: pd.DataFrame
    metric: str | None = None
    spec: dict[str, Any] | None = None
    notes: list[str] = field(default_factory=list)
    #: :func:`seed_caveat` for a pair where a group has one seed (None: both have two or more)
    caveat: str | None = None


def seed_caveat(a: str, b: str, n_a: int, n_b: int) -> str | None:
    """What a comparison of groups of ``n_a`` and ``n_b`` seeds cannot say: None when both
    have two or more (their spread is what differences are weighed against)."""
    if n_a >= 2 and n_b >= 2:
        return None
    who = "one seed each" if n_a < 2 and n_b < 2 else f"{a if n_a < 2 else b} has one seed"
    return (f"{who}: differences are listed but cannot be weighed against seed spread "
            "(a single seed's spread is 0, so every nonzero difference counts)")  # fmt: skip


def comparable(groups: list[ModelGroup]) -> list[tuple[str, str]]:
    """Pairs of comparable groups (see the module docstring): the standard variant, or the
    first suite by name, as ``a``."""
    keys = sorted({g.key for g in groups}, key=lambda k: (k[1], k[2] != STANDARD, k))
    name = {g.key: g.group for g in groups}
    pairs = []
    for i, (s1, z1, v1) in enumerate(keys):
        for s2, z2, v2 in keys[i + 1 :]:
            if z1 == z2 and ((s1 == s2) != (v1 == v2)):
                pairs.append((name[(s1, z1, v1)], name[(s2, z2, v2)]))
    return pairs


def comparison_views(store: Any, groups_file: str | None = None) -> list[ComparisonView]:
    """The comparisons of ``store``'s comparable groups (none: an empty list)."""
    try:  # compare refuses a store whose model names collide: no comparisons, the rest drawn
        groups = model_groups(store, groups_file)
    except UsageError as err:
        log.warning("no comparisons across runs: %s", err)
        return []
    out = []
    for a, b in comparable(groups)[:MAX_PAIRS]:
        try:
            c = compare(store, a, b, groups_file=groups_file)
        except (CkptscopeError, ValueError, KeyError) as err:
            log.warning("comparing %s and %s failed: %s", a, b, err)
            continue
        seeds = f"{len(c.seeds_a)} and {len(c.seeds_b)} seeds"
        view = ComparisonView(c.a, c.b, seeds, c.summary,
                              caveat=seed_caveat(c.a, c.b, len(c.seeds_a), len(c.seeds_b)))  # fmt: skip
        metrics = c.metrics()
        if metrics:
            view.metric = METRIC if METRIC in metrics else metrics[0]
            try:
                view.spec = c.interactive(view.metric)
            except (ValueError, KeyError) as err:
                view.notes.append(f"{a} vs {b}: could not draw: {err}")
        out.append(view)
    return out
