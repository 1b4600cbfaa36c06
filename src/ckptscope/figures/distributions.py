"""Weight-distribution figures: F1 histograms, F2 QQ plots, tail parameters (``tails``, ``fits``).

Drawing only: histograms, QQ quantiles and fitted parameters were computed by
:mod:`ckptscope.analyses.distributions`; here rows are selected, thinned and drawn.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from matplotlib.artist import Artist
from matplotlib.figure import FigureBase
from matplotlib.lines import Line2D

from ckptscope.figures.catalogue import FigureSpec, Query, register, still
from ckptscope.figures.kinds import hist_spec, line_spec
from ckptscope.figures.rows import per, thinned_arrays
from ckptscope.names import component_name
from ckptscope.plots.animation import Animation
from ckptscope.plots.plotly_specs import (
    Spec,
    animate,
    at_step,
    axis_ref,
    grid,
    plot_text,
    set_axes,
    typed,
)
from ckptscope.plots.style import PALETTE, depth_color, latest, log_ticks, panels
from ckptscope.stats.families import NU_MAX
from ckptscope.store import Store

#: the weight matrices F1, F2 and the tail figures show, in the post's order
MATRICES = ("qkv", "attn_out", "mlp_in", "mlp_out")
QQ_KINDS = (("qq_gaussian", "Gaussian"), ("qq_logistic", "logistic"),
            ("qq_power_law", "power law (|x| tail)"))  # fmt: skip
TAIL_METRICS = ("t_nu", "gennorm_beta", "quartic_g", "kurtosis")
#: fits at the bound that means "no heavier tail than a Gaussian": metric -> band side
GAUSSIAN_BANDS = {"t_nu": "top", "quartic_g": "bottom"}
BOUND_NOTE = (" A Student-t nu at its cap (NU_MAX, stats/families.py) or a quartic g of 0 is "
              "drawn as a marker on the band labelled Gaussian-like, not as a value.")  # fmt: skip


def mark_bounds(store: Store, q: Query, rows: pd.DataFrame) -> pd.DataFrame:
    """Rows with ``gaussian_like``: nu at its cap, or a quartic g of 0 (display selection)."""
    at_cap = (rows.metric == "t_nu") & (rows.value >= NU_MAX * (1 - 1e-3))
    return rows.assign(gaussian_like=at_cap | ((rows.metric == "quartic_g") & (rows.value <= 0)))


hist_spec("F1", "Weight histograms over training, all blocks pooled", "distributions",
          "The post (Pythia): QKV turns heavy-tailed suddenly; MLP within the first steps; "
          "attention dense stays Gaussian.", "distributions", "arrays: hist_pooled",
          lambda store, q: thinned_arrays(store, q, "distributions", kind="hist_pooled",
                                          component=list(MATRICES), param="weight"),
          file_by="component", stem="F1_hist_", order=MATRICES)  # fmt: skip


def _qq_rows(store, q: Query) -> pd.DataFrame:
    return thinned_arrays(store, q, "distributions", kind=[k for k, _ in QQ_KINDS],
                          component=list(MATRICES), param="weight")  # fmt: skip


def _qq_animation(rows: pd.DataFrame, q: Query, into: FigureBase | None = None) -> Animation:
    """A row per component, a column per family, a line per block; y = x is a perfect fit."""
    comps = [c for c in MATRICES if c in set(rows.component)]
    kinds = [(k, label) for k, label in QQ_KINDS if k in set(rows.kind)]
    steps = sorted(int(s) for s in rows.step.unique())
    fig, axes = panels(len(comps), len(kinds), width=3.6, height=3.0, into=into, fixed=True)
    lines: list[tuple[Line2D, pd.DataFrame]] = []
    for r, comp in enumerate(comps):
        crows = rows[rows.component == comp]
        blocks = sorted({int(b) for b in crows.block.dropna()})
        for c, (kind, label) in enumerate(kinds):
            ax = axes[r][c]
            krows = crows[crows.kind == kind]
            data = [np.asarray(v, dtype=np.float64) for v in krows["values"]]
            if data:
                lo, hi = min(np.nanmin(d) for d in data), max(np.nanmax(d) for d in data)
                if kind == "qq_power_law":
                    ax.set_xscale("log")
                    ax.set_yscale("log")
                    log_ticks(ax)
                    lo = max(lo, 1e-3)
                if hi > lo:  # a degenerate sample (one value) keeps matplotlib's limits
                    ax.set_xlim(lo, hi)
                    ax.set_ylim(lo, hi)
                ax.plot([lo, hi], [lo, hi], "k--", lw=0.8)
            for blk in blocks or [None]:
                brows = krows if blk is None else krows[krows.block == blk]
                (line,) = ax.plot([], [], color=depth_color(blk or 0, len(blocks) or 1), lw=1.2,
                                  label=None if blk is None else f"block {blk}")  # fmt: skip
                lines.append((line, brows.sort_values("step")))
            ax.set_title(f"{component_name(comp)} vs {label}", fontsize=9)
            ax.set_xlabel("theoretical quantile")
            ax.set_ylabel("sample quantile")
        if 0 < len(blocks) <= 12:
            axes[r][0].legend(fontsize=6, loc="upper left")
    model = rows.model.iloc[0]
    sup = fig.suptitle(str(model))

    def update(step: int) -> list[Artist]:
        for line, brows in lines:
            i = latest(brows.step.to_numpy(np.int64), step)
            xy = np.asarray(brows["values"].iloc[i]) if i is not None else np.empty((2, 0))
            line.set_data(xy[0], xy[1])
        sup.set_text(f"F2: QQ plots, {model}, step {step}")
        return [sup, *(line for line, _ in lines)]

    return Animation(fig.figure, steps, update)


def qq_figure(
    part: pd.DataFrame, families: Sequence[str], steps: Sequence[int], title: str
) -> Spec:
    """Animated QQ panels, one per family, a line per component; y = x is a perfect fit."""
    comps = sorted(set(part.component))
    colors = dict(zip(comps, PALETTE * (1 + len(comps) // len(PALETTE)), strict=False))
    layout = grid(
        1, len(families), [f.removeprefix("qq_").replace("_", " ") for f in families], 330
    )
    set_axes(layout, "x", title={"text": "theoretical quantile"})
    set_axes(layout, "y", title={"text": "sample quantile (standardised)"})
    frames = []
    for step in steps:
        at = at_step(part, step)
        traces = []
        for i, fam in enumerate(families, start=1):
            for comp in comps:
                hit = at[(at.kind == fam) & (at.component == comp)]
                xy = hit["values"].iloc[0] if len(hit) else np.full((2, 1), np.nan)
                traces.append({"type": "scatter", "mode": "lines", "x": typed(xy[0]), "y": typed(xy[1]),
                               "name": plot_text(comp), "legendgroup": plot_text(comp),
                               "line": {"color": colors[comp]}, "showlegend": i == 1,
                               **axis_ref(i)})  # fmt: skip
        frames.append(traces)
    ref = [{"type": "scatter", "mode": "lines", "x": [-5, 5], "y": [-5, 5], "showlegend": False,
            "hoverinfo": "skip", "line": {"color": "#999", "dash": "dot"}, **axis_ref(i)}
           for i in range(1, len(families) + 1)]  # fmt: skip
    return animate(layout, steps, frames, plot_text(title), fixed=ref)


def _qq_interactive(part: pd.DataFrame, q: Query) -> Spec:
    fams = [k for k, _ in QQ_KINDS if k in set(part.kind)]
    steps = sorted(int(s) for s in part.step.unique())
    title = f"F2: QQ, sample vs standard family (y = x fits), last block, {part.model.iloc[0]}"
    return qq_figure(part, fams, steps, title)


def _last_block(rows: pd.DataFrame) -> pd.DataFrame:
    """One block per component keeps the figure legible: the last (heaviest tails)."""
    return rows[rows.block == rows.groupby("component").block.transform("max")]


register(FigureSpec("F2", "QQ plots against Gaussian, logistic and power law", "distributions",
                    "The post (Pythia): tails grow far heavier than Gaussian; no standard "
                    "family fits.", "distributions",
                    "arrays: qq_gaussian, qq_logistic, qq_power_law", _qq_rows,
                    still(_qq_animation), _qq_interactive, _qq_animation,
                    files=lambda rows: per(rows, "model", "F2_qq_"),
                    views=lambda rows: per(_last_block(rows), "model"), multiples=True))  # fmt: skip
line_spec("tails", "Student-t nu, generalised-normal beta, quartic g and kurtosis against step",
          "distributions", "Not a figure of the post: the tail parameters its readers asked "
          "for." + BOUND_NOTE, "distributions",
          [(c, "weight", m) for m in TAIL_METRICS for c in MATRICES],
          files=lambda rows: per(rows, "model", "tails_"), log_y={"t_nu", "quartic_g"},
          bands=GAUSSIAN_BANDS, prepare=mark_bounds)  # fmt: skip
line_spec("fits", "Student-t degrees of freedom nu (nu -> inf is Gaussian)", "distributions",
          "Not a figure of the post: how far each matrix's fitted tail is from Gaussian."
          + BOUND_NOTE, "distributions", [(c, "weight", "t_nu") for c in MATRICES],
          log_y={"t_nu"}, bands=GAUSSIAN_BANDS, prepare=mark_bounds)  # fmt: skip
