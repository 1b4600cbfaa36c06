"""Two groups side by side: their curves, the difference b - a, and where it is real.

``compare(store, a="demo/w64", b="demoB/w64")`` reads the scalar rows of both groups'
seeds (whole tensors, numbers only) and gives a :class:`Comparison`:

* ``rows``: per side (``a``, ``b``), tensor, metric and step, the mean over the group's
  seeds, ``lo``/``hi`` (lowest and highest seed) and ``n_seeds``;
* ``diff``: on the steps both groups have, ``diff = mean_b - mean_a``, each group's
  ``spread`` (highest seed minus lowest seed at that step: 0 for a single seed) and
  ``beyond``;
* ``summary``: each run of consecutive common steps where a tensor's metric differs
  beyond the seed spread.

The rule: a (component, block, param, metric) differs at a step when
``|mean_b - mean_a| > max(spread_a, spread_b)``, i.e. the two means lie further apart
than either group's seeds do from each other. A group of one seed has spread 0, so every
nonzero difference counts: compare groups of two or more seeds for a test against seed
noise. Identical groups differ nowhere.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ckptscope.errors import UsageError
from ckptscope.groups.bands import seed_stats
from ckptscope.groups.naming import ModelGroup
from ckptscope.groups.runs import Queryable, model_groups

if TYPE_CHECKING:
    from matplotlib.figure import Figure

TENSOR = ["component", "block", "param", "metric"]
SUMMARY_COLUMNS = ["component", "block", "param", "metric", "first_step", "last_step",
                   "steps", "max_abs_diff", "at_step", "mean_a", "mean_b", "spread"]  # fmt: skip


@dataclass(frozen=True)
class Comparison:
    """Two groups' curves, their difference and where it exceeds the seed spread."""

    a: str
    b: str
    seeds_a: tuple[str, ...]
    seeds_b: tuple[str, ...]
    rows: pd.DataFrame
    diff: pd.DataFrame
    summary: pd.DataFrame

    def metrics(self) -> list[str]:
        """The metrics compared."""
        return sorted(set(self.diff["metric"])) if len(self.diff) else []

    def figure(self, metric: str | None = None) -> Figure:
        """Panels of group a, group b and b - a for one metric (default: the first)."""
        from ckptscope.plots.compare import compare_grid

        metric = self._metric(metric)
        return compare_grid(self._of(self.rows, metric), self._of(self.diff, metric),
                            self.a, self.b, metric)  # fmt: skip

    def interactive(self, metric: str | None = None) -> dict[str, Any]:
        """The plotly spec (plain dicts) of :meth:`figure`."""
        from ckptscope.plots.compare import compare_spec

        metric = self._metric(metric)
        return compare_spec(self._of(self.rows, metric), self._of(self.diff, metric),
                            self.a, self.b, metric)  # fmt: skip

    def _metric(self, metric: str | None) -> str:
        known = self.metrics()
        if not known:
            raise UsageError(f"{self.a} and {self.b} share no steps of any metric")
        if metric is None:
            return "norm" if "norm" in known else known[0]
        if metric not in known:
            raise UsageError(f"metric {metric!r} not compared; metrics: {', '.join(known)}")
        return metric

    @staticmethod
    def _of(df: pd.DataFrame, metric: str) -> pd.DataFrame:
        return df[df["metric"] == metric]


def resolve_group(option: str, name: str, groups: list[ModelGroup]) -> list[ModelGroup]:
    """The seeds of the group ``name`` (``suite/label``, or a label unique in the store)."""
    exact = [g for g in groups if g.group == name]
    if exact:
        return exact
    by_label = [g for g in groups if g.label == name]
    suites = sorted({g.suite for g in by_label})
    if len(suites) > 1:
        raise UsageError(
            f"{option} {name!r} is in several suites; name one: "
            + ", ".join(f"{s}/{name}" for s in suites)
        )
    if not by_label:
        known = ", ".join(sorted({g.group for g in groups})[:20]) or "none"
        raise UsageError(f"{option}: no group {name!r} in the store; groups: {known}")
    return by_label


def compare(
    store: Queryable,
    a: str,
    b: str,
    *,
    metrics: str | Iterable[str] | None = None,
    groups_file: str | Path | None = None,
) -> Comparison:
    """Compare groups ``a`` and ``b`` of ``store`` (see the module docstring for the rule).

    ``metrics``: scalar metrics to compare (default: every metric both groups have).
    Names are checked first: an unknown group or metric is refused in one line.
    """
    groups = model_groups(store, groups_file)
    side_a, side_b = resolve_group("--a", a, groups), resolve_group("--b", b, groups)
    if side_a[0].group == side_b[0].group:
        raise UsageError(f"--a and --b name the same group {side_a[0].group!r}")
    wanted = [metrics] if isinstance(metrics, str) else list(metrics or [])
    wanted = [m.strip() for w in wanted for m in w.split(",") if m.strip()]
    frames = {"a": _read(store, side_a), "b": _read(store, side_b)}
    have = set(frames["a"]["metric"]) & set(frames["b"]["metric"])
    missing = [m for m in wanted if m not in have]
    if missing:
        listing = ", ".join(sorted(have)[:30]) or "none"
        raise UsageError(f"--metric {missing[0]!r}: not in both groups; shared: {listing}")
    keep = set(wanted) if wanted else have
    sides = {s: _per_step(f[f["metric"].isin(keep)]) for s, f in frames.items()}
    rows = pd.concat([p.assign(side=s) for s, p in sides.items()], ignore_index=True)
    diff = _difference(sides["a"], sides["b"])
    return Comparison(side_a[0].group, side_b[0].group,
                      tuple(g.model for g in side_a), tuple(g.model for g in side_b),
                      rows, diff, summarise(diff))  # fmt: skip


def _sql_text(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _read(store: Queryable, seeds: list[ModelGroup]) -> pd.DataFrame:
    """The seeds' numeric whole-tensor scalar rows."""
    pairs = " or ".join(f"(suite = {_sql_text(g.suite)} and model = {_sql_text(g.model)})"
                        for g in seeds)  # fmt: skip
    df = store.query(
        "select model, step, component, block, param, metric, value from scalars "
        f"where head is null and value is not null and ({pairs})"
    )
    df = df.assign(value=df["value"].astype(np.float64), param=df["param"].fillna(""))
    return df[np.isfinite(df["value"])]


def _per_step(df: pd.DataFrame) -> pd.DataFrame:
    """Mean, lowest and highest seed and the seed count per tensor, metric and step
    (:func:`~.bands.seed_stats`; a seed with two rows of one key, never in a sweep, counts
    once, at its mean)."""
    stats = seed_stats(df, [*TENSOR, "step"], seed="model")
    return stats.drop(columns=["sd"]).rename(columns={"n": "n_seeds"})


def _difference(a: pd.DataFrame, b: pd.DataFrame) -> pd.DataFrame:
    """b - a on the steps both have, with each side's spread and whether it is beyond."""
    both = a.merge(b, on=[*TENSOR, "step"], suffixes=("_a", "_b"))
    out = both[[*TENSOR, "step", "mean_a", "mean_b"]].copy()
    out["diff"] = both["mean_b"] - both["mean_a"]
    out["spread_a"] = both["hi_a"] - both["lo_a"]
    out["spread_b"] = both["hi_b"] - both["lo_b"]
    out["beyond"] = out["diff"].abs() > np.maximum(out["spread_a"], out["spread_b"])
    return out.sort_values([*TENSOR, "step"], na_position="first").reset_index(drop=True)


def summarise(diff: pd.DataFrame) -> pd.DataFrame:
    """Each run of consecutive common steps where a tensor's metric differs beyond the spread:
    its steps, the largest |b - a| and where, both means and the larger spread there."""
    out = []
    for key, curve in diff.groupby(TENSOR, dropna=False, sort=True):
        curve = curve.sort_values("step")
        flags = curve["beyond"].to_numpy(bool)
        if not flags.any():
            continue
        run_id = np.cumsum(np.r_[True, flags[1:] != flags[:-1]])  # consecutive equal flags
        for rid in np.unique(run_id[flags]):
            run = curve[(run_id == rid) & flags]
            top = run.loc[run["diff"].abs().idxmax()]
            out.append((*key, int(run["step"].iloc[0]), int(run["step"].iloc[-1]), len(run),
                        abs(float(top["diff"])), int(top["step"]), float(top["mean_a"]),
                        float(top["mean_b"]), float(max(top["spread_a"], top["spread_b"]))))  # fmt: skip
    df = pd.DataFrame(out, columns=SUMMARY_COLUMNS)
    if len(df):
        df["block"] = df["block"].astype("Int64")
    return df
