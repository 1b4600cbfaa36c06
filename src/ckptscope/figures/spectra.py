"""Spectra figures: F15 singular values over training, F16 SVD-direction closeness, ESD metrics.

Drawing only: spectra are ``singular_values_log`` rows of the ``arrays`` table, every
whole matrix's singular values at the log-spaced ranks a log-log panel can show (see
:mod:`ckptscope.views.spectra` and :mod:`ckptscope.analyses.spectra`); closeness and ESD
metrics are ``scalars`` rows (:mod:`ckptscope.analyses.svd_directions`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.artist import Artist
from matplotlib.axes import Axes
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize
from matplotlib.figure import Figure, FigureBase

from ckptscope.figures.catalogue import FigureSpec, Query, register
from ckptscope.figures.kinds import line_spec, split
from ckptscope.figures.rows import arrays_at, per, picked_tasks, scalars, task_keys
from ckptscope.linalg.esd import MIN_ALPHA_TAIL
from ckptscope.plots.animation import Animation
from ckptscope.plots.plotly_specs import (
    Spec,
    animate,
    at_step,
    axis_ref,
    depth_colors,
    grid,
    plot_text,
    set_axes,
    typed,
)
from ckptscope.plots.style import STEP_CMAP, latest, log_ticks, panels, safe_name
from ckptscope.store import Store
from ckptscope.views.spectra import LOG_KIND, log_meta, log_spectrum, ranks_of

MAX_SPECTRUM_POINTS = 120
SPECTRA_COMPONENTS = ("qkv", "attn_out", "mlp_in", "mlp_gate", "mlp_out", "embed", "unembed")
MATRICES = ("qkv", "attn_out", "mlp_in", "mlp_out")
CLOSENESS = (("mlp_in", "weight"), ("mlp_gate", "weight"), ("mlp_out", "weight"), ("ov", "all"))
CLOSENESS_METRICS = ("svd_exact", "svd_overlap")
ESD_COMPONENTS = ("qkv", "attn_out", "mlp_in", "mlp_gate", "mlp_out")
ESD_METRICS = ("alpha", "mp_outliers")


#: the rows F15 draws: whole weight matrices (not heads, not circuits)
WHOLE = {"param": "weight", "head": None, "component": list(SPECTRA_COMPONENTS)}


def _rows(store: Store, q: Query) -> pd.DataFrame:
    """Spectra at the picked steps, at log-spaced ranks, with their ``ranks`` (from 1).

    The ``singular_values_log`` rows the analysis stores; for tasks swept before it stored
    them, their whole ``singular_values`` thinned here the same way (the same rows).
    """
    picks, tasks = picked_tasks(store, q, "spectra")
    rows = arrays_at(store, q, picks, kind=LOG_KIND, **WHOLE)
    lacking = tasks - set(task_keys(rows))  # swept before the log-spaced values were stored
    steps: dict[str, set[int]] = {}
    for _, model, step in lacking:
        steps.setdefault(model, set()).add(step)
    older = arrays_at(store, q, steps, kind="singular_values", **WHOLE)
    older = older[np.array([t in lacking for t in task_keys(older)], dtype=bool)]
    if len(older):
        kept = [log_spectrum(v) for v in older["values"]]
        older = older.assign(kind=LOG_KIND, values=[v for v, _ in kept],
                             shape=[[len(v)] for v, _ in kept],
                             meta=[log_meta(n) for _, n in kept])  # fmt: skip
        rows = pd.concat([rows, older]) if len(rows) else older
        rows = rows.sort_values(["suite", "model", "step", "component", "block"], kind="stable")
    rows = rows.reset_index(drop=True)
    ranks = _ranks(rows)
    wrong = np.flatnonzero([len(v) != len(r) for v, r in zip(rows["values"], ranks, strict=True)])
    if wrong.size:
        r = next(rows.iloc[wrong[:1]].itertuples())
        raise ValueError(f"F15: {_where(r)}: {len(r.values)} values for the "
                         f"{len(ranks[wrong[0]])} ranks its meta gives ({r.meta!r})")  # fmt: skip
    return rows.assign(ranks=ranks)


def _where(r: Any) -> str:
    """A row's model, step and tensor, as an error line names them."""
    where = "" if pd.isna(r.block) else f" block {int(r.block)}"
    return f"{r.suite}/{r.model} step {r.step} {r.component}{where}"


def _ranks(rows: pd.DataFrame) -> list[np.ndarray]:
    """Each row's ranks from its meta; a refused meta names its row."""
    try:
        return ranks_of(list(rows["meta"]))
    except ValueError:
        for r in rows.itertuples():  # name the first row whose meta is refused
            try:
                ranks_of([r.meta])
            except ValueError as err:
                raise ValueError(f"F15: {_where(r)}: {err}") from None
        raise


def _grid(
    rows: pd.DataFrame, into: FigureBase | None
) -> tuple[FigureBase, list[tuple[int | None, Axes]]]:
    """A panel per block (None first: embed, unembed), at most four a row."""
    blocks: list[int | None] = [None] if rows.block.isna().any() else []
    blocks += sorted(int(b) for b in rows.block.dropna().unique())
    ncols = min(4, len(blocks))
    fig, axes = panels(
        math.ceil(len(blocks) / ncols), ncols, width=3.4, height=2.8, into=into, fixed=True
    )
    flat = [ax for row in axes for ax in row]
    for ax in flat[len(blocks) :]:
        ax.set_visible(False)
    return fig, list(zip(blocks, flat, strict=False))


def _block_rows(rows: pd.DataFrame, block: int | None) -> pd.DataFrame:
    part = rows[rows.block.isna()] if block is None else rows[rows.block == block]
    return part.sort_values("step", kind="stable")


def _label(rows: pd.DataFrame, block: int | None) -> str:
    comp = rows.component.iloc[0]
    return comp if block is None else f"{comp} block {block}"


def _title(rows: pd.DataFrame) -> str:
    return f"F15: singular values of {rows.component.iloc[0]}, {rows.model.iloc[0]}"


def _static(rows: pd.DataFrame, q: Query, into: FigureBase | None = None) -> Figure:
    """Log rank vs log singular value, a panel per block, a line per step coloured by step."""
    fig, cells = _grid(rows, into)
    norm = Normalize(rows.step.min(), max(rows.step.max(), rows.step.min() + 1))
    cmap = colormaps[STEP_CMAP]
    for block, ax in cells:
        part = _block_rows(rows, block)
        for step, ranks, s in zip(part.step, part["ranks"], part["values"], strict=True):
            ax.loglog(ranks, s, color=cmap(norm(step)), lw=0.8, alpha=0.8)
        log_ticks(ax)
        ax.set_title(_label(rows, block), fontsize=9)
        ax.set_xlabel("rank")
        ax.set_ylabel("singular value")
    fig.colorbar(ScalarMappable(norm, cmap), ax=[ax for _, ax in cells], label="training step")
    fig.suptitle(_title(rows))
    return fig.figure


def _animation(rows: pd.DataFrame, q: Query, into: FigureBase | None = None) -> Animation:
    """A frame per step: each panel shows that step's spectrum over the last step's (grey)."""
    fig, cells = _grid(rows, into)
    lines = []
    for block, ax in cells:
        part = _block_rows(rows, block)
        vals = np.concatenate([np.asarray(v).ravel() for v in part["values"]])
        vals = vals[vals > 0]  # a log axis: a hostile zero or NaN sets no limit
        if vals.size:
            ax.set_ylim(vals.min() / 1.5, vals.max() * 1.5)
            ax.set_xlim(0.8, max(r[-1] for r in part["ranks"] if len(r)) * 1.25)
        points = list(zip(part["ranks"], part["values"], strict=True))
        ax.loglog(*points[-1], color="0.7", lw=1.0, label=f"step {part.step.iloc[-1]}")
        (line,) = ax.loglog([], [], color="C3", lw=1.2)
        log_ticks(ax)
        lines.append((line, part, points))
        ax.set_title(_label(rows, block), fontsize=9)
        ax.set_xlabel("rank")
        ax.set_ylabel("singular value")
    cells[0][1].legend(fontsize=7, loc="lower left")
    sup = fig.suptitle(_title(rows))

    def update(step: int) -> list[Artist]:
        for line, part, points in lines:
            i = latest(part.step.to_numpy(np.int64), step)
            line.set_data(*(points[i] if i is not None else ([], [])))
        sup.set_text(f"{_title(rows)}, step {step}")
        return [sup, *(line for line, _, _ in lines)]

    return Animation(fig.figure, sorted(int(s) for s in rows.step.unique()), update)


def log_picks(ranks: np.ndarray) -> np.ndarray:
    """Indices into ``ranks`` (ascending, from 1) of at most ``MAX_SPECTRUM_POINTS`` of them,
    log-spaced: the first rank at or past each point of a log-spaced grid up to the last."""
    ranks = np.asarray(ranks)
    if ranks.size == 0:
        return np.zeros(0, dtype=int)
    grid = np.logspace(0, np.log10(max(int(ranks[-1]), 1)), MAX_SPECTRUM_POINTS)
    return np.unique(np.minimum(np.searchsorted(ranks, np.rint(grid)), ranks.size - 1))


def spectra_figure(
    part: pd.DataFrame, comps: Sequence[str], steps: Sequence[int], title: str
) -> Spec:
    """Animated log-log singular-value spectra: a panel per component, a line per block
    (``part``: rows of :func:`_rows`, with ``ranks``)."""
    keys = sorted({(c, int(b)) for c, b in zip(part.component, part.block, strict=True)},
                  key=lambda k: (comps.index(k[0]), k[1]))  # fmt: skip
    colors = depth_colors(max(b for _, b in keys) + 1)
    layout = grid(1, len(comps), list(comps), 330)
    set_axes(layout, "x", type="log", title={"text": "rank"})
    set_axes(layout, "y", type="log", title={"text": "singular value"})
    frames = []
    for step in steps:
        at = at_step(part, step)
        traces = []
        for comp, block in keys:
            hit = at[(at.component == comp) & (at.block == block)]
            ranks, s = (
                (hit["ranks"].iloc[0], hit["values"].iloc[0])
                if len(hit)
                else (np.ones(1, dtype=int), np.full(1, np.nan))
            )
            pick = log_picks(ranks)
            i = comps.index(comp) + 1
            traces.append({"type": "scatter", "mode": "lines", "x": typed(ranks[pick], "i4"),
                           "y": typed(s[pick]), "name": f"block {block}", "legendgroup": f"b{block}",
                           "showlegend": i == 1, "line": {"color": colors[block], "width": 1.2},
                           "hovertemplate": f"{comp} block {block}<br>rank %{{x}}<br>"
                                            "sigma %{y:.4g}<extra></extra>", **axis_ref(i)})  # fmt: skip
        frames.append(traces)
    return animate(layout, steps, frames, plot_text(title))


def _interactive(part: pd.DataFrame, q: Query) -> Spec:
    comps = [c for c in MATRICES if c in set(part.component)]
    steps = sorted(int(s) for s in part.step.unique())
    title = f"F15: singular values, log rank vs log value, {part.model.iloc[0]}"
    return spectra_figure(part, comps, steps, title)


def _files(rows: pd.DataFrame) -> list[tuple[str, pd.DataFrame]]:
    return [(f"F15/{safe_name(model)}_{comp}", part[part.component == comp])
            for model, part in per(rows, "model") for comp in SPECTRA_COMPONENTS
            if (part.component == comp).any()]  # fmt: skip


def _views(rows: pd.DataFrame) -> list[tuple[str, pd.DataFrame]]:
    return per(rows[rows.block.notna() & rows.component.isin(MATRICES)], "model")


register(FigureSpec("F15", "Singular-value spectra over training", "spectra",
                    "The post (Pythia): MLP spectra turn power-law early; attention dense "
                    "stays flat.", "spectra",
                    "arrays: singular_values_log (each whole matrix's spectrum at log-spaced ranks)",
                    _rows, _static, _interactive, _animation, files=_files, views=_views))  # fmt: skip


def _closeness_parts(rows: pd.DataFrame, names: Sequence[str]) -> list[tuple[str, pd.DataFrame]]:
    blocks = rows.block.notna()
    masks = [
        (name, blocks & (rows.metric == m))
        for name, m in zip(names, CLOSENESS_METRICS, strict=False)
    ]
    return split(rows, [*masks, (names[-1], ~blocks & (rows.component == "all"))])


line_spec("F16", "Closeness of SVD directions to the final checkpoint", "svd_directions",
          "The post (Pythia): emerges late and grows fast near the end.", "spectra",
          [(c, p, m) for m in CLOSENESS_METRICS for c, p in CLOSENESS]
          + [("all", "all", m) for m in CLOSENESS_METRICS],
          files=lambda rows: _closeness_parts(rows, ["F16_svd_exact", "F16_svd_overlap", "F16_per_size"]),
          views=lambda rows: _closeness_parts(rows, ["exact, per block", "overlap, per block",
                                                     "mean over blocks and heads, per size"]))  # fmt: skip


def usable_alpha(store: Store, q: Query, rows: pd.DataFrame) -> pd.DataFrame:
    """``rows`` without the alphas of fits with fewer than MIN_ALPHA_TAIL tail eigenvalues."""
    tails = scalars(store, q, [(c, "weight", "alpha_tail") for c in ESD_COMPONENTS])
    cols = ["suite", "model", "step", "component", "block", "param"]
    short = tails.loc[tails.value < MIN_ALPHA_TAIL, cols].drop_duplicates()
    if short.empty or rows.empty:
        return rows
    # a left join on the fit's key (NULL blocks match NULL blocks): one answer per row
    found = rows[cols].merge(short, on=cols, how="left", indicator=True)["_merge"] == "both"
    drop = (rows["metric"] == "alpha").to_numpy() & found.to_numpy()
    return rows[~drop]


line_spec("esd", "Power-law alpha and outlier singular values against step", "spectra",
          "Not a figure of the post: heavy-tailed self-regularisation metrics per matrix. "
          f"Alphas of fits with fewer than {MIN_ALPHA_TAIL} tail eigenvalues (metric "
          "alpha_tail) are left out: a small matrix's fit gives an alpha whatever its weights.",
          "spectra", [(c, "weight", m) for m in ESD_METRICS for c in ESD_COMPONENTS],
          prepare=usable_alpha,
          files=lambda rows: split(rows, [(f"esd_{m}", rows.metric == m) for m in ESD_METRICS]))  # fmt: skip
