"""The norm-extrapolation figure: each weight norm fitted on its early steps, predicted after.

Rows: the curves of :func:`ckptscope.views.extrapolation.extrapolate_norms` with each
trajectory's error at the last step; drawing: :mod:`ckptscope.plots.extrapolation`. The
table itself is ``ckptscope.views.extrapolate_norms`` (and ``ckptscope extrapolate STORE``).
"""

from __future__ import annotations

import pandas as pd
from matplotlib.figure import Figure, FigureBase

from ckptscope.figures.catalogue import FigureSpec, Query, register
from ckptscope.figures.rows import per
from ckptscope.plots.extrapolation import extrapolation_figure, extrapolation_grid
from ckptscope.plots.plotly_specs import Spec
from ckptscope.plots.style import safe_name
from ckptscope.store import Store
from ckptscope.views.extrapolation import (
    DEFAULT_FRACTION,
    extrapolate_norms,
    norm_rows,
    stored_curves,
)

FIG_ID = "norm_extrap"
OPTIONS = (
    ("fit_fraction", "the share of the training steps (from the first checkpoint) the curve is "
                     f"fitted on (default {DEFAULT_FRACTION}); the rest is predicted"),
)  # fmt: skip


def _rows(store: Store, q: Query) -> pd.DataFrame:
    rows = norm_rows(store, q.models)
    if rows.empty:
        return rows
    fraction = q.option("fit_fraction", DEFAULT_FRACTION)
    if fraction == DEFAULT_FRACTION:  # fitted once after the sweep (analyses/norm_extrap.py)
        stored = stored_curves(store, rows, q.models)
        if stored is not None:
            return stored
    table, curves = extrapolate_norms(rows, fraction)
    keys = ["suite", "model", "component", "block", "param"]  # a run's own trajectories
    errors = table[[*keys, "rel_error_last"]]
    curves = curves.assign(block=curves.block.astype("float64"))
    return curves.merge(errors.assign(block=errors.block.astype("float64")), on=keys, how="left")


def _title(part: pd.DataFrame, q: Query) -> str:
    share = float(q.option("fit_fraction", DEFAULT_FRACTION))
    return (f"{FIG_ID}: weight norms, measured and extrapolated from the first {share:.0%} of "
            f"training, {part.model.iloc[0]}")  # fmt: skip


def _static(part: pd.DataFrame, q: Query, into: FigureBase | None = None) -> Figure:
    return extrapolation_grid(part, _title(part, q), log_steps=q.log_steps, into=into)


def _interactive(part: pd.DataFrame, q: Query) -> Spec:
    return extrapolation_figure(part, _title(part, q), q.log_steps)


register(FigureSpec(
    FIG_ID, "Norm extrapolation: fitted on the early steps, predicted for the rest", "weights",
    "Not a figure of the post (asked for in its comments): each weight-matrix norm fitted "
    "on its first part (default: half of the training steps, shaded) with the curve "
    "a + b (t/c)^p exp(-t/c) (a power-law rise times a weight-decay exponential: rise, peak "
    "at t = p c, decline) and predicted for the rest (dashed); the panel titles give the "
    "worst relative error at the last step. A fit that fails is drawn without a prediction.",
    "weights", "scalars: norm (weight matrices), fitted per trajectory", _rows, _static,
    _interactive, files=lambda r: [(f"{FIG_ID}_{safe_name(m)}", p) for m, p in per(r, "model")],
    views=lambda r: per(r, "model"), options=OPTIONS))  # fmt: skip
