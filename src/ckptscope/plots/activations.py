"""Activation and gradient figures F3-F6, drawn from store rows (no statistics computed).

* F3: residual-stream histogram over training, all blocks pooled (``resid`` block None,
  kind ``hist``), one GIF per model, a frame per step.
* F4: gradient histogram over training of one component pooled over blocks (default
  ``mlp_out`` weight, kind ``grad_hist``), one GIF per model.
* F5: ``max_abs`` of ``resid`` per block vs step, a panel per model, colour = depth.
* F6: ``max_abs_ever`` (derivation ``resid_outliers``) at each model's last step, per block
  vs relative depth, a line per model.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import imageio.v2 as imageio
import numpy as np
import pandas as pd

from ckptscope.plots.style import depth_color, model_order, panels, plt, save, step_axis
from ckptscope.stats import UniversalGrid, display_edges, rebin

if TYPE_CHECKING:
    from ckptscope.report.figures import ReportOptions
    from ckptscope.store import Store

MAX_FRAMES = 60
DISPLAY_BINS = 161


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("._") or "model"


def _pick(n: int, cap: int) -> list[int]:
    if n <= max(cap, 2):
        return list(range(n))
    return sorted({int(i) for i in np.rint(np.linspace(0, n - 1, max(cap, 2)))})


def animate_histograms(
    rows: pd.DataFrame,
    title: str,
    out_dir: Path,
    stem: str,
    *,
    max_frames: int = MAX_FRAMES,
) -> list[Path]:
    """One GIF per model: a frame per step of its histogram rows (one row per step).

    ``rows`` has the columns of ``Store.arrays``; counts are shown as densities on linear
    display bins spanning every step's non-empty bins (fixed axes across frames), log y.
    """
    paths = []
    for model, frames in rows.groupby("model", sort=True):
        frames = frames.sort_values("step", kind="stable").reset_index(drop=True)
        grid = UniversalGrid.from_json(frames["meta"].iloc[0])
        counts = [np.asarray(v, dtype=np.float64) for v in frames["values"]]
        edges = display_edges(counts, grid, n_bins=DISPLAY_BINS)
        widths = np.diff(edges)
        density = [rebin(c, edges, grid) / max(c.sum(), 1.0) / widths for c in counts]
        positive = [d[d > 0] for d in density]
        lo = min((p.min() for p in positive if p.size), default=1e-12)
        hi = max((p.max() for p in positive if p.size), default=1.0)
        fig, axes = panels(1, 1, width=6.0, height=4.0)
        ax = axes[0][0]
        floor = lo / 10  # log axis: empty bins drawn at a floor below every shown density
        patch = ax.stairs(np.maximum(density[0], floor), edges, baseline=floor, fill=True)
        ax.set_yscale("log")
        ax.set_ylim(lo / 2, hi * 2)
        ax.set_xlim(edges[0], edges[-1])
        ax.set_xlabel("value")
        ax.set_ylabel("density")
        images = []
        for i in _pick(len(frames), max_frames):
            patch.set_data(np.maximum(density[i], floor))
            ax.set_title(f"{title}: {model} step {int(frames.step[i])}", fontsize=10)
            fig.canvas.draw()
            images.append(np.asarray(fig.canvas.buffer_rgba())[..., :3].copy())
        plt.close(fig)
        out_dir.mkdir(parents=True, exist_ok=True)
        gif = out_dir / f"{stem}_{_safe(str(model))}.gif"
        imageio.mimsave(gif, images, duration=0.25, loop=0)
        paths.append(gif)
    return paths


def plot_resid_histograms(arrays: pd.DataFrame, out_dir: Path) -> list[Path]:
    """F3 from ``arrays`` rows of component ``resid``, kind ``hist``, block None."""
    rows = arrays[(arrays.component == "resid") & (arrays.kind == "hist") & arrays.block.isna()]
    return animate_histograms(rows, "F3 residual stream, all blocks", out_dir, "F3_resid_hist")


def plot_grad_histograms(
    arrays: pd.DataFrame, out_dir: Path, component: str = "mlp_out", param: str = "weight"
) -> list[Path]:
    """F4 from ``arrays`` rows of kind ``grad_hist`` pooled over blocks (block None)."""
    sel = (arrays.component == component) & (arrays.param == param)
    rows = arrays[sel & (arrays.kind == "grad_hist") & arrays.block.isna()]
    title = f"F4 gradient of {component} {param}, all blocks"
    return animate_histograms(rows, title, out_dir, f"F4_grad_hist_{component}_{param}")


def plot_max_abs_resid(
    scalars: pd.DataFrame,
    out: Path,
    *,
    log_steps: bool = False,
    formats: Sequence[str] = ("png",),
) -> list[Path]:
    """F5: ``max_abs`` of the residual after each block vs step; a panel per model."""
    sel = scalars[(scalars.component == "resid") & (scalars.metric == "max_abs")]
    sel = sel.dropna(subset=["block"])
    models = model_order(sel.model.unique())
    if not models:
        return []
    fig, axes = panels(1, len(models))
    for ax, model in zip(axes[0], models, strict=True):
        part = sel[sel.model == model]
        n_blocks = int(part.block.max()) + 1
        for block, line in part.groupby("block"):
            line = line.sort_values("step")
            ax.plot(line.step, line.value, color=depth_color(int(block), n_blocks), lw=1.2,
                    label=f"block {int(block)}")  # fmt: skip
        ax.set_title(model, fontsize=9)
        ax.set_ylabel("max |residual|")
        step_axis(ax, log_steps)
        if n_blocks <= 12:
            ax.legend(fontsize=6)
    fig.suptitle("F5 max |residual| per block (colour: depth, dark = early)")
    return save(fig, out, formats)


def plot_max_abs_ever(
    scalars: pd.DataFrame, out: Path, *, formats: Sequence[str] = ("png",)
) -> list[Path]:
    """F6: each model's ``max_abs_ever`` at its last step per block, vs relative depth."""
    sel = scalars[(scalars.component == "resid") & (scalars.metric == "max_abs_ever")]
    sel = sel.dropna(subset=["block"])
    if sel.empty:
        return []
    fig, axes = panels(1, 1, width=6.0, height=4.0)
    ax = axes[0][0]
    for model, part in sel.groupby("model", sort=True):
        last = part[part.step == part.step.max()].sort_values("block")
        n_blocks = int(last.block.max()) + 1
        depth = (last.block.to_numpy() + 0.5) / n_blocks
        ax.plot(depth, last.value, marker="o", lw=1.4, label=f"{model} ({n_blocks} blocks)")
    ax.set_xlabel("relative depth (block + 0.5) / n_blocks")
    ax.set_ylabel("max |residual| over all steps")
    ax.set_title("F6 largest residual value ever seen, per block")
    ax.legend(fontsize=7)
    return save(fig, out, formats)


# -- catalogue entries: (store, out_dir, options) -> paths ---------------------------------


def _models(df: pd.DataFrame, opts: ReportOptions) -> pd.DataFrame:
    return df[df.model.isin(opts.models)] if opts.models else df


def draw_f3(store: Store, out_dir: Path, opts: ReportOptions) -> list[Path]:
    """F3: residual histogram animations."""
    if not opts.animations:
        return []
    arrays = _models(store.arrays(component="resid", kind="hist", block=None), opts)
    return plot_resid_histograms(arrays, out_dir) if len(arrays) else []


def draw_f4(store: Store, out_dir: Path, opts: ReportOptions) -> list[Path]:
    """F4: MLP-out gradient histogram animations."""
    if not opts.animations:
        return []
    arrays = _models(store.arrays(component="mlp_out", kind="grad_hist", block=None), opts)
    return plot_grad_histograms(arrays, out_dir) if len(arrays) else []


def draw_f5(store: Store, out_dir: Path, opts: ReportOptions) -> list[Path]:
    """F5: max |residual| per block vs step."""
    scalars = _models(store.scalars(component="resid", metric="max_abs"), opts)
    if scalars.empty:
        return []
    out = out_dir / "F5_max_abs_resid"
    return plot_max_abs_resid(scalars, out, log_steps=opts.log_steps, formats=opts.formats)


def draw_f6(store: Store, out_dir: Path, opts: ReportOptions) -> list[Path]:
    """F6: largest residual value ever, per block."""
    scalars = _models(store.scalars(component="resid", metric="max_abs_ever"), opts)
    if scalars.empty:
        return []
    return plot_max_abs_ever(scalars, out_dir / "F6_max_abs_ever", formats=opts.formats)
