"""Shared matplotlib helpers: model order, step picking, file names, depth colours, panels.

Figures are plain :class:`matplotlib.figure.Figure` objects (no pyplot, no global backend):
``fig.savefig`` renders with its own canvas, and Jupyter shows a returned Figure inline.
Drawing only: nothing here computes a statistic.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import numpy as np
from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.figure import Figure, FigureBase
from matplotlib.gridspec import GridSpec

from ckptscope.names import model_order

DEPTH_CMAP = "viridis"
STEP_CMAP = "plasma"
DPI = 110
#: the most steps an animation (or a slider) shows per model, evenly spaced
MAX_FRAMES = 60
#: matplotlib's (and plotly's) default colour cycle, fixed: a model keeps its colour in
#: every panel, static or interactive
PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
           "#7f7f7f", "#bcbd22", "#17becf"]  # fmt: skip


def model_colors(names: Iterable[object]) -> dict[str, str]:
    """One colour per model, by its place in :func:`model_order` of all the figure's models."""
    return {m: PALETTE[i % len(PALETTE)] for i, m in enumerate(model_order(names))}


def safe_name(name: object) -> str:
    """A file-name-safe version of a model or component name (``m/1`` -> ``m_1``)."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", str(name)).strip("._") or "model"


def even_pick(n: int, cap: int = MAX_FRAMES) -> list[int]:
    """At most ``max(cap, 2)`` evenly spaced indices of ``range(n)``, first and last included."""
    if n <= max(cap, 2):
        return list(range(n))
    return sorted({int(i) for i in np.rint(np.linspace(0, n - 1, max(cap, 2)))})


def pick_steps(steps: Iterable[object], cap: int = MAX_FRAMES) -> list[int]:
    """At most ``cap`` evenly spaced distinct steps (first and last kept)."""
    ordered = sorted({int(s) for s in steps})  # type: ignore[call-overload]
    return [ordered[i] for i in even_pick(len(ordered), cap)]


def latest(steps: np.ndarray, step: int) -> int | None:
    """Index of the last of ``steps`` (sorted) at or before ``step``; None before the first."""
    i = int(np.searchsorted(steps, step, side="right")) - 1
    return i if i >= 0 else None


def depth_color(block: int, n_blocks: int) -> tuple[float, float, float, float]:
    """Colour of a block's line: dark for early blocks, bright for late ones."""
    return colormaps[DEPTH_CMAP](block / max(1, n_blocks - 1))


def step_axis(ax: Axes, log_steps: bool) -> None:
    """Label a step axis; symmetric-log keeps step 0 on a log axis."""
    if log_steps:
        ax.set_xscale("symlog", linthresh=1.0)
    ax.set_xlabel("training step")


def panels(
    nrows: int,
    ncols: int,
    width: float = 4.2,
    height: float = 3.2,
    into: FigureBase | None = None,
) -> tuple[FigureBase, list[list[Axes]]]:
    """A grid of axes, always indexable as [row][col], in a new Figure or in ``into``.

    ``into`` is a sub-figure of :func:`stack`; its wanted size is kept as ``ck_size``.
    """
    size = (width * ncols, height * nrows)
    fig = into if into is not None else Figure(figsize=size, layout="constrained")
    if into is not None:
        into.ck_size = size  # type: ignore[attr-defined]
    axes = fig.subplots(nrows, ncols, squeeze=False)
    return fig, [list(row) for row in axes]


def stack(draws: Sequence[Callable[[FigureBase], object]]) -> Figure:
    """One Figure of several parts drawn one above the other (each into a sub-figure)."""
    fig = Figure(layout="constrained")
    grid = GridSpec(len(draws), 1, figure=fig)
    sizes = []
    for i, draw in enumerate(draws):
        sub = fig.add_subfigure(grid[i])
        draw(sub)
        sizes.append(getattr(sub, "ck_size", (6.0, 4.0)))
    grid.set_height_ratios([h for _, h in sizes])
    fig.set_size_inches(max(w for w, _ in sizes), sum(h for _, h in sizes))
    return fig


def save_image(image: np.ndarray, stem: Path) -> list[Path]:
    """Write an RGB image (a rendered frame, or frames tiled) as ``stem.png``."""
    from PIL import Image

    stem.parent.mkdir(parents=True, exist_ok=True)
    path = stem.with_name(f"{stem.name}.png")
    Image.fromarray(np.ascontiguousarray(image)).save(path)
    return [path]


def save(fig: Figure, stem: Path, formats: Sequence[str] = ("png",)) -> list[Path]:
    """Write a figure once per format, as ``stem.<format>``."""
    stem.parent.mkdir(parents=True, exist_ok=True)
    paths = []
    for fmt in formats:
        path = stem.with_name(f"{stem.name}.{fmt}")
        fig.savefig(path, dpi=DPI)
        paths.append(path)
    return paths
