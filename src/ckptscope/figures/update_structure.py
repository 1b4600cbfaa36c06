"""The update-structure figure: correlations between the update sizes of all matrices.

Rows: :func:`ckptscope.views.update_structure.update_correlations` over the
``rel_dist_prev_per_step`` rows (derivation ``update_rates``); drawing:
:mod:`ckptscope.plots.correlations`. A static file and an interactive figure per model.
"""

from __future__ import annotations

import pandas as pd
from matplotlib.figure import Figure, FigureBase

from ckptscope.errors import UsageError
from ckptscope.figures.catalogue import FigureSpec, Query, register
from ckptscope.figures.rows import per
from ckptscope.plots.correlations import corr_figure, corr_grid
from ckptscope.plots.plotly_specs import Spec
from ckptscope.store import Store
from ckptscope.views.update_structure import MIN_POINTS, update_correlations, update_rows

FIG_ID = "update_corr"
OPTIONS = (
    ("window", f"also a heatmap per run of this many consecutive checkpoints (>= {MIN_POINTS}; "
               "default: none, only the whole run and its early and late halves)"),
    ("log", "correlate log update sizes (default true: they span orders of magnitude)"),
    ("detrend", "subtract each checkpoint's mean over the matrices first, i.e. the shared "
                "learning-rate schedule (default true; false: the raw sizes)"),
)  # fmt: skip


def _rows(store: Store, q: Query) -> pd.DataFrame:
    log, detrend = q.option("log", True), q.option("detrend", True)
    for name, value in (("log", log), ("detrend", detrend)):
        if not isinstance(value, bool):
            raise UsageError(f"option {name}: true or false, got {value!r}")
    return update_correlations(update_rows(store, q.models), window=q.option("window"), log=log,
                               detrend=detrend)  # fmt: skip


def _title(rows: pd.DataFrame, q: Query) -> str:
    scale = "log " if q.option("log", True) else ""
    shared = ", each step's mean over matrices removed" if q.option("detrend", True) else ""
    return (f"{FIG_ID}: correlation of {scale}update sizes per step between matrices"
            f"{shared}, {rows.model.iloc[0]}")  # fmt: skip


def _static(part: pd.DataFrame, q: Query, into: FigureBase | None = None) -> Figure:
    return corr_grid(part, _title(part, q), into)


def _interactive(part: pd.DataFrame, q: Query) -> Spec:
    return corr_figure(part, _title(part, q))


register(FigureSpec(
    FIG_ID, "Update structure: correlation of update sizes across matrices", "weights",
    "Not a figure of the post (asked for in its comments): the Pearson correlation, over "
    "checkpoints, between the per-step update sizes (relative distance from the previous "
    "checkpoint per step; derivation update_rates) of every pair of matrices, for the whole "
    "run and its early and late halves (by checkpoint count). Log sizes by default. A "
    "checkpoint missing any matrix's value is left out of that window. All matrices share "
    "the learning-rate schedule, so the raw sizes correlate near 1: by default each step's "
    "mean over matrices is removed first, to show which ones move together beyond it "
    "(option detrend=false: the raw sizes).",
    "weights",
    "scalars: rel_dist_prev_per_step (matrices, per block), correlated per window", _rows,
    _static, _interactive, files=lambda r: per(r, "model", f"{FIG_ID}_"),
    views=lambda r: per(r, "model"), options=OPTIONS))  # fmt: skip
