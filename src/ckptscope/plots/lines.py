"""Scalars against step (matplotlib): a panel per key and model, a line per block or model.

A key is ``(component, param, metric)``. Rows with blocks draw a panel per (key, model) with a
line per block coloured by depth; rows without blocks draw a panel per key with a line per
model. Keys an architecture lacks (``qkv`` in Llama, ``q``/``k``/``v`` in GPT-NeoX) are left out.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Sequence

import pandas as pd
from matplotlib.figure import Figure, FigureBase

from ckptscope.plots.style import depth_color, model_order, panels, step_axis

Key = tuple[str, str, str]


def select(df: pd.DataFrame, component: str, param: str, metric: str) -> pd.DataFrame:
    """Scalar rows of one (component, param, metric)."""
    return df[(df.component == component) & (df.param == param) & (df.metric == metric)]


def present(df: pd.DataFrame, keys: Sequence[Key]) -> list[Key]:
    """The keys that have rows in ``df``, in the given order."""
    have = set(zip(df.component, df.param, df.metric, strict=True))
    return [k for k in keys if k in have]


def key_label(component: str, param: str, metric: str) -> str:
    return " ".join(f"{component} {param} {metric}".split())


def line_grid(
    df: pd.DataFrame,
    keys: Sequence[Key],
    title: str,
    *,
    log_steps: bool = False,
    log_y: Collection[str] = (),
    into: FigureBase | None = None,
) -> Figure:
    """Lines against step for every present key (see the module docstring)."""
    keys = present(df, keys)
    if not keys:
        raise ValueError(f"no rows for {title}")
    per_block = bool(df.block.notna().any())
    models = model_order(df.model.unique())
    cells = [(k, m) for k in keys for m in models] if per_block else [(k, "") for k in keys]
    ncols = len(models) if per_block and len(models) > 1 else min(4, len(cells))
    fig, axes = panels(math.ceil(len(cells) / ncols), ncols, into=into)
    flat = [ax for row in axes for ax in row]
    for ax in flat[len(cells) :]:
        ax.set_visible(False)
    for ax, (key, model) in zip(flat, cells, strict=False):
        sel = select(df, *key)
        if per_block:
            part = sel[sel.model.astype(str) == model]
            n_blocks = int(part.block.max()) + 1 if part.block.notna().any() else 1
            for block, line in part.groupby("block"):
                line = line.sort_values("step")
                ax.plot(line.step, line.value, color=depth_color(int(block), n_blocks), lw=1.2)
            ax.set_title(f"{model}: {key_label(*key)}", fontsize=9)
        else:
            for name in model_order(sel.model.unique()):
                line = sel[sel.model.astype(str) == name].sort_values("step")
                ax.plot(line.step, line.value, label=name, lw=1.4)
            ax.set_title(key_label(*key), fontsize=9)
            ax.legend(fontsize=7)
        if key[2] in log_y:
            ax.set_yscale("log")
        ax.set_ylabel(key[2])
        step_axis(ax, log_steps)
    fig.suptitle(f"{title} (colour: block depth, dark = early)" if per_block else title)
    return fig.figure
