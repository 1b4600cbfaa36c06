"""Histograms over training (F1, F3, F4): stored counts shown on display bins, a frame per step.

Rows are ``Store.arrays`` rows of histograms on the universal grid named by ``meta``.
Regrouping counts onto linear display bins that span every step's non-empty bins
(:func:`~ckptscope.stats.rebin`) is presentation, not statistics. The y axis is the
fraction of values per display bin, on a log scale so tails stay visible.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from matplotlib.artist import Artist
from matplotlib.figure import FigureBase

from ckptscope.names import model_order
from ckptscope.plots.animation import Animation
from ckptscope.plots.plotly_specs import Spec, animate, at_step, plot_text, typed
from ckptscope.plots.style import fixed_margins, latest, log_y_axis, panels
from ckptscope.stats.histogram import UniversalGrid, display_edges, rebin

DISPLAY_BINS = 121


def display_fractions(rows: pd.DataFrame) -> tuple[np.ndarray, list[np.ndarray]]:
    """Display-bin edges over all rows and each row's fraction of values per bin."""
    grids = {UniversalGrid.from_json(m) for m in rows["meta"].fillna("")}
    if len(grids) != 1:
        raise ValueError("histograms on mixed grids")
    grid = grids.pop()
    counts = [np.asarray(v, dtype=np.float64) for v in rows["values"]]
    edges = display_edges(counts, grid, n_bins=DISPLAY_BINS)  # ValueError: all empty
    return edges, [rebin(c, edges, grid) / max(c.sum(), 1.0) for c in counts]


def hist_animation(
    rows: pd.DataFrame, panel: str, title: str, into: FigureBase | None = None
) -> Animation:
    """A panel per value of column ``panel`` (its own display bins), a frame per step.

    A panel with no row at a step shows its latest earlier one.
    """
    values = rows[panel].unique()
    names = model_order(values) if panel == "model" else sorted(values, key=str)
    steps = sorted(int(s) for s in rows.step.unique())
    fig, axes = panels(1, len(names), width=4.6, height=3.4, into=into, fixed=True)
    fixed_margins(fig, 1, len(names), suptitle_lines=title.count("\n") + 1)
    shown = []
    for ax, name in zip(axes[0], names, strict=True):
        part = rows[rows[panel] == name].sort_values("step", kind="stable")
        edges, fracs = display_fractions(part)
        positive = np.concatenate([f[f > 0] for f in fracs])
        lo = float(positive.min()) if positive.size else 1e-6
        floor = lo / 10  # log axis: empty bins drawn at a floor below every shown fraction
        art = ax.stairs(np.maximum(fracs[0], floor), edges, baseline=floor, fill=True, alpha=0.8)
        log_y_axis(ax)
        ax.set_ylim(lo / 2, float(positive.max()) * 2 if positive.size else 1.0)
        ax.set_xlim(edges[0], edges[-1])
        ax.set_xlabel("value")
        ax.set_ylabel("fraction per bin")
        shown.append((ax, name, part.step.to_numpy(np.int64), fracs, art, floor))
    sup = fig.suptitle(title)

    def update(step: int) -> list[Artist]:
        changed: list[Artist] = [sup]
        for ax, name, part_steps, fracs, art, floor in shown:
            i = latest(part_steps, step)
            art.set_data(np.maximum(fracs[i] if i is not None else 0 * fracs[0], floor))
            ax.set_title(f"{name}: no row yet" if i is None else f"{name}, step {part_steps[i]}",
                         fontsize=9)  # fmt: skip
            changed += [art, ax.title]
        sup.set_text(f"{title}, step {step}")
        return changed

    return Animation(fig.figure, steps, update)


def hist_figure(rows: pd.DataFrame, label: str, steps: Sequence[int], title: str) -> Spec:
    """Animated plotly histograms: a line per value of column ``label``, log y."""
    edges, fracs = display_fractions(rows)
    centres = (edges[:-1] + edges[1:]) / 2
    rows = rows.assign(frac=pd.Series([np.where(f > 0, f, np.nan) for f in fracs],
                                      index=rows.index, dtype=object))  # fmt: skip
    labels = sorted(set(rows[label].astype(str)))
    empty = np.full(len(centres), np.nan)
    frames = []
    for step in steps:
        at = at_step(rows, step)
        ys = {str(k): v for k, v in zip(at[label], at.frac, strict=True)}
        frames.append([{"type": "scatter", "mode": "lines", "line": {"shape": "hvh"},
                        "x": typed(centres), "name": plot_text(lab), "y": typed(ys.get(lab, empty)),
                        "hovertemplate": f"value %{{x:.4g}}<br>fraction %{{y:.3g}}<extra>{plot_text(lab)}</extra>"}
                       for lab in labels])  # fmt: skip
    layout = {"height": 480, "xaxis": {"title": {"text": "value"}},
              "yaxis": {"type": "log", "title": {"text": "fraction of values"}}}  # fmt: skip
    return animate(layout, steps, frames, plot_text(title))
