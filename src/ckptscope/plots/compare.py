"""Two groups compared: a row per tensor, panels for group a, group b and b - a.

Drawing only: the rows come from :func:`ckptscope.groups.compare` (means over seeds with
their lowest/highest seed, differences with each group's spread). Lines are per block,
coloured by depth; a group of several seeds shows its band; the difference panel shades
+- the larger seed spread, so a difference outside the shade is one beyond the spread.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from ckptscope.names import COMPONENT_LABELS, metric_name, tensor_name
from ckptscope.plots.bands import draw_band
from ckptscope.plots.plotly_specs import (
    Spec,
    axis_ref,
    depth_colors,
    grid,
    plot_text,
    set_axes,
    translucent,
    typed,
)
from ckptscope.plots.style import depth_color, fixed_margins, panels, step_axis

_ORDER = {c: i for i, c in enumerate(COMPONENT_LABELS)}


def tensors(rows: pd.DataFrame) -> list[tuple[str, str]]:
    """(component, param) of the rows, in the canonical component order."""
    keys = set(zip(rows["component"], rows["param"].fillna(""), strict=True))
    return sorted(keys, key=lambda k: (_ORDER.get(k[0], len(_ORDER)), k))


def _lines(df: pd.DataFrame) -> list[tuple[int | None, pd.DataFrame]]:
    out = []
    for block, line in df.groupby(df["block"].fillna(-1), sort=True):
        out.append((None if block == -1 else int(block), line.sort_values("step")))
    return out


def _n_blocks(rows: pd.DataFrame) -> int:
    blocks = rows["block"].dropna()
    return int(blocks.max()) + 1 if len(blocks) else 1


def _of(df: pd.DataFrame, key: tuple[str, str]) -> pd.DataFrame:
    return df[(df["component"] == key[0]) & (df["param"].fillna("") == key[1])]


def compare_grid(rows: pd.DataFrame, diff: pd.DataFrame, a: str, b: str, metric: str) -> Figure:
    """The static comparison of one metric (see the module docstring)."""
    keys = tensors(rows)
    if not keys:
        raise ValueError(f"no rows of {metric} to compare")
    fig, axes = panels(len(keys), 3, 4.2, 3.2, fixed=True)
    fixed_margins(fig, len(keys), 3)
    n = _n_blocks(rows)
    for r, key in enumerate(keys):
        name = tensor_name(*key)
        for c, (side, group) in enumerate((("a", a), ("b", b))):
            ax = axes[r][c]
            sel = _of(rows[rows["side"] == side], key)
            for block, line in _lines(sel):
                color = "0.2" if block is None else depth_color(block, n)
                ax.plot(line["step"], line["mean"], color=color, lw=1.2,
                        label="all" if block is None else f"block {block}")  # fmt: skip
                if (line["n_seeds"] > 1).any():
                    draw_band(ax, line, color)
            seeds = int(sel["n_seeds"].max()) if len(sel) else 0
            ax.set_title(f"{group} ({seeds} seeds): {name}", fontsize=9)
            ax.set_ylabel(metric_name(metric), fontsize=8)
            step_axis(ax, False)
        axes[r][1].sharey(axes[r][0])
        ax = axes[r][2]
        for block, line in _lines(_of(diff, key)):
            color = "0.2" if block is None else depth_color(block, n)
            spread = np.maximum(line["spread_a"], line["spread_b"])
            ax.fill_between(line["step"], -spread, spread, color=color, alpha=0.12, lw=0)
            ax.plot(line["step"], line["diff"], color=color, lw=1.2)
        ax.axhline(0.0, color="0.5", lw=0.8)
        ax.set_title(f"{b} - {a}: {name}", fontsize=9)
        ax.set_ylabel(f"difference of {metric_name(metric)}", fontsize=8)
        step_axis(ax, False)
    if n > 1:
        axes[0][0].legend(fontsize=7)
    fig.suptitle(f"{a} vs {b}: {metric_name(metric)} (shade in b - a: +- the larger seed spread)")
    return fig


def _band(
    x: pd.Series, lo: Any, hi: Any, color: str, ref: dict[str, str], group: str
) -> list[Spec]:
    """A filled band between ``lo`` and ``hi`` (two traces, no legend entry)."""
    edge = {"type": "scatter", "mode": "lines", "x": typed(x, "i4"), "line": {"width": 0},
            "hoverinfo": "skip", "showlegend": False, "legendgroup": group, **ref}  # fmt: skip
    return [{**edge, "y": typed(hi)},
            {**edge, "y": typed(lo), "fill": "tonexty", "fillcolor": translucent(color, 0.2)}]  # fmt: skip


def compare_spec(rows: pd.DataFrame, diff: pd.DataFrame, a: str, b: str, metric: str) -> Spec:
    """The interactive comparison of one metric: the twin of :func:`compare_grid`."""
    keys = tensors(rows)
    if not keys:
        raise ValueError(f"no rows of {metric} to compare")
    depth = depth_colors(_n_blocks(rows))
    titles = []
    for key in keys:
        name = tensor_name(*key)
        titles += [plot_text(f"{a}: {name}"), plot_text(f"{b}: {name}"),
                   plot_text(f"{b} - {a}: {name}")]  # fmt: skip
    layout = grid(len(keys), 3, titles)
    data: list[Spec] = []
    shown: set[str] = set()
    for r, key in enumerate(keys):
        panels_ = [_of(rows[rows["side"] == "a"], key), _of(rows[rows["side"] == "b"], key)]
        for c, sel in enumerate(panels_):
            ref = axis_ref(r * 3 + c + 1)
            for block, line in _lines(sel):
                label = "all blocks" if block is None else f"block {block}"
                color = "#444" if block is None else depth[block]
                if (line["n_seeds"] > 1).any():
                    data += _band(line["step"], line["lo"], line["hi"], color, ref, label)
                data.append({"type": "scatter", "mode": "lines", "x": typed(line["step"], "i4"),
                             "y": typed(line["mean"]), "name": label, "legendgroup": label,
                             "showlegend": label not in shown, "line": {"color": color, "width": 1.4},
                             **ref})  # fmt: skip
                shown.add(label)
        ref = axis_ref(r * 3 + 3)
        for block, line in _lines(_of(diff, key)):
            label = "all blocks" if block is None else f"block {block}"
            color = "#444" if block is None else depth[block]
            spread = np.maximum(line["spread_a"], line["spread_b"])
            data += _band(line["step"], -spread, spread, color, ref, label)
            data.append({"type": "scatter", "mode": "lines", "x": typed(line["step"], "i4"),
                         "y": typed(line["diff"]), "name": label, "legendgroup": label,
                         "showlegend": False, "line": {"color": color, "width": 1.4}, **ref})  # fmt: skip
    set_axes(layout, "x", title={"text": "training step", "font": {"size": 11}})
    layout["title"] = {"text": plot_text(f"{a} vs {b}: {metric_name(metric)}")}
    return {"data": data, "layout": layout}
