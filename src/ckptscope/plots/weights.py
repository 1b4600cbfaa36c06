"""Weight-statistic figures F7-F12 and F14, drawn from rows of the ``scalars`` table."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from ckptscope.plots.style import depth_color, model_order, panels, save, step_axis

#: (id, title, [(component, param, metric)], per-block?)
WEIGHT_FIGURES: dict[str, tuple[str, list[tuple[str, str, str]], bool]] = {
    "F7": (
        "MLP weight norms",
        [
            ("mlp_in", "weight", "norm"),
            ("mlp_gate", "weight", "norm"),
            ("mlp_out", "weight", "norm"),
        ],
        True,
    ),
    "F8": (
        "Attention weight norms",
        [
            ("qkv", "weight", "norm"),
            ("q", "weight", "norm"),
            ("k", "weight", "norm"),
            ("v", "weight", "norm"),
            ("attn_out", "weight", "norm"),
        ],
        True,
    ),
    "F9": ("MLP bias norms", [("mlp_in", "bias", "norm"), ("mlp_out", "bias", "norm")], True),
    "F10": (
        "LayerNorm weight and bias norms",
        [
            ("ln1", "weight", "norm"),
            ("ln1", "bias", "norm"),
            ("ln2", "weight", "norm"),
            ("ln2", "bias", "norm"),
        ],
        True,
    ),
    "F11": (
        "Distance from the first checkpoint",
        [
            ("attn_out", "weight", "dist_init"),
            ("qkv", "weight", "dist_init"),
            ("q", "weight", "dist_init"),
            ("k", "weight", "dist_init"),
            ("v", "weight", "dist_init"),
            ("mlp_in", "weight", "dist_init"),
            ("mlp_gate", "weight", "dist_init"),
            ("mlp_out", "weight", "dist_init"),
        ],
        True,
    ),
    "F12": (
        "Unembedding and final LayerNorm norms",
        [
            ("unembed", "weight", "norm"),
            ("ln_final", "weight", "norm"),
            ("ln_final", "bias", "norm"),
        ],
        False,
    ),
    "F14": ("Embedding norm", [("embed", "weight", "norm")], False),
    "update": (
        "Update size: relative distance from the previous checkpoint",
        [
            ("qkv", "weight", "rel_dist_prev"),
            ("q", "weight", "rel_dist_prev"),
            ("k", "weight", "rel_dist_prev"),
            ("v", "weight", "rel_dist_prev"),
            ("attn_out", "weight", "rel_dist_prev"),
            ("mlp_in", "weight", "rel_dist_prev"),
            ("mlp_out", "weight", "rel_dist_prev"),
        ],
        True,
    ),
}


def _select(df: pd.DataFrame, component: str, param: str, metric: str) -> pd.DataFrame:
    return df[(df.component == component) & (df.param == param) & (df.metric == metric)]


def plot_per_block(
    df: pd.DataFrame,
    rows: Sequence[tuple[str, str, str]],
    title: str,
    out: Path,
    *,
    log_steps: bool = False,
    formats: Sequence[str] = ("png",),
) -> list[Path]:
    """One row per (component, param, metric) with data, one column per model; a line per block.

    Rows an architecture lacks (``qkv`` in Llama, ``q``/``k``/``v`` in GPT-NeoX) are left out.
    """
    rows = [r for r in rows if not _select(df, *r).empty]
    if not rows:
        return []
    models = model_order(df.model.unique())
    fig, axes = panels(len(rows), len(models))
    for r, (component, param, metric) in enumerate(rows):
        sel = _select(df, component, param, metric)
        for c, model in enumerate(models):
            ax = axes[r][c]
            part = sel[sel.model == model]
            n_blocks = int(part.block.max()) + 1 if len(part) else 1
            for block, line in part.groupby("block"):
                line = line.sort_values("step")
                ax.plot(line.step, line.value, color=depth_color(int(block), n_blocks), lw=1.2)
            ax.set_title(f"{model}: {component} {param} {metric}", fontsize=9)
            step_axis(ax, log_steps)
        if len(models):
            axes[r][0].set_ylabel(metric)
    fig.suptitle(f"{title} (colour: block depth, dark = early)")
    return save(fig, out, formats)


def plot_per_size(
    df: pd.DataFrame,
    rows: Sequence[tuple[str, str, str]],
    title: str,
    out: Path,
    *,
    log_steps: bool = False,
    formats: Sequence[str] = ("png",),
) -> list[Path]:
    """One panel per (component, param, metric) with data; a line per model."""
    rows = [r for r in rows if not _select(df, *r).empty]
    if not rows:
        return []
    fig, axes = panels(1, len(rows))
    for c, (component, param, metric) in enumerate(rows):
        ax = axes[0][c]
        sel = _select(df, component, param, metric)
        for model in model_order(sel.model.unique()):
            line = sel[sel.model == model].sort_values("step")
            ax.plot(line.step, line.value, label=str(model), lw=1.4)
        ax.set_title(f"{component} {param} {metric}", fontsize=9)
        step_axis(ax, log_steps)
        ax.legend(fontsize=7)
    fig.suptitle(title)
    return save(fig, out, formats)


def plot_weight_figure(
    fig_id: str,
    scalars: pd.DataFrame,
    out_dir: Path,
    *,
    log_steps: bool = False,
    formats: Sequence[str] = ("png",),
) -> list[Path]:
    """Draw one of the weight figures (F7-F12, F14, ``update``) from scalar rows."""
    title, rows, per_block = WEIGHT_FIGURES[fig_id]
    draw = plot_per_block if per_block else plot_per_size
    return draw(
        scalars, rows, f"{fig_id}: {title}", out_dir / fig_id, log_steps=log_steps, formats=formats
    )
