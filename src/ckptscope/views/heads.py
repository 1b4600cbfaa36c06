"""Per-head metrics against step: heads ranked by a chosen metric, outlier heads marked.

The ``spectra`` analysis writes the spectral metrics of every head (see
:mod:`ckptscope.analyses.spectra`): of its Q, K and V slices (components ``q``, ``k``,
``v``, param ``weight``) and of its OV and QK circuits (``ov``, ``qk``, param
``circuit``), one row per (suite, model, step, component, block, head, metric). This module
turns those rows into what the per-head figures draw, each (suite, model) on its own (two
suites may share a model name; their heads are never ranked or compared together):

- ``rank``: the head's place within its (suite, model, component, block) by the ``sort_by``
  metric at the last step that metric has there, 0 for the largest value;
- ``robust_z`` and ``outlier``: per (suite, model, step, component, block, metric), across that
  block's heads, ``|x - median| > k * 1.4826 * MAD`` (:mod:`ckptscope.stats.robust`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from ckptscope.errors import UsageError
from ckptscope.stats.robust import DEFAULT_K, robust_z_rows
from ckptscope.views.components import RUN

#: per-head components by figure: circuits and Q/K/V slices
CIRCUITS = ("ov", "qk")
QKV = ("q", "k", "v")
#: the metric drawn when none is chosen: the largest singular value (the head's top gain)
DEFAULT_METRIC = "spectral_norm"
_BLOCK = [*RUN, "component", "block", "param"]


def head_rows(store: Any, components: Sequence[str], metrics: Sequence[str],
              models: Sequence[str] | None = None) -> pd.DataFrame:  # fmt: skip
    """Per-head scalar rows (``head`` set) of these components and metrics."""
    where: dict[str, Any] = {"component": list(components), "metric": list(metrics)}
    if models:
        where["model"] = list(models)
    df = store.scalars(**where)
    return df[df["head"].notna()].reset_index(drop=True)


def head_metrics(store: Any, components: Sequence[str]) -> list[str]:
    """The metrics a store holds per head for these components (for error messages)."""
    names = ", ".join(f"'{c}'" for c in components if c.isidentifier())
    df = store.query(
        f"SELECT DISTINCT metric FROM scalars WHERE head IS NOT NULL AND component IN ({names})"
    )
    return sorted(df["metric"].astype(str))


def rank_heads(rows: pd.DataFrame, sort_by: str) -> pd.DataFrame:
    """(suite, model, component, block, param, head, rank): heads by ``sort_by`` at its last
    step."""
    sel = rows[(rows.metric == sort_by) & np.isfinite(rows.value.astype(np.float64))]
    if sel.empty:
        return pd.DataFrame(columns=[*_BLOCK, "head", "rank"])
    last = sel.groupby(_BLOCK, dropna=False)["step"].transform("max")
    at_last = sel[sel.step == last].sort_values([*_BLOCK, "value", "head"],
                                                 ascending=[True] * len(_BLOCK) + [False, True])  # fmt: skip
    at_last = at_last.assign(rank=at_last.groupby(_BLOCK, dropna=False).cumcount())
    return at_last[[*_BLOCK, "head", "rank"]].reset_index(drop=True)


def mark_heads(rows: pd.DataFrame, sort_by: str, k: float = DEFAULT_K) -> pd.DataFrame:
    """``rows`` with ``rank``, ``robust_z`` and ``outlier`` (see the module docstring).

    ``rows`` must hold the ``sort_by`` metric's rows too; heads without a value of it at
    the last step rank after the others, by head index.
    """
    if not (np.isfinite(k) and k > 0):
        raise UsageError(f"option outlier_k: must be a positive number, got {k!r}")
    if rows.empty:
        return rows.assign(rank=pd.Series(dtype="int64"), robust_z=pd.Series(dtype="float64"),
                           outlier=pd.Series(dtype=bool))  # fmt: skip
    out = rows.reset_index(drop=True).copy()
    z = np.full(len(out), np.nan)
    # groups: one block's heads at one step, as runs of positions sorted by group
    codes = out.groupby([*_BLOCK, "metric", "step"], dropna=False, sort=False).ngroup()
    codes = codes.to_numpy(np.int64)
    order = np.argsort(codes, kind="stable")
    starts = np.flatnonzero(np.r_[True, np.diff(codes[order]) != 0])
    sizes = np.diff(np.r_[starts, len(order)])
    values = out["value"].to_numpy(np.float64)
    for size in np.unique(sizes):  # every group of one size in one vectorised call
        at = order[starts[sizes == size][:, None] + np.arange(size)]
        z[at] = robust_z_rows(values[at])
    outlier = np.abs(np.nan_to_num(z, nan=0.0)) > k  # mad_outliers' rule on the same z
    out["robust_z"] = z
    out["outlier"] = outlier
    ranks = rank_heads(out, sort_by)
    keys = [*_BLOCK, "head"]
    out = out.merge(ranks, on=keys, how="left")
    fallback = out.groupby(_BLOCK, dropna=False)["rank"].transform("max").fillna(-1) + 1
    out["rank"] = out["rank"].fillna(fallback + out["head"].astype(np.float64)).astype("int64")
    return out
