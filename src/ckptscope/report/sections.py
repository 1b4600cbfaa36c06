"""What the HTML report shows: a section per finding of the post, built from the catalogue.

Each section lists the interactive views of the catalogue's figures of that section
(:data:`ckptscope.figures.SECTIONS` holds the headings and the post's findings), plus, for a
figure with no rows, the sweep that would fill it. One figure that fails on odd rows
becomes a note; the page is still written.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from ckptscope import __version__
from ckptscope.figures import FIGURES, SECTIONS, FigureSpec
from ckptscope.figures.catalogue import NoFigureData, Query
from ckptscope.figures.reference import overlay_caption, overlay_title, overlay_views, y_label
from ckptscope.figures.rows import label_models
from ckptscope.names import model_order
from ckptscope.plots.overlay import overlay_figure
from ckptscope.references import REFERENCES
from ckptscope.store import Store

log = logging.getLogger(__name__)


@dataclass
class Fig:
    """One interactive figure: its plotly spec, caption and provenance."""

    fig_id: str
    title: str
    spec: dict[str, Any]
    provenance: dict[str, str]
    caption: str = ""


@dataclass
class Section:
    """A finding of the post: its figures, notes, and hints for figures with no data."""

    key: str
    title: str
    finding: str
    figures: list[Fig] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


class PageData:
    """The store and the rows every part of the page shares, filtered to the chosen models.

    :meth:`prefetch` reads what the page needs besides the figures (verdicts, events,
    failures, evaluation batches) while worker processes draw them.
    """

    def __init__(
        self, store: Store, query: Query, reference: str | None = None, notes: Sequence[str] = ()
    ) -> None:
        self.store, self.query, self.reference, self.notes = store, query, reference, list(notes)
        self.tasks = self.keep(store.table("tasks"))
        self.verdicts: pd.DataFrame | None = None
        self.events = self.failures = self.batches = pd.DataFrame()

    def prefetch(self) -> PageData:
        """Read the findings, events, failures and evaluation batches once."""
        from ckptscope.findings import findings

        runs = self.query.runs
        groups_file = runs.groups_file if runs is not None else None
        # a filtered store holds the chosen models only (names there may be suite/model)
        models = None if runs is not None and runs.filtered else self.query.models
        self.verdicts = findings(self.store, models=models, groups_file=groups_file)
        self.events = self.keep(self.store.events())
        self.failures = self.keep(self.store.failures())
        self.batches = self.keep(self.store.arrays(kind="eval_batch_info"))
        return self

    def keep(self, df: pd.DataFrame) -> pd.DataFrame:
        """Rows of the chosen models only."""
        if self.query.models and "model" in df:
            df = df[df.model.isin(self.query.models)]
        return df.reset_index(drop=True)

    def suites(self) -> list[str]:
        return sorted(set(self.tasks["suite"].dropna())) if len(self.tasks) else []

    def provenance(self, spec: FigureSpec, rows: pd.DataFrame) -> dict[str, str]:
        """Where a view's rows come from: analysis, rows, suites, models, steps, version."""
        steps = sorted(int(s) for s in set(rows["step"])) if len(rows) and "step" in rows else []
        span = f"{len(steps)} ({steps[0]} to {steps[-1]})" if steps else "none"
        if len(rows) and "step" not in rows:  # rows of windows of checkpoints (update_corr)
            span = (f"{int(rows['n_points'].max())} ({int(rows['start_step'].min())} to "
                    f"{int(rows['end_step'].max())})")  # fmt: skip
        prov = {
            "analysis": spec.analysis,
            "data": spec.source,
            "suite": ", ".join(sorted(set(rows["suite"]))) if "suite" in rows else "",
            "models": ", ".join(model_order(rows["model"])) if len(rows) else "",
            "steps": span,
            "ckptscope": __version__,
        }
        if spec.animation is not None and len(self.tasks):
            t = self.tasks
            total = t[
                (t.analysis == spec.analysis) & t.model.isin(set(rows["model"]))
            ].step.nunique()
            if len(steps) < total:
                prov["frames"] = f"{len(steps)} of {total} steps, evenly spaced"
        return prov


@dataclass
class FigureViews:
    """What one figure gives the report: files, interactive views, notes, or the sweep hint.

    Plain data (the figure's id, not its spec), so a worker process can hand it back.
    """

    fig_id: str
    figures: list[Fig] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    missing: str | None = None  # the sweep that would fill a figure with no rows
    paths: list[Path] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)  # the line saying it could not be drawn
    deferred: list[tuple[str, pd.DataFrame]] = field(default_factory=list)  # parts to draw


def figure_rows(
    store: Store, spec: FigureSpec, q: Query, reference: str | None = None
) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """A figure's rows, and its overlay's rows beside ``reference`` (None: none to draw)."""
    rows = label_models(spec.rows(store, q), q)
    if not (reference and spec.overlay) or rows.empty:
        return rows, None
    try:
        return rows, overlay_views(spec, store, q, reference)
    except NoFigureData:  # the store's rows have no blocks to set beside the reference
        log.info("%s: nothing to draw beside %s", spec.id, reference)
        return rows, None


def page_views(data: PageData, spec: FigureSpec) -> FigureViews:
    """The interactive views of one figure, queried from the page's store (no files)."""
    try:
        rows, overlay = figure_rows(data.store, spec, data.query, data.reference)
        return figure_views(data, spec, rows, overlay)
    except (KeyError, ValueError, IndexError, ImportError) as err:
        log.warning("report figure %s failed: %s", spec.id, err)
        return FigureViews(spec.id, notes=[f"{spec.id}: could not draw this figure: {err}"])


def figure_views(
    data: PageData, spec: FigureSpec, rows: pd.DataFrame, overlay: pd.DataFrame | None = None
) -> FigureViews:
    """The interactive views of ``spec`` from its ``rows`` (and the reference ``overlay``)."""
    out = FigureViews(spec.id)
    if rows.empty:
        out.missing = spec.hint(data.store.root)
        return out
    for label, part in spec.view_parts(rows):
        try:
            fig = spec.interactive(part, data.query)
        except (KeyError, ValueError, IndexError) as err:  # e.g. histograms on mixed grids
            out.notes.append(f"{spec.id} {label}: could not draw: {err}")
            continue
        title = f"{spec.title}, {label}" if label else spec.title
        out.figures.append(Fig(spec.id, title, fig, data.provenance(spec, part), spec.caption))
    if overlay is not None and data.reference:
        _overlay(data, spec, out, overlay, data.reference)
    return out


def _overlay(
    data: PageData, spec: FigureSpec, out: FigureViews, rows: pd.DataFrame, name: str
) -> None:
    """The figure beside the reference ``name``, normalised (its caption says how)."""
    try:
        fig = overlay_figure(rows, spec.overlay, overlay_title(spec, name), y_label(spec.overlay))
    except (KeyError, ValueError, IndexError) as err:
        out.notes.append(f"{spec.id} beside {name}: could not draw: {err}")
        return
    prov = data.provenance(spec, rows[rows.source == ""])
    prov["reference"] = f"{name}: {REFERENCES[name].source} ({REFERENCES[name].licence})"
    title = f"{spec.title}, beside {name} (normalised)"
    out.figures.append(Fig(spec.id, title, fig, prov, overlay_caption(name)))


def build_sections(views: Sequence[FigureViews]) -> list[Section]:
    """A section per entry of ``SECTIONS``, holding the figures' views in the given order."""
    sections = {key: Section(key, title, finding) for key, (title, finding) in SECTIONS.items()}
    for view in views:
        sec = sections[FIGURES[view.fig_id].section]
        sec.figures += view.figures
        sec.notes += view.notes
        if view.missing:
            sec.missing.append(view.missing)
    return list(sections.values())
