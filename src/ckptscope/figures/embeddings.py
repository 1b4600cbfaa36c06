"""F13: token-embedding correlation matrices over training, from the ``embeddings`` analysis.

Drawing only: matrices and orders come from the store (see
:mod:`ckptscope.analyses.embeddings`); every frame uses the ``embed_order`` row of the
model's last stored step, so structure that forms late is visible from the first frame.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from matplotlib.artist import Artist
from matplotlib.axes import Axes
from matplotlib.figure import FigureBase
from matplotlib.image import AxesImage

from ckptscope.figures.catalogue import FigureSpec, Query, register, still
from ckptscope.figures.rows import per, thinned_arrays
from ckptscope.names import model_order
from ckptscope.plots.animation import Animation
from ckptscope.plots.plotly_specs import Spec, animate, at_step, plot_text, typed
from ckptscope.plots.style import latest, panels, pick_steps

CORR_CMAP = "RdBu_r"
#: diverging, red for positive correlation (as matplotlib's RdBu_r in the static F13)
CORR_COLORSCALE = [[0.0, "#2166ac"], [0.25, "#92c5de"], [0.5, "#f7f7f7"], [0.75, "#f4a582"],
                   [1.0, "#b2182b"]]  # fmt: skip
MAX_HEATMAP_FRAMES = 30  # per model; a 256x256 int8 frame is ~87 kB of base64
HEATMAP_FRAME_BUDGET = 120  # over all models: ~10 MB of heatmaps at most
#: (corr kind, order kind, name, animated in the interactive report)
SETS = (("embed_corr", "embed_order", "byte tokens", True),
        ("embed_corr_tokens", "embed_order_tokens", "first non-byte tokens", False))  # fmt: skip


def frames_for(arrays: pd.DataFrame, model: str, kind: str) -> pd.DataFrame:
    """Rows of one model and kind, sorted by step."""
    sel = arrays[(arrays.model.astype(str) == str(model)) & (arrays.kind == kind)]
    return sel.sort_values("step", kind="stable").reset_index(drop=True)


def final_order(arrays: pd.DataFrame, model: str, kind: str) -> np.ndarray | None:
    """The stored order of the model's last step (None when the sweep stored none)."""
    rows = frames_for(arrays, model, kind)
    if rows.empty:
        return None
    return np.asarray(rows["values"].iloc[-1]).astype(np.int64)


def _rows(store, q: Query) -> pd.DataFrame:
    kinds = [k for s in SETS for k in s[:2]]
    return thinned_arrays(store, q, "embeddings", component="embed", kind=kinds)


def _draw_matrix(ax: Axes, rows: pd.DataFrame, order: np.ndarray | None, title: str) -> AxesImage:
    last = rows.iloc[-1]
    corr, labels = last["values"], last["labels"]
    idx = np.arange(len(corr)) if order is None else order
    im = ax.imshow(corr[np.ix_(idx, idx)], cmap=CORR_CMAP, vmin=-1, vmax=1, interpolation="nearest")
    ticks = np.arange(0, len(idx), max(1, len(idx) // 32))
    # matplotlib would start mathtext at a "$"
    names = [
        str(labels[i]).replace("$", r"\$") if labels is not None else str(i) for i in idx[ticks]
    ]
    ax.set_xticks(ticks, names, fontsize=5, rotation=90)
    ax.set_yticks(ticks, names, fontsize=5)
    ax.set_title(title, fontsize=9)
    return im


def _animation(rows: pd.DataFrame, q: Query, into: FigureBase | None = None) -> Animation:
    """Per model: the byte set in id and seriated order, the token set seriated; a frame per step."""
    model = rows.model.iloc[0]
    sets = []
    for corr_kind, order_kind, name, _ in SETS:
        part = frames_for(rows, model, corr_kind)
        if part.empty:
            continue
        order = final_order(rows, model, order_kind)
        if corr_kind == "embed_corr":  # the byte set: also in id order, as in the post
            sets.append((part, None, f"{name}, id order"))
        sets.append((part, order, f"{name}, seriated (last step's order)"))
    fig, axes = panels(1, len(sets), width=4.6, height=4.6, into=into)
    images = [(_draw_matrix(ax, part, order, title), part, order)
              for ax, (part, order, title) in zip(axes[0], sets, strict=True)]  # fmt: skip
    fig.colorbar(images[0][0], ax=axes[0], shrink=0.8, label="correlation")
    sup = fig.suptitle("")

    def update(step: int) -> list[Artist]:
        for im, part, order in images:
            i = latest(part.step.to_numpy(np.int64), step)
            corr = part["values"].iloc[0 if i is None else i]
            idx = np.arange(len(corr)) if order is None else order
            im.set_data(corr[np.ix_(idx, idx)])
        sup.set_text(f"F13: token-embedding correlations, {model} step {step}")
        return [sup, *(im for im, _, _ in images)]

    return Animation(fig.figure, sorted(int(s) for s in rows.step.unique()), update)


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
    layout = {"xaxis": {**axis, "title": {"text": "token"}},
              "yaxis": {**axis, "autorange": "reversed", "title": {"text": "token"}}, "height": 800,
              "width": 860, "margin": {"t": 120}, "updatemenus": [order_menu]}  # fmt: skip
    title = plot_text(title)
    if steps:
        frames = [[trace(at_step(rows, s)["values"].iloc[0])] for s in steps]
        return animate(layout, steps, frames, title)
    layout["title"] = {"text": f"{title}, step {int(last.step)}"}
    return {"data": [trace(last["values"])], "layout": layout}


def _views(rows: pd.DataFrame) -> list[tuple[str, pd.DataFrame]]:
    """A view per (model, set); the byte set keeps at most the page's heatmap frame budget."""
    cap = max(2, min(MAX_HEATMAP_FRAMES, HEATMAP_FRAME_BUDGET // max(1, rows.model.nunique())))
    views = []
    for model in model_order(rows.model.unique()):
        for corr_kind, order_kind, name, animated in SETS:
            part = frames_for(rows, model, corr_kind)
            if part.empty:
                continue
            steps = pick_steps(part.step, cap) if animated else [int(part.step.iloc[-1])]
            keep = (rows.model.astype(str) == model) & (rows.kind == order_kind)
            views.append((f"{name}, {model}", pd.concat([part[part.step.isin(steps)], rows[keep]])))
    return views


def _interactive(part: pd.DataFrame, q: Query) -> Spec:
    model = str(part.model.iloc[0])
    corr_kind, order_kind, name, animated = next(s for s in SETS if s[0] in set(part.kind))
    rows = frames_for(part, model, corr_kind)
    steps = [int(s) for s in rows.step] if animated else None
    return heatmap_figure(rows, final_order(part, model, order_kind), steps,
                          f"F13: embedding correlations of {name}, {model}")  # fmt: skip


register(FigureSpec("F13", "Correlation of the first 256 token embeddings", "embeddings",
                    "The post (Pythia): byte structure appears early and stays.", "embeddings",
                    "arrays: embed_corr, embed_corr_tokens; order: embed_order(_tokens) of the "
                    "last stored step", _rows, still(_animation), _interactive, _animation,
                    files=lambda rows: per(rows, "model", "F13_"), views=_views,
                    multiples=True))  # fmt: skip
