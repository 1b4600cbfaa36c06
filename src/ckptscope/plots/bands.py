"""Seed bands against step: a line (the mean over seeds) and a shaded min-max band per group.

:func:`draw_band` is the one way a seed band is drawn (line figures, the group comparison,
the experiments' loss panels). :func:`band_panels` draws rows that
:func:`ckptscope.experiments.curves.seed_bands` made (columns ``group``, ``step``,
``mean``, ``lo``, ``hi``); it computes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from ckptscope.plots.style import PALETTE, panels, step_axis

#: opacity of a seed band under its line
BAND_ALPHA = 0.2


def draw_band(ax: Axes, line: pd.DataFrame, color: object) -> None:
    """The seed band of a line (columns ``step``, ``lo``, ``hi``), shaded in the line's
    colour; nothing where ``lo`` is missing (a single seed)."""
    if "lo" in line and line["lo"].notna().any():
        ax.fill_between(line["step"], line["lo"], line["hi"], color=color, alpha=BAND_ALPHA,
                        lw=0)  # fmt: skip


def band_panels(
    parts: Sequence[tuple[str, str, pd.DataFrame]],
    group: str = "init",
    order: Sequence[str] | None = None,
    hlines: dict[int, tuple[float, str]] | None = None,
    title: str | None = None,
) -> Figure:
    """One panel per ``(title, y label, band rows)``, a mean line and band per ``group``.

    ``hlines`` maps a panel index to ``(y, label)``: a dashed horizontal line (a target).
    The step axis is symmetric-log, so the first steps and step 0 stay visible.
    """
    fig, axes = panels(1, len(parts), width=5.2, height=3.8)
    names = list(order) if order is not None else sorted({g for *_, d in parts for g in d[group]})
    colors = {g: PALETTE[i % len(PALETTE)] for i, g in enumerate(names)}
    for i, (panel_title, ylabel, rows) in enumerate(parts):
        ax = axes[0][i]
        for g in names:
            sub = rows[rows[group] == g].sort_values("step")
            if sub.empty:
                continue
            draw_band(ax, sub, colors[g])
            ax.plot(sub.step, sub["mean"], color=colors[g], label=f"{g} (mean, min-max band)")
        if hlines and i in hlines:
            y, label = hlines[i]
            ax.axhline(y, color="black", linestyle="--", linewidth=1, label=label)
        step_axis(ax, log_steps=True)
        ax.set_xlim(left=0)
        ax.set_ylabel(ylabel)
        ax.set_title(panel_title)
        ax.legend(fontsize="small", loc="upper right")
    if title:
        fig.suptitle(title)
    return fig
