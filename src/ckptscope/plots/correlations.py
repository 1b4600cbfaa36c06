"""Correlation matrices as heatmaps: a panel per window, the series in the rows' order.

Drawing only: rows are the tidy pairs of
:func:`ckptscope.views.update_structure.update_correlations` (window, row/col component and
block, ``r``), already in drawing order; NaN (a series with no spread) is left blank.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize
from matplotlib.figure import Figure, FigureBase

from ckptscope.plots.plotly_specs import Spec, axis_ref, grid, plot_text
from ckptscope.plots.style import panels

CMAP = "RdBu_r"


def series_label(component: str, block: object) -> str:
    """``mlp_in 3``, or ``embed`` for a tensor without a block."""
    return str(component) if block is None or pd.isna(block) else f"{component} {int(block)}"


def matrix(part: pd.DataFrame) -> tuple[list[str], np.ndarray]:
    """(labels, r matrix) of one window's rows, in the order the rows list the series."""
    rows = [series_label(c, b) for c, b in zip(part.row_component, part.row_block, strict=True)]
    cols = [series_label(c, b) for c, b in zip(part.col_component, part.col_block, strict=True)]
    labels = list(dict.fromkeys(rows))
    index = {name: i for i, name in enumerate(labels)}
    r = np.full((len(labels), len(labels)), np.nan)
    for a, b, v in zip(rows, cols, part.r.to_numpy(np.float64), strict=True):
        r[index[a], index[b]] = v
    return labels, r


def _windows(rows: pd.DataFrame) -> list[tuple[str, pd.DataFrame]]:
    return [(str(w), rows[rows.window == w]) for w in dict.fromkeys(rows.window)]


def _caption(name: str, part: pd.DataFrame) -> str:
    first = part.iloc[0]
    span = f"steps {int(first.start_step)}-{int(first.end_step)}"
    where = name if name == span else f"{name}: {span}"
    return f"{where}, {int(first.n_points)} checkpoints"


def corr_grid(rows: pd.DataFrame, title: str, into: FigureBase | None = None) -> Figure:
    """A heatmap of r in [-1, 1] per window, at most three a row, one colour bar."""
    wins = _windows(rows)
    if not wins:
        raise ValueError(f"no correlations for {title}")
    n = len(matrix(wins[0][1])[0])
    size = max(3.2, 0.22 * n + 1.4)
    ncols = min(3, len(wins))
    fig, axes = panels(math.ceil(len(wins) / ncols), ncols, size + 0.4, size + 0.3, into)
    flat = [ax for row in axes for ax in row]
    for ax in flat[len(wins) :]:
        ax.set_visible(False)
    norm = Normalize(-1.0, 1.0)
    for ax, (name, part) in zip(flat, wins, strict=False):
        labels, r = matrix(part)
        ax.imshow(np.ma.masked_invalid(r), cmap=CMAP, norm=norm, interpolation="nearest")
        ticks = range(len(labels))
        ax.set_xticks(ticks, labels, rotation=90, fontsize=6)
        ax.set_yticks(ticks, labels, fontsize=6)
        ax.set_title(_caption(name, part), fontsize=8)
    fig.colorbar(ScalarMappable(norm, CMAP), ax=flat[: len(wins)], shrink=0.7,
                 label="Pearson r")  # fmt: skip
    fig.suptitle(title, fontsize=10)
    return fig.figure


def corr_figure(rows: pd.DataFrame, title: str) -> Spec:
    """Plotly twin of :func:`corr_grid`: a heatmap per window, hover gives both series."""
    wins = _windows(rows)
    ncols = min(3, len(wins))
    nrows = math.ceil(len(wins) / ncols)
    layout = grid(nrows, ncols, [plot_text(_caption(n, p)) for n, p in wins], 420)
    data = []
    for i, (_, part) in enumerate(wins):
        labels, r = matrix(part)
        text = [plot_text(v) for v in labels]
        ref = axis_ref(i + 1)
        data.append({"type": "heatmap", "z": np.where(np.isfinite(r), r, None).tolist(),
                     "x": text, "y": text, "zmin": -1, "zmax": 1, "colorscale": "RdBu",
                     "reversescale": True, "showscale": i == 0,
                     "colorbar": {"title": {"text": "r"}},
                     "hovertemplate": "%{y} vs %{x}<br>r = %{z:.3f}<extra></extra>", **ref})  # fmt: skip
        layout[ref["yaxis"].replace("y", "yaxis")]["autorange"] = "reversed"
    layout["title"] = {"text": plot_text(title)}
    return {"data": data, "layout": layout}
