"""Figure kinds shared by several families: lines against step, histograms over training."""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence

import pandas as pd
from matplotlib.figure import Figure, FigureBase

from ckptscope.figures.catalogue import FigureSpec, Parts, Query, RowQuery, register, still
from ckptscope.figures.rows import per, scalars, with_events
from ckptscope.plots.animation import Animation
from ckptscope.plots.histograms import hist_animation, hist_figure
from ckptscope.plots.line_specs import lines_figure
from ckptscope.plots.lines import Key, line_grid
from ckptscope.plots.plotly_specs import Spec
from ckptscope.store import Store


def source_of(keys: Sequence[Key]) -> str:
    """Provenance text naming the scalar rows of ``keys``."""
    return "scalars: " + ", ".join(sorted({f"{c}.{p} {m}".replace(". ", " ") for c, p, m in keys}))


#: a figure's own selection of its scalar rows (leaving out, or marking, some of them)
Prepare = Callable[[Store, Query, pd.DataFrame], pd.DataFrame]


def line_spec(fig_id: str, title: str, analysis: str, caption: str, section: str,
              keys: Sequence[Key], *, files: Parts | None = None, views: Parts | None = None,
              log_y: Collection[str] = (), bands: Mapping[str, str] | None = None,
              prepare: Prepare | None = None, overlay: bool = False) -> FigureSpec:  # fmt: skip
    """Register a figure of the scalar rows ``keys`` against step (static and interactive).

    Rows carry the phase changes found on them (column ``event``); with ``q.runs`` a group
    of several seeds is one line, its mean with a band (:func:`ckptscope.groups.seed_bands`);
    ``prepare`` selects or marks rows further (e.g. ``gaussian_like``, drawn on the band of ``bands``);
    ``overlay``: a reference can be drawn beside these keys (:mod:`.reference`).
    """
    label = f"{fig_id}: {title}"

    def rows(store: Store, q: Query) -> pd.DataFrame:
        found = scalars(store, q, keys)
        found = with_events(store, q, prepare(store, q, found) if prepare else found)
        if q.runs is None or found.empty:
            return found
        from ckptscope.groups.bands import seed_bands

        return seed_bands(found, q.runs)  # a group of several seeds: its mean and band

    def static(part: pd.DataFrame, q: Query, into: FigureBase | None = None) -> Figure:
        return line_grid(part, keys, label, log_steps=q.log_steps, log_y=log_y, bands=bands,
                         into=into)  # fmt: skip

    def interactive(part: pd.DataFrame, q: Query) -> Spec:
        return lines_figure(part, keys, label, q.log_steps, log_y, bands)

    return register(FigureSpec(fig_id, title, analysis, caption, section, source_of(keys), rows,
                               static, interactive, files=files, views=views,
                               overlay=tuple(keys) if overlay else ()))  # fmt: skip


def split(
    rows: pd.DataFrame, masks: Sequence[tuple[str, pd.Series]]
) -> list[tuple[str, pd.DataFrame]]:
    """Named parts of ``rows`` (one per boolean mask), leaving out the empty ones."""
    parts = [(name, rows[mask]) for name, mask in masks]
    return [(name, part) for name, part in parts if len(part)]


def hist_spec(fig_id: str, title: str, analysis: str, caption: str, section: str, source: str,
              rows: RowQuery, *, file_by: str, stem: str,
              order: Sequence[str] = ()) -> FigureSpec:  # fmt: skip
    """Register animated histograms: a file per ``file_by`` value (``model`` or ``component``)
    with a panel per value of the other; an interactive figure per model, a line per component.
    """
    panel = "model" if file_by == "component" else "component"

    def animation(part: pd.DataFrame, q: Query, into: FigureBase | None = None) -> Animation:
        name = part[file_by].iloc[0]
        return hist_animation(part, panel, f"{fig_id}: {title}\n{name}", into)

    def interactive(part: pd.DataFrame, q: Query) -> Spec:
        steps = sorted(int(s) for s in part.step.unique())
        return hist_figure(part, "component", steps, f"{fig_id}: {title}, {part.model.iloc[0]}")

    return register(FigureSpec(fig_id, title, analysis, caption, section, source, rows,
                               still(animation), interactive, animation,
                               files=lambda r: per(r, file_by, stem, order), views=lambda r: per(r, "model"),
                               multiples=True))  # fmt: skip
