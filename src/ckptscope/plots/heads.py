"""Per-head metrics against step: a panel per block, a line per head, outlier heads marked.

Drawing only: rows come from :func:`ckptscope.views.heads.mark_heads` with ``rank`` (the
order heads are listed and coloured in: 0 first) and ``outlier`` (a ring on that point)
already decided. A head's colour is its rank's, so the top head of every block shares one.
"""

from __future__ import annotations

import math

import pandas as pd
from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.figure import Figure, FigureBase
from matplotlib.lines import Line2D

from ckptscope.names import metric_name, tensor_name
from ckptscope.plots.plotly_specs import Spec, axis_ref, grid, plot_text, set_axes, typed
from ckptscope.plots.style import fixed_margins, panels, step_axis

RANK_CMAP = "turbo"
OUTLIER_COLOR = "#d62728"
PANEL_WIDTH, PANEL_HEIGHT = 3.8, 3.0


def rank_color(rank: int, n: int) -> tuple[float, float, float, float]:
    """Colour of the head ranked ``rank`` of ``n`` (first: dark blue, last: dark red)."""
    return colormaps[RANK_CMAP](0.1 + 0.8 * rank / max(1, n - 1))


def _hex(rgba: tuple[float, ...]) -> str:
    return "#" + "".join(f"{round(255 * c):02x}" for c in rgba[:3])


def _blocks(rows: pd.DataFrame) -> list[int]:
    return sorted(int(b) for b in rows.block.dropna().unique())


def _heads(part: pd.DataFrame) -> list[tuple[int, int, pd.DataFrame]]:
    """(head, rank, its rows by step) of one block, in rank order."""
    out = [(int(h), int(g["rank"].iloc[0]), g.sort_values("step"))
           for h, g in part.groupby("head", sort=True)]  # fmt: skip
    return sorted(out, key=lambda t: (t[1], t[0]))


def _draw_block(ax: Axes, part: pd.DataFrame) -> None:
    heads = _heads(part)
    for i, (head, _, line) in enumerate(heads):
        ax.plot(line.step, line.value, color=rank_color(i, len(heads)), lw=1.2,
                label=f"head {head}")  # fmt: skip
        out = line[line.outlier.astype(bool)]
        if len(out):
            ax.plot(out.step, out.value, ls="none", marker="o", ms=8, mfc="none", mew=1.4,
                    color=OUTLIER_COLOR, zorder=5, gid=f"outlier head {head}")  # fmt: skip


def heads_grid(rows: pd.DataFrame, title: str, legend: str, *, log_steps: bool = False,
               into: FigureBase | None = None) -> Figure:  # fmt: skip
    """One (model, component, metric): a panel per block, heads listed in rank order.

    ``legend`` names the outlier rule beside the ring marker.
    """
    blocks = _blocks(rows)
    if not blocks:
        raise ValueError(f"no per-head rows for {title}")
    ncols = min(4, len(blocks))
    nrows = math.ceil(len(blocks) / ncols)
    fig, axes = panels(nrows, ncols, PANEL_WIDTH, PANEL_HEIGHT, into, fixed=True)
    fixed_margins(fig, nrows, ncols, title.count("\n") + 1)
    flat = [ax for row in axes for ax in row]
    for ax in flat[len(blocks) :]:
        ax.set_visible(False)
    metric = str(rows.metric.iloc[0])
    for ax, block in zip(flat, blocks, strict=False):
        _draw_block(ax, rows[rows.block == block])
        handles = ax.get_legend_handles_labels()[0]
        if rows[rows.block == block].outlier.astype(bool).any():
            handles.append(Line2D([], [], ls="none", marker="o", mfc="none", mew=1.4,
                                  color=OUTLIER_COLOR, label=legend))  # fmt: skip
        ax.legend(handles=handles, fontsize=6, framealpha=0.5, ncols=2 if len(handles) > 6 else 1)
        ax.set_title(f"block {block}", fontsize=9)
        ax.set_ylabel(metric_name(metric), fontsize=8)
        step_axis(ax, log_steps)
    fig.suptitle(title, fontsize=10)
    return fig.figure


def heads_figure(rows: pd.DataFrame, title: str, legend: str, log_steps: bool = False) -> Spec:
    """Plotly twin of :func:`heads_grid` for one model: a row per component, a column per
    block; hovering a line names its head and rank, outliers are rings with their z."""
    comps = list(dict.fromkeys(rows.component))
    blocks = _blocks(rows)
    titles = [plot_text(f"{tensor_name(c)}, block {b}") for c in comps for b in blocks]
    layout = grid(len(comps), len(blocks), titles, 260)
    data: list[Spec] = []
    for r, comp in enumerate(comps):
        for c, block in enumerate(blocks):
            ref = axis_ref(r * len(blocks) + c + 1)
            part = rows[(rows.component == comp) & (rows.block == block)]
            heads = _heads(part)
            for i, (head, rank, line) in enumerate(heads):
                data.append({"type": "scatter", "mode": "lines", "x": typed(line.step, "i4"),
                             "y": typed(line.value), "showlegend": False,
                             "name": f"head {head}",
                             "line": {"width": 1.3, "color": _hex(rank_color(i, len(heads)))},
                             "hovertemplate": f"head {head} (rank {rank})<br>step %{{x}}<br>"
                                              "%{y:.5g}<extra></extra>", **ref})  # fmt: skip
            out = part[part.outlier.astype(bool)]
            if len(out):
                data.append({"type": "scatter", "mode": "markers", "x": typed(out.step, "i4"),
                             "y": typed(out.value), "name": plot_text(legend),
                             "legendgroup": "outlier", "showlegend": not any(
                                 d.get("legendgroup") == "outlier" for d in data),
                             "text": [f"head {int(h)}, robust z {z:.1f}"
                                      for h, z in zip(out["head"], out.robust_z, strict=True)],
                             "marker": {"symbol": "circle-open", "size": 11,
                                        "color": OUTLIER_COLOR, "line": {"width": 2}},
                             "hovertemplate": "%{text}<br>step %{x}<extra>outlier</extra>",
                             **ref})  # fmt: skip
            axis = ref["yaxis"].replace("y", "yaxis")
            layout[axis]["title"] = {"text": plot_text(metric_name(str(rows.metric.iloc[0]))),
                                     "font": {"size": 10}}  # fmt: skip
    set_axes(layout, "x", title={"text": "training step", "font": {"size": 10}},
             **({"type": "log"} if log_steps else {}))  # fmt: skip
    layout["title"] = {"text": plot_text(title)}
    return {"data": data, "layout": layout}
