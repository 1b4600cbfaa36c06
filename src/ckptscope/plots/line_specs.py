"""Scalars against step as a plotly figure spec: the twin of :func:`~.lines.line_grid`.

Same panels, names, colours and marks as the static figure: a line per block coloured by
depth (a legend entry per block) or a line per model in its colour; phase changes as
stars with their message on hover; fits at their bounds on a band labelled Gaussian-like;
a line of several seeds (columns ``lo``/``hi``) with its band, filled in its colour.
Every panel has its axis titles.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence

import pandas as pd

from ckptscope.names import metric_name, model_order
from ckptscope.plots.lines import Key, n_blocks_of, panel_title, present, select
from ckptscope.plots.marks import (
    BAND_MARKER,
    EVENT_MARKER,
    GAUSSIAN_LIKE,
    bands_in,
    bound_part,
    event_part,
    line_part,
)
from ckptscope.plots.plotly_specs import (
    Spec,
    axis_ref,
    depth_colors,
    grid,
    plot_text,
    set_axes,
    step_axis_buttons,
    translucent,
    typed,
)
from ckptscope.plots.style import model_colors


def _marks(sel: pd.DataFrame, by: str, label_of, color_of, band, metric: str,
           ref: dict[str, str], layout: Spec) -> list[Spec]:  # fmt: skip
    """Star traces on phase changes; bound values on a Gaussian-like band (a line and text)."""
    out = []
    for name, ev in event_part(sel).groupby(by, dropna=False):
        out.append({"type": "scatter", "mode": "markers", "x": typed(ev.step, "i4"),
                    "y": typed(ev.value), "name": "phase change", "legendgroup": "phase change",
                    "showlegend": not out, "text": [plot_text(m) for m in ev.event],
                    "marker": {"symbol": EVENT_MARKER[1], "size": 12, "color": color_of(name),
                               "line": {"width": 1, "color": "#000"}},
                    "hovertemplate": f"{label_of(name)}<br>%{{text}}<extra>phase change</extra>",
                    **ref})  # fmt: skip
    if band is None:
        return out
    side, y = band
    layout.setdefault("shapes", []).append(
        {"type": "line", "xref": f"{ref['xaxis']} domain", "yref": ref["yaxis"], "x0": 0, "x1": 1,
         "y0": y, "y1": y, "line": {"color": "rgba(150,150,150,0.35)", "width": 8}})  # fmt: skip
    layout["annotations"].append(
        {"text": GAUSSIAN_LIKE, "xref": f"{ref['xaxis']} domain", "yref": ref["yaxis"], "x": 1,
         "y": y, "xanchor": "right", "bgcolor": "rgba(255,255,255,0.8)", "showarrow": False, "font": {"size": 10, "color": "#555"}})  # fmt: skip
    for name, at in bound_part(sel).groupby(by, dropna=False):
        out.append({"type": "scatter", "mode": "markers", "x": typed(at.step, "i4"),
                    "y": typed([y] * len(at)), "name": GAUSSIAN_LIKE, "showlegend": False,
                    "marker": {"symbol": BAND_MARKER[side][1], "size": 7, "color": color_of(name)},
                    "hovertemplate": f"{label_of(name)}<br>step %{{x}}<br>{plot_text(metric_name(metric))}"
                                     " at its bound: Gaussian-like<extra></extra>", **ref})  # fmt: skip
    return out


def _band(line: pd.DataFrame, color: str, label: str, ref: dict[str, str]) -> list[Spec]:
    """A line's seed band (columns ``lo``/``hi``): an upper edge and a lower one filled to it."""
    if "lo" not in line or not line["lo"].notna().any():
        return []
    name = str(line["band"].iloc[0]) if "band" in line else "seed band"
    edge = {"type": "scatter", "mode": "lines", "x": typed(line.step, "i4"), "line": {"width": 0},
            "legendgroup": label, "showlegend": False, "name": plot_text(name),
            "hoverinfo": "skip", **ref}  # fmt: skip
    return [{**edge, "y": typed(line["hi"])},
            {**edge, "y": typed(line["lo"]), "fill": "tonexty", "fillcolor": translucent(color, 0.2)}]  # fmt: skip


def _naming(per_block: bool, depth: list[str], colors: dict[str, str]):
    """(column a line is per, its legend label, its colour) for block or model lines."""
    if per_block:
        return ("block", lambda b: "all blocks" if pd.isna(b) else f"block {int(b)}",
                lambda b: "#444" if pd.isna(b) else depth[int(b)])  # fmt: skip
    return "model", plot_text, lambda m: colors[str(m)]


def lines_figure(df: pd.DataFrame, keys: Sequence[Key], title: str, log_steps: bool,
                 log_y: Collection[str] = (), bands: Mapping[str, str] | None = None) -> Spec:  # fmt: skip
    """Scalars vs step: a panel per (key, model) with a line per block, or a line per model."""
    keys = present(df, keys)
    if not keys:
        raise ValueError(f"no rows for {title}")
    per_block = bool(df.block.notna().any())
    models = model_order(df.model) if per_block else [""]
    colors = model_colors(df.model)
    depth = depth_colors(n_blocks_of(df))
    layout = grid(
        len(keys), len(models), [plot_text(panel_title(k, m)) for k in keys for m in models]
    )
    data, shown = [], set()
    for r, key in enumerate(keys):
        sel = select(df, *key)
        sel = sel.assign(model=sel.model.astype(str))
        groups = [(m, sel[sel.model == m]) for m in models] if per_block else [("", sel)]
        for c, (model, part) in enumerate(groups):
            ref = axis_ref(r * len(models) + c + 1)
            by, label_of, color_of = _naming(per_block, depth, colors)
            for name, line in line_part(part).groupby(by, dropna=False, sort=True):
                line = line.sort_values("step")
                label = label_of(name)
                data += _band(line, color_of(name), label, ref)
                data.append({"type": "scatter", "mode": "lines+markers", "x": typed(line.step, "i4"),
                             "y": typed(line.value), "name": label, "legendgroup": label,
                             "showlegend": label not in shown, "marker": {"size": 3},
                             "line": {"width": 1.4, "color": color_of(name)},
                             "hovertemplate": f"{label}<br>step %{{x}}<br>{plot_text(key[2])} "
                                              f"%{{y:.5g}}<extra>{plot_text(model)}</extra>", **ref})  # fmt: skip
                shown.add(label)
            band = bands_in(part, bands or {}, key[2], key[2] in log_y)
            data += _marks(part, by, label_of, color_of, band, key[2], ref, layout)
            axis = ref["yaxis"].replace("y", "yaxis")
            layout[axis]["title"] = {"text": plot_text(metric_name(key[2])), "font": {"size": 11}}
            if key[2] in log_y:
                layout[axis]["type"] = "log"
    set_axes(layout, "x", title={"text": "training step", "font": {"size": 11}})
    layout["title"] = {"text": plot_text(title)}
    layout["updatemenus"] = [step_axis_buttons(layout, log_steps)]
    if log_steps:
        set_axes(layout, "x", type="log")
    return {"data": data, "layout": layout}
