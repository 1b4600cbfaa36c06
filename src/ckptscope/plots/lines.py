"""Scalars against step (matplotlib): a panel per key and model, a line per block or model.

A key is ``(component, param, metric)``. Rows with blocks draw a panel per (key, model) with a
line per block coloured by depth (a colourbar says which); rows without blocks draw a panel
per key with a line per model, each model in its colour of :func:`model_colors` in every
panel. Keys an architecture lacks (``qkv`` in Llama, ``q``/``k``/``v`` in GPT-NeoX) are left
out. Phase changes (column ``event``) are stars on their line; fits at their bounds (column
``gaussian_like``) are markers on a band labelled Gaussian-like (see :mod:`.marks`). A line
of several seeds (columns ``lo``, ``hi``, ``band`` from :func:`ckptscope.groups.seed_bands`)
is drawn with its band, shaded in its colour.
Axes and panels are named with :mod:`ckptscope.names`.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping, Sequence

import pandas as pd
from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.cm import ScalarMappable
from matplotlib.colors import BoundaryNorm
from matplotlib.figure import Figure, FigureBase
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from ckptscope.names import metric_name, tensor_name
from ckptscope.plots.bands import draw_band
from ckptscope.plots.marks import (
    BAND_MARKER,
    EVENT_MARKER,
    GAUSSIAN_LIKE,
    bands_in,
    bound_part,
    chars_for,
    event_part,
    line_part,
    wrap,
)
from ckptscope.plots.style import (
    DEPTH_CMAP,
    depth_color,
    fixed_margins,
    log_y_axis,
    model_colors,
    model_order,
    panels,
    step_axis,
)

Key = tuple[str, str, str]
PANEL_WIDTH, PANEL_HEIGHT = 4.2, 3.2


def select(df: pd.DataFrame, component: str, param: str, metric: str) -> pd.DataFrame:
    """Scalar rows of one (component, param, metric)."""
    return df[(df.component == component) & (df.param == param) & (df.metric == metric)]


def present(df: pd.DataFrame, keys: Sequence[Key]) -> list[Key]:
    """The keys that have rows in ``df``, in the given order."""
    have = set(zip(df.component, df.param, df.metric, strict=True))
    return [k for k in keys if k in have]


def key_label(component: str, param: str, metric: str) -> str:
    """A panel's name: the tensor's human name (the metric is on the y axis)."""
    return tensor_name(component, param)


def panel_title(key: Key, model: str = "") -> str:
    """ "model: MLP in" (or the tensor alone when the panel holds every model)."""
    return f"{model}: {key_label(*key)}" if model else key_label(*key)


def n_blocks_of(df: pd.DataFrame) -> int:
    """Blocks of the deepest model in ``df`` (1 without blocks)."""
    blocks = df["block"].dropna()
    return int(blocks.max()) + 1 if len(blocks) else 1


def draw_marks(ax: Axes, sel: pd.DataFrame, color_of: Mapping[object, object], by: str,
               band: tuple[str, float] | None) -> None:  # fmt: skip
    """Stars on phase changes; bound values as markers on a labelled Gaussian-like band."""
    for name, ev in event_part(sel).groupby(by, dropna=False):
        ax.plot(ev.step, ev.value, ls="none", marker=EVENT_MARKER[0], ms=10, mec="k", mew=0.7,
                color=color_of.get(name, "k"), zorder=5)  # fmt: skip
    if band is None:
        return
    side, y = band
    ax.axhline(y, color="0.6", lw=6, alpha=0.25, zorder=0)
    ax.annotate(GAUSSIAN_LIKE, (0.99, y), xycoords=("axes fraction", "data"), fontsize=7,
                va="center", ha="right", color="0.3",
                bbox={"boxstyle": "round,pad=0.15", "fc": "w", "ec": "none", "alpha": 0.8})  # fmt: skip
    for name, at in bound_part(sel).groupby(by, dropna=False):
        ax.plot(at.step, [y] * len(at), ls="none", marker=BAND_MARKER[side][0], ms=5,
                color=color_of.get(name, "0.3"), zorder=4)  # fmt: skip


def band_names(sel: pd.DataFrame) -> list[str]:
    """What the seed bands of these rows show ("min-max over seeds"), if any."""
    if "band" not in sel:
        return []
    return sorted({str(b) for b in sel["band"].dropna() if b})


def _legend(ax: Axes, sel: pd.DataFrame, models: bool) -> None:
    extra: list[object] = [Patch(color="0.6", alpha=0.4, label=b) for b in band_names(sel)]
    if len(event_part(sel)):
        extra.append(Line2D([], [], ls="none", marker=EVENT_MARKER[0], mec="k", color="w",
                            ms=9, label="phase change"))  # fmt: skip
    handles = ax.get_legend_handles_labels()[0] if models else []
    if handles or extra:
        ax.legend(handles=[*handles, *extra], fontsize=7)


def line_grid(
    df: pd.DataFrame,
    keys: Sequence[Key],
    title: str,
    *,
    log_steps: bool = False,
    log_y: Collection[str] = (),
    bands: Mapping[str, str] | None = None,
    into: FigureBase | None = None,
) -> Figure:
    """Lines against step for every present key (see the module docstring).

    ``bands``: metric -> side ("top", "bottom") of its Gaussian-like band.
    """
    keys = present(df, keys)
    if not keys:
        raise ValueError(f"no rows for {title}")
    per_block = bool(df.block.notna().any())
    models = model_order(df.model.unique())
    colors = model_colors(models)
    cells = [(k, m) for k in keys for m in models] if per_block else [(k, "") for k in keys]
    ncols = len(models) if per_block and len(models) > 1 else min(4, len(cells))
    nrows = math.ceil(len(cells) / ncols)
    fig, axes = panels(nrows, ncols, PANEL_WIDTH, PANEL_HEIGHT, into, fixed=True)
    sup = wrap(title, chars_for(PANEL_WIDTH * ncols, 12))
    titles = [wrap(panel_title(key, model), chars_for(PANEL_WIDTH)) for key, model in cells]
    ylabel_lines = max(wrap(metric_name(k[2]), 34).count("\n") + 1 for k, _ in cells)
    fixed_margins(fig, nrows, ncols, sup.count("\n") + 1,
                  max(t.count("\n") + 1 for t in titles), ylabel_lines)  # fmt: skip
    flat = [ax for row in axes for ax in row]
    for ax in flat[len(cells) :]:
        ax.set_visible(False)
    n_blocks = n_blocks_of(df)
    depth = {b: depth_color(b, n_blocks) for b in range(n_blocks)}
    for ax, (key, model), panel in zip(flat, cells, titles, strict=False):
        sel = select(df, *key)
        if per_block:
            sel = sel[sel.model.astype(str) == model]
            for block, line in line_part(sel).groupby("block"):
                line = line.sort_values("step")
                ax.plot(line.step, line.value, color=depth[int(block)], lw=1.2)
                draw_band(ax, line, depth[int(block)])
            by, color_of = "block", depth
        else:
            sel = sel.assign(model=sel.model.astype(str))
            for name in model_order(sel.model.unique()):
                line = line_part(sel[sel.model == name]).sort_values("step")
                ax.plot(line.step, line.value, label=name, color=colors[name], lw=1.4)
                draw_band(ax, line, colors[name])
            by, color_of = "model", colors
        log = key[2] in log_y
        if log:
            log_y_axis(ax)
        draw_marks(ax, sel, color_of, by, bands_in(sel, bands or {}, key[2], log))
        _legend(ax, sel, not per_block)
        ax.set_title(panel, fontsize=9)
        ax.set_ylabel(wrap(metric_name(key[2]), 34), fontsize=8)
        step_axis(ax, log_steps)
    if per_block:
        cmap = colormaps[DEPTH_CMAP].resampled(n_blocks)
        norm = BoundaryNorm([b - 0.5 for b in range(n_blocks + 1)], n_blocks)
        bar = fig.colorbar(ScalarMappable(norm, cmap), ax=flat[: len(cells)], shrink=0.8,
                           label="block (depth: dark = early)")  # fmt: skip
        bar.set_ticks(range(0, n_blocks, max(1, n_blocks // 8)))
    fig.suptitle(sup)
    return fig.figure
