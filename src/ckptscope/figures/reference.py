"""A shipped reference's curves beside the store's own (``figure(..., reference=NAME)``).

For the line figures whose metrics a reference holds (F7-F11 for ``pythia-2023``: norms and
distances from the first checkpoint), both sources are put on one scale so that a 160-step
CPU run and Pythia's 141k steps compare by shape:

* step -> fraction of training: step / the model's last step in the rows;
* value -> value / the value at the model's first step, except for tensors that start at
  zero, where the first value says nothing: biases (zero-initialised in GPT-NeoX and
  Pythia) and distances from the first checkpoint are divided by their value at the last
  step instead (their curves end at 1).

Three depths are shown per tensor (first, middle and last block of each model), a panel
each: a selection, like the rest of the catalogue's thinning. Drawing is in
:mod:`ckptscope.plots.overlay`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from ckptscope.figures.catalogue import FigureSpec, NoFigureData, Query, ordered
from ckptscope.figures.rows import scalars
from ckptscope.plots.lines import Key
from ckptscope.plots.overlay import overlay_figure, overlay_grid
from ckptscope.plots.plotly_specs import Spec

if TYPE_CHECKING:
    from ckptscope.store import Store

DEPTHS = ("first block", "middle block", "last block")
GROUP = ["source", "model", "component", "block", "param", "metric"]


def by_last(param: str, metric: str) -> bool:
    """Whether a curve is divided by its last value (it starts at zero) or by its first."""
    return param == "bias" or metric.startswith("dist_")


def depth_rows(rows: pd.DataFrame) -> pd.DataFrame:
    """Rows of each model's first, middle and last block, with a ``depth`` label."""
    out = []
    for _, part in rows.groupby("model", sort=False):
        blocks = part["block"].dropna()
        if blocks.empty:
            continue
        n = int(blocks.max()) + 1
        for label, block in zip(DEPTHS, (0, n // 2, n - 1), strict=True):
            out.append(part[part["block"] == block].assign(depth=label))
    return pd.concat(out, ignore_index=True) if out else rows.iloc[:0].assign(depth="")


def normalise(rows: pd.DataFrame) -> pd.DataFrame:
    """Columns ``frac`` (step / the model's last step) and ``rel`` (see the module docstring).

    A curve whose divisor is zero or not finite is left out.
    """
    if rows.empty:
        return rows.assign(frac=[], rel=[])
    last = rows.groupby(["source", "model"])["step"].transform("max").astype(float)
    rows = rows.assign(frac=rows["step"] / last.where(last > 0, 1.0))
    parts = []
    for key, curve in rows.groupby(GROUP, dropna=False, sort=False):
        curve = curve.sort_values("step")
        divisor = float(curve["value"].iloc[-1 if by_last(key[4], key[5]) else 0])
        if np.isfinite(divisor) and divisor != 0:
            parts.append(curve.assign(rel=curve["value"] / divisor))
    return pd.concat(parts, ignore_index=True) if parts else rows.iloc[:0].assign(rel=[])


def overlay_rows(spec: FigureSpec, store: Store, q: Query, name: str) -> pd.DataFrame:
    """The store's rows and the reference's for ``spec``'s overlay keys, normalised."""
    from ckptscope.references import reference

    keys = list(spec.overlay)
    own = scalars(store, q, keys).assign(source="")
    ref = scalars(reference(name), Query(), keys).assign(source=name)
    rows = pd.concat([depth_rows(own), depth_rows(ref)], ignore_index=True)
    return normalise(rows)


def y_label(keys: Sequence[Key]) -> str:
    """The y axis of an overlay: what each curve was divided by."""
    kinds = {by_last(p, m) for _, p, m in keys}
    if kinds == {True}:
        return "value / value at the last step"
    if kinds == {False}:
        return "value / value at the first step"
    return "value / value at the first step (biases, distances: at the last)"


def overlay_caption(name: str) -> str:
    """What was normalised, and the reference with its source and licence."""
    from ckptscope.references import REFERENCES

    ref = REFERENCES[name]
    return (
        f"Dashed: the reference {ref.name} ({ref.description} Source: {ref.source}; licence "
        f"{ref.licence}.) Solid: this store. Steps are shown as the fraction of each model's "
        "training (step / its last step) and values relative to the model's first checkpoint "
        "(value / value at the first step); biases (zero at init) and distances from the "
        "first checkpoint are divided by their value at the last step instead. Panels: each "
        "model's first, middle and last block. Compare shapes, not magnitudes."
    )


def overlay_title(spec: FigureSpec, name: str) -> str:
    """The title of a figure drawn beside a reference."""
    return f"{spec.id}: {spec.title} beside {name}, normalised"


def overlay_views(spec: FigureSpec, store: Store, q: Query, name: str) -> pd.DataFrame:
    """The overlay's rows; NoFigureData when the store (not the reference) has none, and
    ValueError when the figure has nothing a reference holds."""
    if not spec.overlay:
        able = ", ".join(s.id for s in ordered().values() if s.overlay)
        raise ValueError(f"{spec.id} cannot be drawn beside a reference; figures that can: {able}")
    rows = overlay_rows(spec, store, q, name)
    if rows.empty or not (rows.source == "").any():
        raise NoFigureData(spec.hint(getattr(store, "location", store.root)))
    return rows


def draw_overlay(spec: FigureSpec, store: Store, q: Query, name: str,
                 interactive: bool = False) -> Figure | Spec:  # fmt: skip
    """``spec`` with the reference ``name`` beside the store's curves (static or plotly)."""
    return overlay_drawing(spec, overlay_views(spec, store, q, name), name, interactive)


def overlay_drawing(spec: FigureSpec, rows: pd.DataFrame, name: str,
                    interactive: bool = False) -> Figure | Spec:  # fmt: skip
    """The overlay of ``spec`` from its rows (:func:`overlay_views`), static or plotly."""
    title, label = overlay_title(spec, name), y_label(spec.overlay)
    if interactive:
        return overlay_figure(rows, spec.overlay, title, label)
    return overlay_grid(rows, spec.overlay, title, label)
