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
from matplotlib.ticker import FuncFormatter, LogLocator, NullLocator

from ckptscope.names import model_order

DEPTH_CMAP = "viridis"
STEP_CMAP = "plasma"
DPI = 110
#: zlib level of every PNG written: level 1 encodes plots about twice as fast as the
#: default 6, for files about 5% larger (measured on a demo report's figures)
PNG_COMPRESS_LEVEL = 1
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


def log_ticks(ax: Axes) -> None:
    """Labelled major ticks at 1, 2, 5 x 10^k on both (log) axes, as short numbers, and no
    minor ticks: a range under a decade still reads, and minor log ticks, labelled on such a
    range, cost more to draw than the lines."""
    for axis in (ax.xaxis, ax.yaxis):
        axis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
        axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:.3g}"))
        axis.set_minor_locator(NullLocator())
    _fixed_title(ax)


class _MinorLogLocator(LogLocator):
    """Minor log ticks: matplotlib's (2..9 x 10^k, labelled where they are all a short
    range has) within 1.5 decades, 2 and 5 x 10^k up to 6 decades, none over more."""

    def __init__(self) -> None:
        super().__init__(subs=(2.0, 5.0))
        self._short = LogLocator(subs="auto")

    def tick_values(self, vmin: float, vmax: float) -> np.ndarray:
        lo, hi = sorted((vmin, vmax))
        decades = np.log10(hi / lo) if lo > 0 else np.inf
        if decades > 6:
            return np.array([])
        if decades < 1.5:
            self._short.set_axis(self.axis)
            return self._short.tick_values(vmin, vmax)
        return super().tick_values(vmin, vmax)


def _fixed_title(ax: Axes) -> None:
    """The panel's title at a fixed height, where it has none yet. matplotlib's automatic
    placement measures every y tick label on each draw (a tenth of a report's drawing) to
    lift a title over top-side x ticks (none here) or a y offset text (1e-6, +3.1e1),
    which a log axis never has."""
    if not ax.get_title():
        ax.set_title("", y=1.0)


def log_y_axis(ax: Axes) -> None:
    """A log y axis with few minor ticks (:class:`_MinorLogLocator`: matplotlib's eight per
    decade are each a tick object to build, a third of a line grid's drawing) and a title
    at a fixed height."""
    ax.set_yscale("log")
    ax.yaxis.set_minor_locator(_MinorLogLocator())
    _fixed_title(ax)


def step_axis(ax: Axes, log_steps: bool) -> None:
    """Label a step axis; symmetric-log keeps step 0 on a log axis."""
    if log_steps:
        ax.set_xscale("symlog", linthresh=1.0)
    ax.set_xlabel("training step")


#: margins of a :func:`panels` grid with ``fixed`` layout, in inches: room for tick labels
#: and an axis label left and below, a panel title above, and between panels
MARGIN_LEFT, MARGIN_RIGHT, MARGIN_BOTTOM, PANEL_TITLE = 0.95, 0.2, 0.55, 0.35
GAP_WIDTH, GAP_HEIGHT, SUPTITLE_LINE = 1.15, 0.85, 0.3


def fixed_margins(
    fig: FigureBase, nrows: int, ncols: int, suptitle_lines: int = 1, title_lines: int = 1,
    ylabel_lines: int = 1,
) -> None:  # fmt: skip
    """Place a new Figure's grid of panels with margins fixed in inches (from :func:`panels`
    with ``fixed=True``; a sub-figure, laid out by its parent, is left alone).

    Constrained layout measures every tick label at every draw, which is most of the time
    a report takes for grids of many panels; these grids all have the same furniture, so
    fixed margins, sized by the lines of the titles and y labels, do.
    """
    if not isinstance(fig, Figure) or fig.get_layout_engine() is not None:
        return
    w, h = fig.get_size_inches()
    extra_title = SUPTITLE_LINE * (title_lines - 1)
    extra_left = SUPTITLE_LINE * (ylabel_lines - 1)
    top = PANEL_TITLE + extra_title + SUPTITLE_LINE * suptitle_lines
    left, gap_w, gap_h = MARGIN_LEFT + extra_left, GAP_WIDTH + extra_left, GAP_HEIGHT + extra_title
    axes_w = max(0.1, (w - left - MARGIN_RIGHT - gap_w * (ncols - 1)) / ncols)
    axes_h = max(0.1, (h - MARGIN_BOTTOM - top - gap_h * (nrows - 1)) / nrows)
    fig.subplots_adjust(left=left / w, right=1 - MARGIN_RIGHT / w,
                        bottom=MARGIN_BOTTOM / h, top=1 - top / h,
                        wspace=gap_w / axes_w, hspace=gap_h / axes_h)  # fmt: skip


def panels(
    nrows: int,
    ncols: int,
    width: float = 4.2,
    height: float = 3.2,
    into: FigureBase | None = None,
    fixed: bool = False,
) -> tuple[FigureBase, list[list[Axes]]]:
    """A grid of axes, always indexable as [row][col], in a new Figure or in ``into``.

    ``into`` is a sub-figure of :func:`stack`; its wanted size is kept as ``ck_size``.
    A new Figure is laid out by constrained layout, or with ``fixed`` by
    :func:`fixed_margins` (which the caller then calls; by default, with one line per
    title): much faster to draw, for regular grids whose legends sit inside their panels.
    """
    size = (width * ncols, height * nrows)
    if into is not None:
        fig: FigureBase = into
        into.ck_size = size  # type: ignore[attr-defined]
    else:
        fig = Figure(figsize=size, layout=None if fixed else "constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False)
    if fixed:
        fixed_margins(fig, nrows, ncols)
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
    Image.fromarray(np.ascontiguousarray(image)).save(path, compress_level=PNG_COMPRESS_LEVEL)
    return [path]


def save(fig: Figure, stem: Path, formats: Sequence[str] = ("png",)) -> list[Path]:
    """Write a figure once per format, as ``stem.<format>``."""
    stem.parent.mkdir(parents=True, exist_ok=True)
    paths = []
    for fmt in formats:
        path = stem.with_name(f"{stem.name}.{fmt}")
        extra = {"pil_kwargs": {"compress_level": PNG_COMPRESS_LEVEL}} if fmt == "png" else {}
        fig.savefig(path, dpi=DPI, **extra)
        paths.append(path)
    return paths
