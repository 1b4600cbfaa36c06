"""plotly figure specs (plain dicts) for the HTML report, drawn from store rows.

Plain dicts rather than ``plotly.graph_objects``: the page only needs JSON, and validating
thousands of trace objects took most of a report's build time. Numbers travel as base64
typed arrays (plotly.js decodes ``{"dtype": "f4", "bdata": ...}``), float32 or int8.
Drawing only: rows are selected, thinned for display and laid out, never summarised.
Every string from the store passes through :func:`plot_text` before plotly sees it.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from plotly.colors import sample_colorscale

from ckptscope.plots.style import model_order

Spec = dict[str, Any]

MAX_SPECTRUM_POINTS = 120
#: plotly's default colour cycle, fixed so a component keeps its colour in every panel
PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
           "#7f7f7f", "#bcbd22", "#17becf"]  # fmt: skip
#: diverging, red for positive correlation (as matplotlib's RdBu_r in the static F13)
CORR_COLORSCALE = [[0.0, "#2166ac"], [0.25, "#92c5de"], [0.5, "#f7f7f7"], [0.75, "#f4a582"],
                   [1.0, "#b2182b"]]  # fmt: skip
_MOVE = {
    "mode": "immediate",
    "frame": {"duration": 0, "redraw": True},
    "transition": {"duration": 0},
}


def plot_text(value: Any) -> str:
    """Text for a plotly label: plotly renders a pseudo-HTML subset, so escape it."""
    return html.escape(str(value), quote=False)


def typed(values: Any, dtype: str = "f4") -> dict[str, str]:
    """A numeric array as a plotly.js typed-array spec (little-endian base64)."""
    a = np.ascontiguousarray(np.asarray(values), dtype=np.dtype(dtype).newbyteorder("<"))
    spec = {"dtype": dtype, "bdata": base64.b64encode(a.tobytes()).decode("ascii")}
    if a.ndim > 1:
        spec["shape"] = ", ".join(str(s) for s in a.shape)
    return spec


def depth_colors(n: int) -> list[str]:
    """Viridis colours for blocks 0..n-1: dark for early blocks, bright for late ones."""
    return sample_colorscale("Viridis", [i / max(1, n - 1) for i in range(n)])


def grid(n_rows: int, n_cols: int, titles: Sequence[str], height_per_row: int = 250) -> Spec:
    """A layout with an ``n_rows x n_cols`` grid of axes (numbered row-major from 1)."""
    hgap, vgap = 0.06 if n_cols > 1 else 0.0, min(0.1, 0.3 / n_rows)
    w, h = (1 - hgap * (n_cols - 1)) / n_cols, (1 - vgap * (n_rows - 1)) / n_rows
    layout: Spec = {"annotations": [], "height": height_per_row * n_rows + 170,
                    "margin": {"t": 110}, "hovermode": "closest"}  # fmt: skip
    for r in range(n_rows):
        for c in range(n_cols):
            i = r * n_cols + c + 1
            x0, y1 = c * (w + hgap), 1 - r * (h + vgap)
            suffix = "" if i == 1 else str(i)
            layout[f"xaxis{suffix}"] = {"domain": [x0, x0 + w], "anchor": f"y{suffix}"}
            layout[f"yaxis{suffix}"] = {"domain": [y1 - h, y1], "anchor": f"x{suffix}"}
            if i <= len(titles):
                layout["annotations"].append({"text": titles[i - 1], "showarrow": False, "xref": "paper",
                                              "yref": "paper", "x": x0 + w / 2, "y": y1,
                                              "xanchor": "center", "yanchor": "bottom"})  # fmt: skip
    return layout


def axis_ref(i: int) -> dict[str, str]:
    """Trace keys placing it on the ``i``-th (1-based) axes of a :func:`grid`."""
    suffix = "" if i == 1 else str(i)
    return {"xaxis": f"x{suffix}", "yaxis": f"y{suffix}"}


def set_axes(layout: Spec, letter: str, **props: Any) -> None:
    """Set properties on every x (or y) axis of a layout."""
    for key in [k for k in layout if k.startswith(f"{letter}axis")] or [f"{letter}axis"]:
        layout.setdefault(key, {}).update(props)


def step_axis_buttons(layout: Spec, log_steps: bool) -> Spec:
    """Buttons switching every step axis between linear and log."""
    keys = [k for k in layout if k.startswith("xaxis")] or ["xaxis"]
    buttons = [{"label": f"{kind} steps", "method": "relayout",
                "args": [{f"{k}.type": kind for k in keys}]} for kind in ("linear", "log")]  # fmt: skip
    return {"type": "buttons", "direction": "right", "x": 1.0, "xanchor": "right", "y": 1.0,
            "yanchor": "bottom", "pad": {"b": 30}, "active": int(log_steps), "buttons": buttons}  # fmt: skip


def select(df: pd.DataFrame, component: str, param: str, metric: str) -> pd.DataFrame:
    """Scalar rows of one (component, param, metric)."""
    return df[(df.component == component) & (df.param == param) & (df.metric == metric)]


def lines_figure(df: pd.DataFrame, rows: Sequence[tuple[str, str, str]], title: str,
                 per_block: bool, log_steps: bool) -> Spec | None:  # fmt: skip
    """Scalars vs step: a panel per (row, model) with a line per block, or a line per model."""
    present = [r for r in rows if not select(df, *r).empty]
    if not present:
        return None
    models = model_order(df.model) if per_block else [""]
    titles = [plot_text(" ".join(f"{m + ':' if m else ''} {c} {p} {k}".split()))
              for c, p, k in present for m in models]  # fmt: skip
    layout = grid(len(present), len(models), titles)
    data = []
    for r, (component, param, metric) in enumerate(present):
        sel = select(df, component, param, metric)
        sel = sel.assign(model=sel.model.astype(str))
        groups = [(m, sel[sel.model == m]) for m in models] if per_block else [("", sel)]
        for c, (model, part) in enumerate(groups):
            blocks = part["block"].dropna()
            colors = depth_colors(int(blocks.max()) + 1 if len(blocks) else 1)
            for name, line in part.groupby(
                "block" if per_block else "model", dropna=False, sort=True
            ):
                line = line.sort_values("step")
                if per_block:
                    label = "all blocks" if pd.isna(name) else f"block {int(name)}"
                    color = "#444" if pd.isna(name) else colors[int(name)]
                    extra = plot_text(model)
                else:
                    label, color, extra = plot_text(name), None, ""
                data.append({"type": "scatter", "mode": "lines+markers", "x": typed(line.step, "i4"),
                             "y": typed(line.value), "name": label, "legendgroup": label,
                             "showlegend": r == 0 and c == 0, "marker": {"size": 3},
                             "line": {"width": 1.4, **({"color": color} if color else {})},
                             "hovertemplate": f"{label}<br>step %{{x}}<br>{plot_text(metric)} "
                                              f"%{{y:.5g}}<extra>{extra}</extra>",
                             **axis_ref(r * len(models) + c + 1)})  # fmt: skip
    layout["title"] = {"text": plot_text(title)}
    layout["updatemenus"] = [step_axis_buttons(layout, log_steps)]
    if log_steps:
        set_axes(layout, "x", type="log")
    return {"data": data, "layout": layout}


def animate(layout: Spec, steps: Sequence[int], frames: Sequence[list[Spec]], title: str,
            fixed: Sequence[Spec] = ()) -> Spec:  # fmt: skip
    """A figure with one frame per step (a list of traces each), a step slider and play button.

    ``fixed`` traces come after the animated ones and stay as they are in every frame.
    """
    n = len(frames[0])
    spec_frames = [{"name": str(s), "data": tr, "traces": list(range(n)),
                    "layout": {"title": {"text": f"{title}, step {s}"}}}
                   for s, tr in zip(steps, frames, strict=True)]  # fmt: skip
    slider = {"active": 0, "currentvalue": {"prefix": "step "}, "pad": {"t": 75}, "len": 0.9,
              "x": 0.1, "steps": [{"label": str(s), "method": "animate", "args": [[str(s)], _MOVE]}
                                 for s in steps]}  # fmt: skip
    play = {"type": "buttons", "direction": "left", "x": 0.1, "y": 0, "xanchor": "right",
            "yanchor": "top", "pad": {"t": 75, "r": 10}, "showactive": False,
            "buttons": [{"label": "▶", "method": "animate", "args": [None, {
                            **_MOVE, "fromcurrent": True, "frame": {"duration": 350, "redraw": True}}]},
                        {"label": "❚❚", "method": "animate", "args": [[None], _MOVE]}]}  # fmt: skip
    layout = {**layout, "title": {"text": f"{title}, step {steps[0]}"}, "sliders": [slider],
              "height": layout.get("height", 450) + 40,
              "updatemenus": [*layout.get("updatemenus", []), play]}  # fmt: skip
    return {"data": [*frames[0], *fixed], "layout": layout, "frames": spec_frames}


def at_step(rows: pd.DataFrame, step: int) -> pd.DataFrame:
    """Rows of one step."""
    return rows[rows.step == step]


def hist_figure(part: pd.DataFrame, centres: np.ndarray, steps: Sequence[int], title: str) -> Spec:
    """Animated histograms: a line per ``label`` (fraction per display bin), log y."""
    labels = sorted(set(part.label))
    empty = np.full(len(centres), np.nan)
    frames = []
    for step in steps:
        at = at_step(part, step)
        frames.append([{"type": "scatter", "mode": "lines", "line": {"shape": "hvh"},
                        "x": typed(centres), "name": plot_text(lab),
                        "y": typed(at[at.label == lab].frac.iloc[0] if (at.label == lab).any() else empty),
                        "hovertemplate": f"value %{{x:.4g}}<br>fraction %{{y:.3g}}<extra>{plot_text(lab)}</extra>"}
                       for lab in labels])  # fmt: skip
    layout = {"height": 480, "xaxis": {"title": {"text": "value"}},
              "yaxis": {"type": "log", "title": {"text": "fraction of values"}}}  # fmt: skip
    return animate(layout, steps, frames, plot_text(title))


def qq_figure(
    part: pd.DataFrame, families: Sequence[str], steps: Sequence[int], title: str
) -> Spec:
    """Animated QQ panels, one per family, a line per component; y = x is a perfect fit."""
    comps = sorted(set(part.component))
    colors = dict(zip(comps, PALETTE * (1 + len(comps) // len(PALETTE)), strict=False))
    layout = grid(
        1, len(families), [f.removeprefix("qq_").replace("_", " ") for f in families], 330
    )
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


def log_ranks(n: int) -> np.ndarray:
    """At most ``MAX_SPECTRUM_POINTS`` log-spaced 0-based ranks of ``n`` values."""
    return (
        np.unique(np.rint(np.logspace(0, np.log10(max(n, 1)), MAX_SPECTRUM_POINTS))).astype(int) - 1
    )


def spectra_figure(
    part: pd.DataFrame, comps: Sequence[str], steps: Sequence[int], title: str
) -> Spec:
    """Animated log-log singular-value spectra: a panel per component, a line per block."""
    keys = sorted({(c, int(b)) for c, b in zip(part.component, part.block, strict=True)},
                  key=lambda k: (comps.index(k[0]), k[1]))  # fmt: skip
    colors = depth_colors(max(b for _, b in keys) + 1)
    layout = grid(1, len(comps), list(comps), 330)
    set_axes(layout, "x", type="log", title={"text": "rank"})
    set_axes(layout, "y", type="log")
    frames = []
    for step in steps:
        at = at_step(part, step)
        traces = []
        for comp, block in keys:
            hit = at[(at.component == comp) & (at.block == block)]
            s = hit["values"].iloc[0] if len(hit) else np.full(1, np.nan)
            ranks = log_ranks(len(s))
            i = comps.index(comp) + 1
            traces.append({"type": "scatter", "mode": "lines", "x": typed(ranks + 1, "i4"),
                           "y": typed(s[ranks]), "name": f"block {block}", "legendgroup": f"b{block}",
                           "showlegend": i == 1, "line": {"color": colors[block], "width": 1.2},
                           "hovertemplate": f"{comp} block {block}<br>rank %{{x}}<br>"
                                            "sigma %{y:.4g}<extra></extra>", **axis_ref(i)})  # fmt: skip
        frames.append(traces)
    return animate(layout, steps, frames, plot_text(title))


def unique_labels(labels: Sequence[str] | None, n: int) -> list[str]:
    """Escaped, unique category names (plotly merges equal categories)."""
    ok = labels is not None and len(labels) == n
    raw = [str(x) for x in labels] if ok else [f"#{i}" for i in range(n)]
    seen: dict[str, int] = {}
    out = []
    for i, lab in enumerate(raw):
        seen[lab] = seen.get(lab, 0) + 1
        out.append(plot_text(lab if seen[lab] == 1 else f"{lab} [{i}]"))
    return out


def heatmap_figure(rows: pd.DataFrame, order: np.ndarray | None, steps: Sequence[int] | None,
                   title: str) -> Spec:  # fmt: skip
    """Correlation heatmaps in id or seriated order (buttons); a slider when ``steps`` is given."""
    last = rows.iloc[-1]
    n = len(last["values"])
    cats = unique_labels(last["labels"], n)
    seriated = [cats[i] for i in order] if order is not None and len(order) == n else cats

    def trace(corr: np.ndarray) -> Spec:
        z = np.rint(np.clip(corr, -1, 1) * 100).astype(np.int8)  # 100 r as int8: compact
        return {"type": "heatmap", "z": typed(z, "i1"), "x": cats, "y": cats, "zmin": -100,
                "zmax": 100, "colorscale": CORR_COLORSCALE,
                "colorbar": {"title": {"text": "100·r"}},
                "hovertemplate": "%{y} · %{x}<br>100·r = %{z}<extra></extra>"}  # fmt: skip

    axis = {"type": "category", "categoryorder": "array", "categoryarray": seriated,
            "tickfont": {"size": 8}, "automargin": True}  # fmt: skip
    order_menu = {"type": "buttons", "direction": "right", "x": 0, "y": 1.02, "xanchor": "left",
                  "yanchor": "bottom", "active": 0, "buttons": [
                      {"label": "seriated (last step's order)", "method": "relayout",
                       "args": [{"xaxis.categoryarray": seriated, "yaxis.categoryarray": seriated}]},
                      {"label": "token id order", "method": "relayout",
                       "args": [{"xaxis.categoryarray": cats, "yaxis.categoryarray": cats}]}]}  # fmt: skip
    layout = {"xaxis": axis, "yaxis": {**axis, "autorange": "reversed"}, "height": 800,
              "width": 860, "margin": {"t": 120}, "updatemenus": [order_menu]}  # fmt: skip
    title = plot_text(title)
    if steps:
        frames = [[trace(at_step(rows, s)["values"].iloc[0])] for s in steps]
        return animate(layout, steps, frames, title)
    layout["title"] = {"text": f"{title}, step {int(last.step)}"}
    return {"data": [trace(last["values"])], "layout": layout}
