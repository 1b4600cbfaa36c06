"""F13: token-embedding correlation matrices over training, drawn from ``embed_corr`` rows.

Drawing only: matrices and orders come from the store (see
:mod:`ckptscope.analyses.embeddings`); every frame uses the ``embed_order`` row of the
model's last stored step, so structure that forms late is visible from the first frame.
"""

from __future__ import annotations

import logging
import re
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import imageio.v2 as imageio
import numpy as np
import pandas as pd

from ckptscope.plots.style import model_order, panels, plt, save

if TYPE_CHECKING:
    from ckptscope.report.figures import ReportOptions
    from ckptscope.store import Store

log = logging.getLogger(__name__)

CORR_CMAP = "RdBu_r"
MAX_FRAMES = 60
#: (corr kind, order kind, panel title)
SETS = (
    ("embed_corr", "embed_order", "byte tokens"),
    ("embed_corr_tokens", "embed_order_tokens", "first non-byte tokens"),
)


def even_pick(n: int, cap: int = MAX_FRAMES) -> list[int]:
    """At most ``max(cap, 2)`` evenly spaced indices of ``range(n)``, first and last included."""
    if n <= max(cap, 2):
        return list(range(n))
    return sorted({int(i) for i in np.rint(np.linspace(0, n - 1, max(cap, 2)))})


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("._") or "model"


def _tex_safe(label: str) -> str:
    return label.replace("$", r"\$")  # matplotlib would start mathtext at a "$"


def frames_for(arrays: pd.DataFrame, model: str, kind: str) -> pd.DataFrame:
    """Rows of one model and kind, sorted by step."""
    sel = arrays[(arrays.model == model) & (arrays.kind == kind)]
    return sel.sort_values("step", kind="stable").reset_index(drop=True)


def final_order(arrays: pd.DataFrame, model: str, kind: str) -> np.ndarray | None:
    """The stored order of the model's last step (None when the sweep stored none)."""
    rows = frames_for(arrays, model, kind)
    if rows.empty:
        return None
    return np.asarray(rows["values"].iloc[-1]).astype(np.int64)


def _draw_matrix(ax, corr: np.ndarray, labels: Sequence[str], order: np.ndarray | None, title: str):
    idx = np.arange(len(corr)) if order is None else order
    im = ax.imshow(corr[np.ix_(idx, idx)], cmap=CORR_CMAP, vmin=-1, vmax=1, interpolation="nearest")
    every = max(1, len(idx) // 32)
    ticks = np.arange(0, len(idx), every)
    names = [_tex_safe(labels[i]) if labels is not None else str(i) for i in idx[ticks]]
    ax.set_xticks(ticks, names, fontsize=5, rotation=90)
    ax.set_yticks(ticks, names, fontsize=5)
    ax.set_title(title, fontsize=9)
    return im


def _panels_for(
    arrays: pd.DataFrame, model: str
) -> list[tuple[pd.DataFrame, np.ndarray | None, str]]:
    out = []
    for corr_kind, order_kind, name in SETS:
        rows = frames_for(arrays, model, corr_kind)
        if rows.empty:
            continue
        order = final_order(arrays, model, order_kind)
        if corr_kind == "embed_corr":  # the byte set: also in id order, as in the post
            out.append((rows, None, f"{name}, id order"))
        out.append((rows, order, f"{name}, seriated (last step's order)"))
    return out


def plot_embedding_correlations(
    arrays: pd.DataFrame,
    out_dir: Path,
    *,
    formats: Sequence[str] = ("png",),
    animations: bool = True,
    max_frames: int = MAX_FRAMES,
) -> list[Path]:
    """Per model: a static figure of the last step and a GIF (MP4 with ffmpeg) over steps."""
    paths: list[Path] = []
    for model in model_order(arrays.model.unique()):
        sets = _panels_for(arrays, model)
        if not sets:
            continue
        base = out_dir / f"F13_{_safe(str(model))}"
        fig, axes = panels(1, len(sets), width=4.6, height=4.6)
        for ax, (rows, order, title) in zip(axes[0], sets, strict=True):
            last = rows.iloc[-1]
            im = _draw_matrix(ax, last["values"], last["labels"], order, title)
        fig.colorbar(im, ax=axes[0], shrink=0.8, label="correlation")
        fig.suptitle(f"F13: token-embedding correlations, {model} step {int(rows.step.iloc[-1])}")
        paths += save(fig, base, formats)
        if animations:
            paths += _animate(sets, model, base, max_frames)
    return paths


def _animate(sets, model: str, base: Path, max_frames: int) -> list[Path]:
    steps = sorted(set().union(*(set(rows.step) for rows, _, _ in sets)))
    picks = [steps[i] for i in even_pick(len(steps), max_frames)]
    fig, axes = panels(1, len(sets), width=4.0, height=4.0)
    images = []
    for ax, (rows, order, title) in zip(axes[0], sets, strict=True):
        first = rows.iloc[0]
        images.append(
            (_draw_matrix(ax, first["values"], first["labels"], order, title), rows, order)
        )
    sup = fig.suptitle(" ")
    # Lay out and draw everything static once; each frame then redraws only the images
    # and the title over that background (a full draw per frame is ~1 s of tick layout).
    for im, _, _ in images:
        im.set_visible(False)
    fig.canvas.draw()
    fig.set_layout_engine("none")
    background = fig.canvas.copy_from_bbox(fig.bbox)
    frames = []
    for step in picks:
        fig.canvas.restore_region(background)
        for im, rows, order in images:
            at = rows[rows.step <= step]
            if at.empty:
                continue
            corr = at["values"].iloc[-1]
            idx = np.arange(len(corr)) if order is None else order
            im.set_data(corr[np.ix_(idx, idx)])
            im.set_visible(True)
            im.axes.draw_artist(im)
        sup.set_text(f"F13: token-embedding correlations, {model} step {step}")
        fig.draw_artist(sup)
        frames.append(np.asarray(fig.canvas.buffer_rgba())[..., :3].copy())
    plt.close(fig)
    gif = base.with_suffix(".gif")
    imageio.mimsave(gif, frames, duration=0.25, loop=0)
    paths = [gif]
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg:
        mp4 = base.with_suffix(".mp4")
        cmd = [
            ffmpeg,
            "-y",
            "-loglevel",
            "error",
            "-i",
            str(gif),
            "-movflags",
            "faststart",
            "-pix_fmt",
            "yuv420p",
            "-vf",
            "scale=trunc(iw/2)*2:trunc(ih/2)*2",
            str(mp4),
        ]
        try:
            subprocess.run(cmd, check=True, capture_output=True, timeout=300)
            paths.append(mp4)
        except (subprocess.SubprocessError, OSError) as err:
            log.warning("ffmpeg could not write %s: %s", mp4, err)
    return paths


def draw_f13(store: Store, out_dir: Path, opts: ReportOptions) -> list[Path]:
    """Catalogue entry for F13: read the embedding arrays and draw them."""
    kinds = [k for pair in SETS for k in pair[:2]]
    arrays = store.arrays(component="embed", kind=kinds)
    if opts.models:
        arrays = arrays[arrays.model.isin(opts.models)]
    if arrays.empty:
        return []
    return plot_embedding_correlations(
        arrays, out_dir, formats=opts.formats, animations=opts.animations
    )
