"""A group's seeds as one line: the mean over seeds at each step, with a band.

The data layer of line figures (plots only draw): :func:`seed_bands` turns the rows of
every group with two or more chosen seeds into one row per (group, tensor, metric, step)
with ``value`` the mean over the seeds that have that step and ``lo``/``hi`` the band:

* ``minmax``: ``lo`` the lowest seed, ``hi`` the highest;
* ``sd``: mean -+ one sample standard deviation (ddof=1; no band where one seed has
  the step).

Rows of other models stay as they are (``lo``/``hi`` NaN, ``n_seeds`` 1). Every model is
relabelled for the figure (:meth:`~.runs.Runs.label`): ``suite/model`` when the figure
holds several suites, so two suites' models of one name are never one line. Fits at
their bound (``gaussian_like``) are marked, not averaged; phase changes found on any
seed are kept as one mark on the mean line, their message naming the seed.

:func:`seed_stats` is the one aggregation over seeds (mean, lowest, highest, sample sd and
count per key) that these bands, the loss-curve bands of the experiments
(:func:`ckptscope.experiments.curves.seed_bands`) and the group comparison
(:func:`ckptscope.groups.compare`) share.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from ckptscope.groups.runs import Runs

#: the columns a line is keyed on, besides the step
_KEYS = ["model", "suite", "component", "block", "param", "head", "metric", "step"]
BAND_NAMES = {"minmax": "min-max over seeds", "sd": "mean ± 1 sd over seeds"}
#: what :func:`seed_stats` gives per key
STATS = ["mean", "lo", "hi", "sd", "n"]


def seed_stats(rows: pd.DataFrame, keys: Sequence[str], value: str = "value",
               seed: str | None = None) -> pd.DataFrame:  # fmt: skip
    """Per value of ``keys`` (a null key is a value too), over the seeds' rows of it:
    ``mean``, ``lo`` (lowest), ``hi`` (highest), ``sd`` (sample standard deviation, ddof=1:
    NaN for one seed) and ``n`` (seeds), all in float64, sorted by ``keys``.

    A NaN ``value`` is no seed's value (a key with none has no row). With ``seed`` (a
    column naming each row's seed), a seed with several rows of one key counts once, at
    their mean.
    """
    keys = list(keys)
    rows = rows[rows[value].notna()]
    if rows.empty:
        return pd.DataFrame(columns=[*keys, *STATS])
    rows = rows.assign(**{value: rows[value].astype(np.float64)})
    if seed is not None:
        rows = rows.groupby([seed, *keys], dropna=False)[value].mean().reset_index()
    grouped = rows.groupby(keys, dropna=False, sort=True)[value]
    return grouped.agg(mean="mean", lo="min", hi="max", sd="std", n="size").reset_index()


def _with_keys(df: pd.DataFrame) -> pd.DataFrame:
    for col in _KEYS:
        if col not in df:
            df = df.assign(**{col: None})
    return df


def seed_bands(rows: pd.DataFrame, runs: Runs) -> pd.DataFrame:
    """``rows`` with each seed group as its mean and band (see the module docstring)."""
    seeds = runs.seed_groups()
    pairs = list(zip(rows["suite"].astype(str), rows["model"].astype(str), strict=True))
    target = pd.Series([seeds.get(p) for p in pairs], index=rows.index, dtype=object)
    alone = rows[target.isna()]
    alone = alone.assign(
        model=[runs.label(s, m) for s, m in zip(alone["suite"], alone["model"], strict=True)],
        lo=np.nan, hi=np.nan, n_seeds=1, band="",
    )  # fmt: skip
    if target.notna().sum() == 0:
        return alone.reset_index(drop=True)
    multi = _with_keys(rows[target.notna()].assign(seed_model=rows["model"], model=target))
    multi = multi[multi["value"].notna()]
    bound = (
        multi["gaussian_like"].fillna(False).astype(bool)
        if "gaussian_like" in multi
        else pd.Series(False, index=multi.index)
    )
    parts = [alone, _mean_band(multi[~bound], runs.band)]
    if bound.any():
        at = multi[bound].groupby(_KEYS, dropna=False, sort=False)
        at_bound = at["value"].agg(["mean", "size"]).reset_index()
        at_bound = at_bound.rename(columns={"mean": "value", "size": "n_seeds"})
        parts.append(at_bound.assign(gaussian_like=True, lo=np.nan, hi=np.nan, band=""))
    out = pd.concat([p for p in parts if len(p)], ignore_index=True)
    return out if len(out) else alone.reset_index(drop=True)


def _mean_band(line: pd.DataFrame, band: str) -> pd.DataFrame:
    """One row per (group, tensor, metric, step): mean, lo, hi, n_seeds, events."""
    if line.empty:
        return line
    # float64 statistics over the seeds at each step (the mean line and its band)
    agg = seed_stats(line, _KEYS).rename(columns={"mean": "value", "n": "n_seeds"})
    if band == "sd":
        agg["lo"], agg["hi"] = agg["value"] - agg["sd"], agg["value"] + agg["sd"]
    agg = agg.drop(columns=["sd"]).assign(band=BAND_NAMES[band])
    if "event" in line:
        ev = line[line["event"].notna()]
        if len(ev):
            text = ev.assign(event=ev["seed_model"].astype(str) + ": " + ev["event"].astype(str))
            joined = text.groupby(_KEYS, dropna=False, sort=False)["event"].agg("; ".join)
            agg = agg.merge(joined.reset_index(), on=_KEYS, how="left")
        else:
            agg = agg.assign(event=None)
    if "gaussian_like" in line:
        agg = agg.assign(gaussian_like=False)
    return agg
