"""The post's findings as measured verdicts: which of them a suite reproduces, with evidence.

``findings(store)`` runs every registered check (one module per family: ``weights``,
``activations``, ``spectra``) and returns one row per (finding, model): ``finding``,
``figure``, ``claim`` (the post's, quoted), ``model``, ``verdict`` (reproduced,
not_reproduced, inconclusive, no_data), ``evidence`` (numbers and steps) and
``thresholds`` (JSON), and the model's ``group`` and ``seed`` (:mod:`ckptscope.groups`;
a size comparison's group is ``(all sizes)``, its seed empty). :func:`seed_shares` gives,
per group, how many of its seeds with data reproduce each finding ("F7: 5/5 seeds",
"F7: 1/2 seeds (1 inconclusive)", "no data" when no seed was swept for it).
docs/findings.md lists the checks and their thresholds; docs/comparisons.md the groups.
"""

from __future__ import annotations

import contextlib
import sys
import types
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from ckptscope.findings import activations, spectra, weights  # (importing registers)
from ckptscope.findings.base import (
    ALL_SIZES,
    FINDINGS,
    Finding,
    Outcome,
    Thresholds,
    Verdict,
)
from ckptscope.findings.data import FindingData, ScalarReader

#: every metric the registered checks read, fetched in one scan
READS = (*weights.METRICS, *activations.METRICS, *spectra.METRICS)
COLUMNS = ["finding", "figure", "claim", "model", "verdict", "evidence", "thresholds", "group",
           "seed"]  # fmt: skip
SHARE_COLUMNS = ["finding", "group", "seeds", "with_data", "reproduced", "inconclusive", "share"]


def findings(
    store: ScalarReader,
    models: Sequence[str] | None = None,
    thresholds: Thresholds | None = None,
    missing: str | None = None,
    groups_file: str | Path | None = None,
) -> pd.DataFrame:
    """Every finding's verdict per model, i.e. per seed (and per suite for size comparisons).

    ``missing`` replaces the sweep hint of ``no_data`` verdicts (for a shipped dataset);
    ``groups_file`` groups models whose names do not say their seed (docs/comparisons.md).
    """
    pinned = getattr(store, "pinned", None)  # a Store: one scan and connection for every read
    with pinned() if pinned else contextlib.nullcontext():
        return _findings(store, models, thresholds, missing, groups_file)


def _findings(
    store: ScalarReader,
    models: Sequence[str] | None,
    thresholds: Thresholds | None,
    missing: str | None,
    groups_file: str | Path | None,
) -> pd.DataFrame:
    from ckptscope.groups import model_groups

    # a bad groups file: refused before any read of the checks' rows; colliding names:
    # groups of their own
    groups = model_groups(store, groups_file, split_collisions=True)
    data = FindingData(store, models, missing, prefetch=READS)
    th = thresholds or Thresholds()
    everyone = data.all_models()
    rows = []
    for finding in sorted(FINDINGS.values(), key=_order):
        outcomes = finding.check(data, th)
        seen = {o.model for o in outcomes}
        if ALL_SIZES not in seen:  # a model without the rows gets its own no_data line
            hint = "no rows; " + (
                missing or f"run `ckptscope sweep SUITE --analyses {finding.analysis} --out STORE`"
            )
            outcomes += [
                finding.outcome(m, Verdict.NO_DATA, hint) for m in everyone if m not in seen
            ]
        rows += [o.as_row() for o in outcomes]
    of = {(f"{g.suite}/{g.model}" if data.several_suites else g.model): g for g in groups}
    for row in rows:
        g = of.get(row["model"])
        row["group"] = g.group if g else row["model"]
        row["seed"] = g.seed if g else None
    return pd.DataFrame(rows, columns=COLUMNS).astype({"seed": "Int64"})


def seed_shares(df: pd.DataFrame) -> pd.DataFrame:
    """Per finding and group of seeds: how many seeds it has (``seeds``), how many have data
    for the finding (``with_data``: a verdict other than no_data), how many reproduce it and
    how many are inconclusive, and the share as text.

    The share's denominator is the seeds with data: a seed never swept for the finding's
    analysis says nothing about it, so it is not counted against the finding. Inconclusive
    seeds have data and are counted, and named: ``"1/2 seeds (1 inconclusive)"``; seeds
    without data are named too (``"2/2 seeds (1 no data)"``), and a group with none says
    ``"no data"``. Size comparisons (one row per suite) are left out.
    """
    if df.empty or "group" not in df:
        return pd.DataFrame(columns=SHARE_COLUMNS)
    seeds = df[df["model"] != ALL_SIZES]
    out = []
    for (finding, group), part in seeds.groupby(["finding", "group"], sort=False):
        verdicts = part["verdict"].astype(str)
        n = len(part)
        with_data = int((verdicts != str(Verdict.NO_DATA)).sum())
        k = int((verdicts == str(Verdict.REPRODUCED)).sum())
        unsure = int((verdicts == str(Verdict.INCONCLUSIVE)).sum())
        out.append((finding, group, n, with_data, k, unsure, share_text(n, with_data, k, unsure)))
    return pd.DataFrame(out, columns=SHARE_COLUMNS)


def share_text(seeds: int, with_data: int, reproduced: int, inconclusive: int) -> str:
    """``"k/n seeds"`` over the seeds with data, naming inconclusive seeds and seeds without
    data; ``"no data"`` when no seed has any."""
    if with_data == 0:
        return "no data"
    notes = [f"{inconclusive} inconclusive"] if inconclusive else []
    if seeds > with_data:
        notes.append(f"{seeds - with_data} no data")
    return f"{reproduced}/{with_data} seeds" + (f" ({', '.join(notes)})" if notes else "")


def _order(finding: Finding) -> tuple[int, str]:
    """The post's figure order (F1 ... F16), a claim's parts after it."""
    number = finding.figure.removeprefix("F")
    return (int(number) if number.isdigit() else 99, finding.id)


class _CallableModule(types.ModuleType):
    """``ckptscope.findings(store)`` calls :func:`findings`: once this package is imported,
    ``ckptscope.findings`` is the package itself, so the package is made callable."""

    def __call__(self, *args: Any, **kwargs: Any) -> pd.DataFrame:
        return findings(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule

__all__ = [
    "ALL_SIZES",
    "COLUMNS",
    "FINDINGS",
    "Finding",
    "Outcome",
    "Thresholds",
    "Verdict",
    "findings",
    "seed_shares",
]
