"""Distribution figures: F1 histogram and F2 QQ animations, tail-parameter trajectories.

Drawing only: every function takes rows of the store (a :class:`~ckptscope.store.Store` or
the DataFrame of ``Store.arrays``/``Store.scalars``) and writes files; the statistics were
computed by :mod:`ckptscope.analyses.distributions`. Regrouping stored counts onto display
bins (:func:`~ckptscope.stats.rebin`) and summing blocks is presentation, not statistics.
Animations are GIFs (Pillow); ``fmt="mp4"`` needs ``ffmpeg`` on the PATH.
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib import animation

from ckptscope.analyses.phases import COMPONENT_LABELS
from ckptscope.plots.style import depth_color, model_order, panels, save, step_axis
from ckptscope.stats import UniversalGrid, display_edges, rebin

#: The weight components F1 and F2 show, in the post's order.
F1_COMPONENTS: tuple[str, ...] = ("qkv", "attn_out", "mlp_in", "mlp_out")
QQ_KINDS: tuple[tuple[str, str], ...] = (
    ("qq_gaussian", "Gaussian"),
    ("qq_logistic", "logistic"),
    ("qq_power_law", "power law (|x| tail)"),
)


def _arrays(source: Any, kinds: Sequence[str]) -> pd.DataFrame:
    if isinstance(source, pd.DataFrame):
        return source[source["kind"].isin(list(kinds))]
    return source.arrays(kind=list(kinds))


def _scalars(source: Any, metrics: Sequence[str]) -> pd.DataFrame:
    if isinstance(source, pd.DataFrame):
        return source[source["metric"].isin(list(metrics))]
    return source.scalars(metric=list(metrics))


def _writer(fmt: str, fps: int) -> animation.AbstractMovieWriter:
    if fmt == "gif":
        return animation.PillowWriter(fps=fps)
    if fmt == "mp4":
        if shutil.which("ffmpeg") is None:
            raise ValueError("fmt='mp4' needs ffmpeg on the PATH; use fmt='gif'")
        return animation.FFMpegWriter(fps=fps)
    raise ValueError(f"unknown animation format {fmt!r}; use 'gif' or 'mp4'")


def _save_animation(
    fig: Any, draw: Any, n_frames: int, path: Path, fmt: str, fps: int, dpi: int
) -> None:
    """Write ``n_frames`` frames drawn by ``draw(i)``; the layout is fixed after frame 0."""
    try:
        writer = _writer(fmt, fps)
        path.parent.mkdir(parents=True, exist_ok=True)
        draw(0)
        fig.canvas.draw()
        # constrained layout re-solves on every frame, which dominated the drawing time
        fig.set_layout_engine("none")
        with writer.saving(fig, str(path), dpi):
            for i in range(n_frames):
                draw(i)
                writer.grab_frame()
    finally:
        plt.close(fig)


def _latest(steps: np.ndarray, step: int) -> int | None:
    """The last of ``steps`` (sorted) at or before ``step``."""
    i = int(np.searchsorted(steps, step, side="right")) - 1
    return int(steps[i]) if i >= 0 else None


def animate_histograms(
    frame: pd.DataFrame,
    path: Path,
    *,
    panel: str = "model",
    title: str = "",
    log_counts: bool = False,
    n_bins: int = 101,
    fps: int = 4,
    fmt: str = "gif",
) -> Path:
    """One animation frame per step, one panel per value of ``panel`` (pooled histograms).

    ``frame`` has one row per (``panel``, step) with ``values`` on the universal grid
    named by ``meta`` (e.g. the ``hist_pooled`` rows of the distributions analysis). Each panel's
    linear display bins span its non-empty bins over all steps, so frames compare; the
    y axis is the fraction of values per display bin.
    """
    if frame.empty:
        raise ValueError(f"no histograms to draw for {path.name}")
    grid = UniversalGrid.from_json(frame["meta"].iloc[0])
    names = sorted(frame[panel].unique(), key=str)
    all_steps = np.array(sorted(frame["step"].unique()), dtype=np.int64)
    fig, axes = panels(1, len(names))
    per_panel = []
    for ax, name in zip(axes[0], names, strict=True):
        rows = frame[frame[panel] == name].sort_values("step")
        counts = np.stack([np.asarray(v, dtype=np.float64) for v in rows["values"]])
        edges = display_edges(counts, grid, n_bins)
        shown = rebin(counts, edges, grid)
        totals = np.maximum(counts.sum(axis=1, keepdims=True), 1.0)
        shown = shown / totals
        top = float(shown.max()) if shown.size else 1.0
        positive = shown[shown > 0]
        (art,) = [ax.stairs(shown[0], edges, fill=True, alpha=0.8)]
        if log_counts:
            ax.set_yscale("log")
            ax.set_ylim(float(positive.min()) / 2 if positive.size else 1e-6, top * 2)
        else:
            ax.set_ylim(0, top * 1.05)
        ax.set_xlim(edges[0], edges[-1])
        ax.set_xlabel("value")
        ax.set_ylabel("fraction per bin")
        per_panel.append((ax, name, rows["step"].to_numpy(np.int64), shown, art))
    if title:
        fig.suptitle(title)

    def draw(i: int) -> list[Any]:
        step = int(all_steps[i])
        for ax, name, steps, shown, art in per_panel:
            at = _latest(steps, step)
            if at is None:
                art.set_data(np.zeros(shown.shape[1]))
                ax.set_title(f"{name}: no checkpoint yet")
            else:
                art.set_data(shown[int(np.searchsorted(steps, at))])
                ax.set_title(f"{name}, step {at}")
        return [p[-1] for p in per_panel]

    path = Path(path).with_suffix(f".{fmt}")
    _save_animation(fig, draw, len(all_steps), path, fmt, fps, dpi=80)
    return path


def plot_weight_histograms(
    source: Any,
    out_dir: str | Path,
    *,
    components: Sequence[str] = F1_COMPONENTS,
    models: Sequence[str] | None = None,
    log_counts: bool = False,
    n_bins: int = 101,
    fps: int = 4,
    fmt: str = "gif",
) -> list[Path]:
    """F1: per component, an animation of the weight histogram (all blocks pooled), a panel per model."""
    rows = _arrays(source, ["hist_pooled"])  # summed over blocks by the analysis
    rows = rows[rows["component"].isin(list(components)) & (rows["param"] == "weight")]
    if models is not None:
        rows = rows[rows["model"].isin(list(models))]
    pooled = rows
    paths = []
    for comp in [c for c in components if c in set(pooled.get("component", []))]:
        sub = pooled[pooled["component"] == comp]
        label = COMPONENT_LABELS.get(comp, comp)
        paths.append(
            animate_histograms(
                sub,
                Path(out_dir) / f"F1_hist_{comp}",
                title=f"{label} weights (blocks pooled)",
                log_counts=log_counts,
                n_bins=n_bins,
                fps=fps,
                fmt=fmt,
            )
        )
    return paths


def plot_qq(
    source: Any,
    out_dir: str | Path,
    *,
    components: Sequence[str] = F1_COMPONENTS,
    models: Sequence[str] | None = None,
    fps: int = 4,
    fmt: str = "gif",
) -> list[Path]:
    """F2: per model, a QQ animation; rows are components, columns Gaussian/logistic/power law.

    One line per block, coloured by depth; the dashed line ``y = x`` is a perfect fit.
    """
    rows = _arrays(source, [k for k, _ in QQ_KINDS])
    rows = rows[rows["component"].isin(list(components)) & (rows["param"] == "weight")]
    if models is not None:
        rows = rows[rows["model"].isin(list(models))]
    paths = []
    for model in model_order(rows["model"].unique()):
        mrows = rows[rows["model"] == model]
        comps = [c for c in components if c in set(mrows["component"])]
        steps = np.array(sorted(mrows["step"].unique()), dtype=np.int64)
        fig, axes = panels(len(comps), len(QQ_KINDS), width=3.6, height=3.0)
        lines: list[tuple[Any, pd.DataFrame]] = []
        for r, comp in enumerate(comps):
            crows = mrows[mrows["component"] == comp]
            blocks = sorted({int(b) for b in crows["block"].dropna()})
            for c, (kind, label) in enumerate(QQ_KINDS):
                ax = axes[r][c]
                krows = crows[crows["kind"] == kind]
                data = [np.asarray(v, dtype=np.float64) for v in krows["values"]]
                if data:
                    lo = min(float(np.nanmin(d)) for d in data)
                    hi = max(float(np.nanmax(d)) for d in data)
                    if kind == "qq_power_law":
                        ax.set_xscale("log")
                        ax.set_yscale("log")
                        ax.minorticks_off()  # log minor ticks cost more than the lines
                        lo = max(lo, 1e-3)
                    ax.set_xlim(lo, hi)
                    ax.set_ylim(lo, hi)
                    ax.plot([lo, hi], [lo, hi], "k--", lw=0.8)
                for blk in blocks or [None]:
                    brows = krows if blk is None else krows[krows["block"] == blk]
                    color = depth_color(blk or 0, len(blocks) or 1)
                    (line,) = ax.plot(
                        [], [], color=color, lw=1.2, label=None if blk is None else f"block {blk}"
                    )
                    lines.append((line, brows.sort_values("step")))
                ax.set_title(f"{COMPONENT_LABELS.get(comp, comp)} vs {label}", fontsize=9)
                ax.set_xlabel("theoretical quantile")
                ax.set_ylabel("sample quantile")
            if blocks and len(blocks) <= 12:
                axes[r][0].legend(fontsize=6, loc="upper left")
        title = fig.suptitle(str(model))

        def draw(i: int, lines=lines, steps=steps, title=title, model=model) -> list[Any]:
            step = int(steps[i])
            for line, brows in lines:
                s = brows["step"].to_numpy(np.int64)
                at = _latest(s, step)
                if at is None:
                    line.set_data([], [])
                    continue
                xy = np.asarray(brows["values"].iloc[int(np.searchsorted(s, at))])
                line.set_data(xy[0], xy[1])
            title.set_text(f"{model}, step {step}")
            return [ln for ln, _ in lines]

        path = Path(out_dir) / f"F2_qq_{_safe(model)}.{fmt}"
        _save_animation(fig, draw, len(steps), path, fmt, fps, dpi=70)
        paths.append(path)
    return paths


TRAJECTORY_METRICS: tuple[tuple[str, str, bool], ...] = (
    ("t_nu", "Student-t nu (tail; large = Gaussian)", True),
    ("gennorm_beta", "generalised normal beta (2 = Gaussian)", False),
    ("kurtosis", "excess kurtosis", False),
)


def plot_tail_trajectories(
    source: Any,
    out_dir: str | Path,
    *,
    components: Sequence[str] = F1_COMPONENTS,
    models: Sequence[str] | None = None,
    log_steps: bool = False,
) -> list[Path]:
    """Per model, a PNG of nu, beta and kurtosis against step: a row per metric, a column per component."""
    rows = _scalars(source, [m for m, _, _ in TRAJECTORY_METRICS])
    rows = rows[rows["component"].isin(list(components)) & (rows["param"] == "weight")]
    if models is not None:
        rows = rows[rows["model"].isin(list(models))]
    paths = []
    for model in model_order(rows["model"].unique()):
        mrows = rows[rows["model"] == model]
        comps = [c for c in components if c in set(mrows["component"])]
        metrics = [m for m in TRAJECTORY_METRICS if m[0] in set(mrows["metric"])]
        fig, axes = panels(len(metrics), len(comps), width=3.6, height=2.8)
        for r, (metric, label, log_y) in enumerate(metrics):
            for c, comp in enumerate(comps):
                ax = axes[r][c]
                sub = mrows[(mrows["metric"] == metric) & (mrows["component"] == comp)]
                blocks = sorted({int(b) for b in sub["block"].dropna()})
                for blk in blocks or [None]:
                    line = sub if blk is None else sub[sub["block"] == blk]
                    line = line.sort_values("step")
                    ax.plot(
                        line["step"],
                        line["value"],
                        lw=1.2,
                        color=depth_color(blk or 0, len(blocks) or 1),
                        label=None if blk is None else f"block {blk}",
                    )
                if log_y:
                    ax.set_yscale("log")
                step_axis(ax, log_steps)
                ax.set_title(f"{COMPONENT_LABELS.get(comp, comp)}", fontsize=9)
                if c == 0:
                    ax.set_ylabel(label, fontsize=8)
                if r == 0 and c == 0 and 0 < len(blocks) <= 12:
                    ax.legend(fontsize=6)
        fig.suptitle(f"{model}: tail parameters over training")
        paths += save(fig, Path(out_dir) / f"tails_{_safe(model)}")
    return paths


def _safe(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in str(name))
