"""Measured vs predicted norms: a panel per component, a line per block, fit range shaded.

Drawing only: rows are the curves of :func:`ckptscope.views.extrapolation.extrapolate_norms`
(``value`` measured, ``predicted`` from the fit, ``fit_end_step``, ``rel_error_last``).
Measured lines are solid, predictions dashed in the same colour; the steps the curve was
fitted on are shaded.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from matplotlib.figure import Figure, FigureBase
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from ckptscope.names import tensor_name
from ckptscope.plots.plotly_specs import (
    Spec,
    axis_ref,
    depth_colors,
    grid,
    plot_text,
    set_axes,
    typed,
)
from ckptscope.plots.style import depth_color, fixed_margins, panels, step_axis

SHADE = "0.85"
PANEL_WIDTH, PANEL_HEIGHT = 4.0, 3.0


def _components(rows: pd.DataFrame) -> list[str]:
    return list(dict.fromkeys(rows.component))


def _n_blocks(rows: pd.DataFrame) -> int:
    blocks = rows.block.dropna()
    return int(blocks.max()) + 1 if len(blocks) else 1


def _lines(part: pd.DataFrame) -> list[tuple[int | None, pd.DataFrame]]:
    keys = part.block.fillna(-1).astype(int)
    return [(None if b < 0 else int(b), g.sort_values("step")) for b, g in part.groupby(keys)]


def _panel_title(comp: str, part: pd.DataFrame) -> str:
    err = part.groupby(part.block.fillna(-1))["rel_error_last"].first().to_numpy(np.float64)
    worst = f"{np.nanmax(err):.1%}" if np.isfinite(err).any() else "n/a"
    return f"{tensor_name(comp)}\nworst error at the last step: {worst}"


def extrapolation_grid(rows: pd.DataFrame, title: str, *, log_steps: bool = False,
                       into: FigureBase | None = None) -> Figure:  # fmt: skip
    """One model: measured (solid) and predicted (dashed) norms per component."""
    comps = _components(rows)
    if not comps:
        raise ValueError(f"no norms for {title}")
    ncols = min(4, len(comps))
    nrows = math.ceil(len(comps) / ncols)
    fig, axes = panels(nrows, ncols, PANEL_WIDTH, PANEL_HEIGHT, into, fixed=True)
    fixed_margins(fig, nrows, ncols, title.count("\n") + 1, 2)
    flat = [ax for row in axes for ax in row]
    for ax in flat[len(comps) :]:
        ax.set_visible(False)
    n_blocks = _n_blocks(rows)
    for ax, comp in zip(flat, comps, strict=False):
        part = rows[rows.component == comp]
        ax.axvspan(float(part.step.min()), float(part.fit_end_step.max()), color=SHADE, lw=0,
                   zorder=0)  # fmt: skip
        for block, line in _lines(part):
            color = "0.2" if block is None else depth_color(block, n_blocks)
            ax.plot(line.step, line.value, color=color, lw=1.3)
            ax.plot(line.step, line.predicted, color=color, lw=1.1, ls="--")
        ax.set_title(_panel_title(comp, part), fontsize=8)
        ax.set_ylabel("L2 (Frobenius) norm", fontsize=8)
        step_axis(ax, log_steps)
    flat[0].legend(handles=[Line2D([], [], color="0.3", label="measured"),
                            Line2D([], [], color="0.3", ls="--", label="predicted"),
                            Patch(color=SHADE, label="fit range")], fontsize=7)  # fmt: skip
    fig.suptitle(title, fontsize=10)
    return fig.figure


def extrapolation_figure(rows: pd.DataFrame, title: str, log_steps: bool = False) -> Spec:
    """Plotly twin of :func:`extrapolation_grid`."""
    comps = _components(rows)
    ncols = min(3, len(comps))
    nrows = math.ceil(len(comps) / ncols)
    layout = grid(nrows, ncols, [plot_text(tensor_name(c)) for c in comps], 280)
    colors = depth_colors(_n_blocks(rows))
    data: list[Spec] = []
    shown: set[str] = set()
    for i, comp in enumerate(comps):
        ref = axis_ref(i + 1)
        part = rows[rows.component == comp]
        layout.setdefault("shapes", []).append(
            {"type": "rect", "xref": ref["xaxis"], "yref": f"{ref['yaxis']} domain",
             "x0": float(part.step.min()), "x1": float(part.fit_end_step.max()), "y0": 0,
             "y1": 1, "fillcolor": "rgba(150,150,150,0.2)", "line": {"width": 0},
             "layer": "below"})  # fmt: skip
        for block, line in _lines(part):
            label = "no block" if block is None else f"block {block}"
            color = "#333" if block is None else colors[block]
            err = float(line.rel_error_last.iloc[0])
            for kind, col, dash in (("measured", "value", "solid"),
                                    ("predicted", "predicted", "dash")):  # fmt: skip
                data.append({"type": "scatter", "mode": "lines", "x": typed(line.step, "i4"),
                             "y": typed(line[col]), "name": f"{label}, {kind}",
                             "legendgroup": label, "showlegend": f"{label}{kind}" not in shown,
                             "line": {"color": color, "width": 1.3, "dash": dash},
                             "hovertemplate": f"{label} {kind}<br>step %{{x}}<br>norm %{{y:.5g}}"
                                              f"<br>error at the last step {err:.1%}"
                                              "<extra></extra>", **ref})  # fmt: skip
                shown.add(f"{label}{kind}")
    set_axes(layout, "x", title={"text": "training step", "font": {"size": 10}},
             **({"type": "log"} if log_steps else {}))  # fmt: skip
    layout["title"] = {"text": plot_text(title)}
    return {"data": data, "layout": layout}
