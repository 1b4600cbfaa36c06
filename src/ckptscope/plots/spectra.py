"""F15 (singular-value spectra over training), F16 (SVD-direction closeness), ESD metrics.

Drawing only: spectra are ``singular_values`` rows of the ``arrays`` table (see
:mod:`ckptscope.analyses.spectra`), closeness and metrics are rows of ``scalars``
(:mod:`ckptscope.analyses.svd_directions`). Every function returns the paths it wrote.
"""

from __future__ import annotations

import logging
import math
import re
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import imageio.v2 as imageio
import numpy as np
import pandas as pd
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize

from ckptscope.plots.style import (
    DEPTH_CMAP,
    STEP_CMAP,
    depth_color,
    model_order,
    panels,
    plt,
    save,
    step_axis,
)
from ckptscope.plots.weights import plot_per_size

if TYPE_CHECKING:
    from ckptscope.report.figures import ReportOptions
    from ckptscope.store import Store

log = logging.getLogger(__name__)

MAX_FRAMES = 80
SPECTRA_COMPONENTS = ("qkv", "attn_out", "mlp_in", "mlp_gate", "mlp_out", "embed", "unembed")
CLOSENESS_COMPONENTS = (
    ("mlp_in", "weight"),
    ("mlp_gate", "weight"),
    ("mlp_out", "weight"),
    ("ov", "all"),
)
ESD_COMPONENTS = ("qkv", "attn_out", "mlp_in", "mlp_gate", "mlp_out")
ESD_METRICS = ("alpha", "mp_outliers")


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("._") or "model"


def _pick(n: int, cap: int) -> list[int]:
    """At most ``cap`` evenly spaced indices of ``range(n)``, first and last included."""
    if n <= max(cap, 2):
        return list(range(n))
    return sorted({int(i) for i in np.rint(np.linspace(0, n - 1, max(cap, 2)))})


def spectrum_rows(
    arrays: pd.DataFrame, model: str, component: str, param: str = "weight"
) -> pd.DataFrame:
    """``singular_values`` rows of one (model, component, param), sorted by block and step."""
    sel = arrays[
        (arrays.model == model)
        & (arrays.component == component)
        & (arrays.param == param)
        & (arrays.kind == "singular_values")
    ]
    return sel.sort_values(["block", "step"], kind="stable", na_position="first").reset_index(
        drop=True
    )


def _grid(rows: pd.DataFrame):
    # None (embed, unembed) or the blocks 0..L-1 in order
    blocks = [None] if rows.block.isna().any() else []
    blocks += sorted(int(b) for b in rows.block.dropna().unique())
    ncols = min(4, len(blocks))
    fig, axes = panels(math.ceil(len(blocks) / ncols), ncols, width=3.4, height=2.8)
    flat = [ax for row in axes for ax in row]
    for ax in flat[len(blocks) :]:
        ax.set_visible(False)
    return fig, list(zip(blocks, flat, strict=False))


def _block_rows(rows: pd.DataFrame, block: int | None) -> pd.DataFrame:
    return rows[rows.block.isna()] if block is None else rows[rows.block == block]


def _loglog(ax, s: np.ndarray, **kw):
    s = np.asarray(s, dtype=np.float64)
    keep = s > 0  # a log axis has no zeros (rank-deficient matrices)
    return ax.loglog(np.arange(1, s.size + 1)[keep], s[keep], **kw)[0]


def _limits(ax, part: pd.DataFrame) -> None:
    vals = np.concatenate([np.asarray(v).ravel() for v in part["values"]])
    vals = vals[vals > 0]
    if vals.size:
        ax.set_ylim(vals.min() / 1.5, vals.max() * 1.5)
        ax.set_xlim(0.8, max(len(v) for v in part["values"]) * 1.25)


def _label(block: int | None, component: str, param: str) -> str:
    where = component if block is None else f"{component} block {block}"
    return where if param == "weight" else f"{where} {param}"


def plot_spectrum_static(
    rows: pd.DataFrame, out: Path, title: str, formats: Sequence[str] = ("png",)
) -> list[Path]:
    """Log rank vs log singular value, a panel per block, a line per step coloured by step."""
    fig, grid = _grid(rows)
    norm = Normalize(rows.step.min(), max(rows.step.max(), rows.step.min() + 1))
    cmap = plt.get_cmap(STEP_CMAP)
    for block, ax in grid:
        part = _block_rows(rows, block)
        for step, s in zip(part.step, part["values"], strict=True):
            _loglog(ax, s, color=cmap(norm(step)), lw=0.8, alpha=0.8)
        ax.set_title(_label(block, rows.component.iloc[0], rows.param.iloc[0]), fontsize=9)
        ax.set_xlabel("rank")
        ax.set_ylabel("singular value")
    fig.colorbar(ScalarMappable(norm, cmap), ax=[ax for _, ax in grid], label="training step")
    fig.suptitle(title)
    return save(fig, out, formats)


def plot_spectrum_animation(
    rows: pd.DataFrame, out: Path, title: str, max_frames: int = MAX_FRAMES
) -> list[Path]:
    """GIF, one frame per step (at most ``max_frames``); MP4 too when ffmpeg is installed.

    Each panel shows the current step's spectrum over the last step's (grey) on fixed axes.
    """
    steps = sorted(rows.step.unique())
    picks = [steps[i] for i in _pick(len(steps), max_frames)]
    fig, grid = _grid(rows)
    lines = []
    for block, ax in grid:
        part = _block_rows(rows, block)
        _limits(ax, part)
        _loglog(
            ax, part["values"].iloc[-1], color="0.7", lw=1.0, label=f"step {part.step.iloc[-1]}"
        )
        lines.append((ax, part, _loglog(ax, part["values"].iloc[0], color="C3", lw=1.2)))
        ax.set_title(_label(block, rows.component.iloc[0], rows.param.iloc[0]), fontsize=9)
        ax.set_xlabel("rank")
    grid[0][1].legend(fontsize=7, loc="lower left")
    sup = fig.suptitle("")
    frames = []
    for step in picks:
        for _, part, line in lines:
            at = part[part.step <= step]
            if at.empty:
                continue
            s = np.asarray(at["values"].iloc[-1], dtype=np.float64)
            keep = s > 0
            line.set_data(np.arange(1, s.size + 1)[keep], s[keep])
        sup.set_text(f"{title}, step {step}")
        fig.canvas.draw()
        fig.set_layout_engine("none")  # axes are fixed: lay out once, on the first frame
        frames.append(np.asarray(fig.canvas.buffer_rgba())[..., :3].copy())
    plt.close(fig)
    out.parent.mkdir(parents=True, exist_ok=True)
    gif = out.with_suffix(".gif")
    imageio.mimsave(gif, frames, duration=0.25, loop=0)
    return [gif, *_mp4(gif)]


def _mp4(gif: Path) -> list[Path]:
    ffmpeg = shutil.which("ffmpeg")
    if not ffmpeg:
        return []
    mp4 = gif.with_suffix(".mp4")
    cmd = [ffmpeg, "-y", "-loglevel", "error", "-i", str(gif), "-movflags", "faststart"]
    cmd += ["-pix_fmt", "yuv420p", "-vf", "scale=trunc(iw/2)*2:trunc(ih/2)*2", str(mp4)]
    try:
        subprocess.run(cmd, check=True, capture_output=True, timeout=300)
    except (subprocess.SubprocessError, OSError) as err:
        log.warning("ffmpeg could not write %s: %s", mp4, err)
        return []
    return [mp4]


def plot_spectra(
    arrays: pd.DataFrame,
    out_dir: Path,
    *,
    components: Sequence[str] = SPECTRA_COMPONENTS,
    param: str = "weight",
    formats: Sequence[str] = ("png",),
    animations: bool = True,
    max_frames: int = MAX_FRAMES,
) -> list[Path]:
    """F15 per (model, component): a static figure coloured by step and a GIF over steps."""
    paths: list[Path] = []
    for model in model_order(arrays.model.unique()):
        for component in components:
            rows = spectrum_rows(arrays, model, component, param)
            if rows.empty:
                continue
            suffix = "" if param == "weight" else f"_{param}"
            base = out_dir / "F15" / f"{_safe(model)}_{component}{suffix}"
            title = f"F15: singular values of {component}{suffix.replace('_', ' ')}, {model}"
            paths += plot_spectrum_static(rows, base, title, formats)
            if animations:
                paths += plot_spectrum_animation(
                    rows, base.with_name(base.name + "_anim"), title, max_frames
                )
    return paths


def plot_block_lines(
    scalars: pd.DataFrame,
    columns: Sequence[tuple[str, str]],
    metric: str,
    title: str,
    out: Path,
    *,
    log_steps: bool = False,
    formats: Sequence[str] = ("png",),
) -> list[Path]:
    """A panel per (model row, (component, param) column); a line per block, coloured by depth."""
    sel = scalars[(scalars.metric == metric) & scalars.block.notna()]
    models = model_order(sel.model.unique())
    fig, axes = panels(len(models), len(columns), width=3.6, height=2.6)
    for r, model in enumerate(models):
        for c, (component, param) in enumerate(columns):
            ax = axes[r][c]
            part = sel[(sel.model == model) & (sel.component == component) & (sel.param == param)]
            n_blocks = int(part.block.max()) + 1 if len(part) else 1
            for block, line in part.groupby("block"):
                line = line.sort_values("step")
                ax.plot(line.step, line.value, color=depth_color(int(block), n_blocks), lw=1.2)
            ax.set_title(
                f"{model}: {component}" + ("" if param == "weight" else f" ({param})"), fontsize=9
            )
            step_axis(ax, log_steps)
        axes[r][0].set_ylabel(metric)
    depth = ScalarMappable(Normalize(0, 1), plt.get_cmap(DEPTH_CMAP))
    cbar = fig.colorbar(depth, ax=[ax for row in axes for ax in row], ticks=[0, 1])
    cbar.ax.set_yticklabels(["first block", "last block"])
    fig.suptitle(title)
    return save(fig, out, formats)


def plot_svd_closeness(
    scalars: pd.DataFrame,
    out_dir: Path,
    *,
    metrics: Sequence[str] = ("svd_exact", "svd_overlap"),
    log_steps: bool = False,
    formats: Sequence[str] = ("png",),
) -> list[Path]:
    """F16: closeness to the final checkpoint per block (one file per metric) and per size.

    OV columns show the per-block average over heads (``param="all"``).
    """
    present = set(zip(scalars.component, scalars.param, strict=True))
    columns = [cp for cp in CLOSENESS_COMPONENTS if cp in present]
    paths: list[Path] = []
    for metric in metrics:
        if columns and (scalars.metric == metric).any():
            title = f"F16: {metric}, SVD-direction tokens vs the final checkpoint's"
            out = out_dir / f"F16_{metric}"
            paths += plot_block_lines(
                scalars, columns, metric, title, out, log_steps=log_steps, formats=formats
            )
    means = scalars[scalars.block.isna() & (scalars.param == "all")]
    size_rows = [("all", "all", m) for m in metrics if ("all", "all") in present]
    if size_rows:
        title = "F16: SVD-direction closeness, mean over blocks and heads, per size"
        paths += plot_per_size(
            means, size_rows, title, out_dir / "F16_per_size", log_steps=log_steps, formats=formats
        )
    return paths


def plot_esd_metrics(
    scalars: pd.DataFrame,
    out_dir: Path,
    *,
    metrics: Sequence[str] = ESD_METRICS,
    components: Sequence[str] = ESD_COMPONENTS,
    log_steps: bool = False,
    formats: Sequence[str] = ("png",),
) -> list[Path]:
    """Power-law alpha and Marchenko-Pastur outlier count per block vs step (one file each)."""
    weights = scalars[scalars.param == "weight"]
    paths: list[Path] = []
    for metric in metrics:
        have = set(weights.component[weights.metric == metric])
        columns = [(c, "weight") for c in components if c in have]
        if columns:
            title = f"Spectra: {metric} per block"
            out = out_dir / f"esd_{metric}"
            paths += plot_block_lines(
                weights, columns, metric, title, out, log_steps=log_steps, formats=formats
            )
    return paths


# -- catalogue entries: read the store, then draw (same signature as the other figures) --


def _models(df: pd.DataFrame, opts: ReportOptions) -> pd.DataFrame:
    return df[df.model.isin(opts.models)] if opts.models else df


def draw_f15(store: Store, out_dir: Path, opts: ReportOptions) -> list[Path]:
    """Catalogue entry for F15: every stored weight's spectra."""
    arrays = _models(store.arrays(kind="singular_values", param="weight"), opts)
    if arrays.empty:
        return []
    return plot_spectra(arrays, out_dir, formats=opts.formats, animations=opts.animations)


def draw_f16(store: Store, out_dir: Path, opts: ReportOptions) -> list[Path]:
    """Catalogue entry for F16: the ``svd_closeness`` derived scalars."""
    scalars = _models(store.scalars(metric=["svd_exact", "svd_overlap"]), opts)
    if scalars.empty:
        return []
    return plot_svd_closeness(scalars, out_dir, log_steps=opts.log_steps, formats=opts.formats)


def draw_esd(store: Store, out_dir: Path, opts: ReportOptions) -> list[Path]:
    """Catalogue entry for the ESD metrics figure (alpha, MP outliers)."""
    scalars = _models(store.scalars(metric=list(ESD_METRICS), param="weight"), opts)
    if scalars.empty:
        return []
    return plot_esd_metrics(scalars, out_dir, log_steps=opts.log_steps, formats=opts.formats)
