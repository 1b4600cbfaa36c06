"""What line figures mark beside their lines: phase changes and fits at their bounds.

Rows may carry two optional columns, set by the figure's row query (selection, not
statistics): ``event``, the message of a ``phase_change`` event of the ``phases``
derivation found on that (model, step, tensor, metric); and ``gaussian_like``, True where
a fitted parameter sits at the bound that means "no heavier tail than a Gaussian" (a
Student-t nu at its cap, a quartic g of 0). Such values are drawn as markers on a band
labelled Gaussian-like, never as points of the line. Drawing only.
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Mapping

import numpy as np
import pandas as pd

#: label of the band of fits at their bound
GAUSSIAN_LIKE = "Gaussian-like"
#: marker of a phase change (matplotlib, plotly)
EVENT_MARKER = ("*", "star")
#: marker of a fit at its bound, per side of the band (matplotlib, plotly)
BAND_MARKER = {"top": ("^", "triangle-up"), "bottom": ("v", "triangle-down")}


def line_part(part: pd.DataFrame) -> pd.DataFrame:
    """The rows a line goes through: those not at a bound."""
    if "gaussian_like" not in part:
        return part
    return part[~part["gaussian_like"].fillna(False).astype(bool)]


def bound_part(part: pd.DataFrame) -> pd.DataFrame:
    """The rows at a bound (drawn on the Gaussian-like band)."""
    if "gaussian_like" not in part:
        return part.iloc[:0]
    return part[part["gaussian_like"].fillna(False).astype(bool)]


def event_part(part: pd.DataFrame) -> pd.DataFrame:
    """The rows on which a phase change was found (drawn as a star on their line)."""
    if "event" not in part:
        return part.iloc[:0]
    return line_part(part[part["event"].notna()])


def band_value(values: pd.Series, side: str, log: bool) -> float:
    """Where the band sits in data units: beyond every meaningful value, on ``side``."""
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v) & ((v > 0) if log else True)]
    if not v.size:
        return 100.0 if side == "top" else (1e-3 if log else 0.0)
    lo, hi = float(v.min()), float(v.max())
    if log:
        return hi * 3 if side == "top" else lo / 3
    pad = 0.15 * (hi - lo) if hi > lo else max(abs(hi), 1.0) * 0.15
    return hi + pad if side == "top" else lo - pad


def bands_in(sel: pd.DataFrame, bands: Mapping[str, str], metric: str,
             log: bool) -> tuple[str, float] | None:  # fmt: skip
    """(side, y) of the Gaussian-like band of a panel, or None when no row is at a bound."""
    if metric not in bands or bound_part(sel).empty:
        return None
    side = bands[metric]
    return side, band_value(line_part(sel)["value"], side, log)


def wrap(text: str, width: int) -> str:
    """``text`` wrapped to lines of at most ``width`` characters (titles that fit)."""
    return "\n".join(textwrap.wrap(text, max(12, width))) or text


def chars_for(inches: float, fontsize: float = 9.0) -> int:
    """About how many characters of ``fontsize`` points fit on ``inches`` of width."""
    return math.floor(inches * 72 / (0.55 * fontsize))
