"""A reference's curves beside the store's own, normalised (static and plotly twins).

Rows come from :func:`ckptscope.figures.reference.overlay_rows`: columns ``source`` (""
for the store, else the reference's name), ``model``, ``depth``, ``frac`` (fraction of
training) and ``rel`` (value relative to the first or last step). A panel per (key,
depth); a line per model: the store's solid in the model's colour, the reference's dashed
in greys (light to dark by size), each named in the legend with its source. Drawing only.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
from matplotlib.figure import Figure, FigureBase

from ckptscope.names import model_order
from ckptscope.plots.lines import Key, panel_title, present, select
from ckptscope.plots.marks import chars_for, wrap
from ckptscope.plots.plotly_specs import Spec, axis_ref, grid, plot_text, set_axes, typed
from ckptscope.plots.style import model_colors, panels

#: reference models, light to dark by size
GREYS = ["#c7c7c7", "#a3a3a3", "#7f7f7f", "#5b5b5b", "#363636", "#1a1a1a"]
X_LABEL = "fraction of training (step / last step)"


def _lines(rows: pd.DataFrame) -> list[tuple[str, str, str, bool]]:
    """(source, model, legend name, dashed) per line, the store's models first."""
    own = model_order(rows.loc[rows.source == "", "model"])
    out = [("", m, m, False) for m in own]
    for src in sorted(set(rows.source) - {""}):
        for m in model_order(rows.loc[rows.source == src, "model"]):
            out.append((src, m, f"{m} ({src})", True))
    return out


def _colors(lines: Sequence[tuple[str, str, str, bool]]) -> dict[str, str]:
    mine = model_colors(m for s, m, _, _ in lines if not s)
    ref = [name for s, _, name, _ in lines if s]
    greys = {n: GREYS[min(i, len(GREYS) - 1)] for i, n in enumerate(ref)}
    return {name: mine.get(m, greys.get(name, "#555")) for _, m, name, _ in lines}


def _cells(rows: pd.DataFrame, keys: Sequence[Key]) -> tuple[list[Key], list[str]]:
    keys = present(rows, keys)
    depths = [d for d in ("first block", "middle block", "last block") if d in set(rows.depth)]
    if not keys or not depths:
        raise ValueError("no rows to overlay")
    return keys, depths


def overlay_grid(rows: pd.DataFrame, keys: Sequence[Key], title: str, y_label: str,
                 into: FigureBase | None = None) -> Figure:  # fmt: skip
    """The static overlay: a panel per (key, depth), a line per model of either source."""
    keys, depths = _cells(rows, keys)
    lines = _lines(rows)
    colors = _colors(lines)
    fig, axes = panels(len(keys), len(depths), 4.2, 3.2, into)
    for r, key in enumerate(keys):
        sel = select(rows, *key)
        for c, depth in enumerate(depths):
            ax = axes[r][c]
            at = sel[sel.depth == depth]
            for src, model, name, dashed in lines:
                line = at[(at.source == src) & (at.model.astype(str) == model)].sort_values("frac")
                if len(line):
                    ax.plot(line.frac, line.rel, ls="--" if dashed else "-", color=colors[name],
                            lw=1.2 if dashed else 1.8, label=name)  # fmt: skip
            ax.set_title(wrap(f"{panel_title(key)}, {depth}", chars_for(4.2)), fontsize=9)
            ax.set_xlabel(X_LABEL, fontsize=8)
            ax.set_ylabel(wrap(y_label, 36), fontsize=8)
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncols=min(4, len(labels)), fontsize=8)
    fig.suptitle(wrap(title, chars_for(4.2 * len(depths), 12)))
    return fig.figure


def overlay_figure(rows: pd.DataFrame, keys: Sequence[Key], title: str, y_label: str) -> Spec:
    """The plotly twin of :func:`overlay_grid` (a legend entry per model and source)."""
    keys, depths = _cells(rows, keys)
    lines = _lines(rows)
    colors = _colors(lines)
    titles = [plot_text(f"{panel_title(k)}, {d}") for k in keys for d in depths]
    layout = grid(len(keys), len(depths), titles)
    data, shown = [], set()
    for r, key in enumerate(keys):
        sel = select(rows, *key)
        for c, depth in enumerate(depths):
            at = sel[sel.depth == depth]
            for src, model, name, dashed in lines:
                line = at[(at.source == src) & (at.model.astype(str) == model)].sort_values("frac")
                if line.empty:
                    continue
                label = plot_text(name)
                data.append({"type": "scatter", "mode": "lines", "x": typed(line.frac),
                             "y": typed(line.rel), "name": label, "legendgroup": label,
                             "showlegend": label not in shown,
                             "line": {"color": colors[name], "dash": "dash" if dashed else "solid",
                                      "width": 1.2 if dashed else 2},
                             "hovertemplate": f"{label}<br>fraction %{{x:.3f}}<br>relative "
                                              "%{y:.4g}<extra></extra>",
                             **axis_ref(r * len(depths) + c + 1)})  # fmt: skip
                shown.add(label)
    set_axes(layout, "x", title={"text": X_LABEL, "font": {"size": 11}})
    set_axes(layout, "y", title={"text": plot_text(y_label), "font": {"size": 11}})
    layout["title"] = {"text": plot_text(title)}
    return {"data": data, "layout": layout}
