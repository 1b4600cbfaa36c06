"""Shared drawing helpers: depth colours, step axes, panel grids. Drawing only."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.axes import Axes
from matplotlib.figure import Figure

DEPTH_CMAP = "viridis"
STEP_CMAP = "plasma"


def model_order(names: object) -> list[str]:
    """Model names in natural order (``w64`` before ``w128``; ``160m`` before ``1.4b``)."""
    import re

    scale = {"k": 1e3, "m": 1e6, "b": 1e9}

    def key(name: str) -> tuple:
        m = re.search(r"(\d+(?:\.\d+)?)([kmb])?", name.lower())
        size = float(m.group(1)) * scale.get(m.group(2) or "", 1.0) if m else 0.0
        return (size, name)

    return sorted({str(n) for n in names}, key=key)  # type: ignore[union-attr]


def depth_color(block: int, n_blocks: int) -> tuple[float, float, float, float]:
    """Colour of a block's line: dark for early blocks, bright for late ones."""
    return plt.get_cmap(DEPTH_CMAP)(block / max(1, n_blocks - 1))


def step_axis(ax: Axes, log_steps: bool) -> None:
    """Label a step axis; symmetric-log keeps step 0 on a log axis."""
    if log_steps:
        ax.set_xscale("symlog", linthresh=1.0)
    ax.set_xlabel("training step")


def panels(
    nrows: int, ncols: int, width: float = 4.2, height: float = 3.2
) -> tuple[Figure, list[list[Axes]]]:
    """A grid of axes, always indexable as [row][col]."""
    fig, axes = plt.subplots(
        nrows,
        ncols,
        figsize=(width * ncols, height * nrows),
        squeeze=False,
        constrained_layout=True,
    )
    return fig, [list(row) for row in axes]


def save(fig: Figure, out: Path, formats: Sequence[str] = ("png",)) -> list[Path]:
    """Write a figure in each format and close it."""
    out.parent.mkdir(parents=True, exist_ok=True)
    paths = []
    for fmt in formats:
        path = out.with_suffix(f".{fmt}")
        fig.savefig(path, dpi=110)
        paths.append(path)
    plt.close(fig)
    return paths
