"""Shared plotly helpers: figure specs as plain dicts (grids, lines, animation sliders).

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

Spec = dict[str, Any]

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
            x0, y1 = min(1.0, max(0.0, x0)), min(1.0, max(0.0, y1))  # no -1e-17 (plotly.py)
            layout[f"xaxis{suffix}"] = {"domain": [x0, min(1.0, x0 + w)], "anchor": f"y{suffix}"}
            layout[f"yaxis{suffix}"] = {"domain": [max(0.0, y1 - h), y1], "anchor": f"x{suffix}"}
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


def translucent(color: str, alpha: float) -> str:
    """A colour (``#rrggbb`` or ``rgb(r, g, b)``) as ``rgba(...)`` with ``alpha``."""
    if color.startswith("#") and len(color) == 7:
        r, g, b = (int(color[i : i + 2], 16) for i in (1, 3, 5))
    elif color.startswith("rgb"):
        r, g, b = (int(float(v)) for v in color[color.index("(") + 1 : -1].split(",")[:3])
    else:
        return color
    return f"rgba({r},{g},{b},{alpha})"
