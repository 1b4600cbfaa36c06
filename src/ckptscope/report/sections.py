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
from typing import Any

import pandas as pd

from ckptscope import __version__
from ckptscope.figures import SECTIONS, FigureSpec
from ckptscope.figures.catalogue import NoFigureData, Query
from ckptscope.figures.reference import overlay_caption, overlay_title, overlay_views, y_label
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
    """The store and the rows every part of the page shares, filtered to the chosen models."""

    def __init__(self, store: Store, query: Query, reference: str | None = None) -> None:
        self.store, self.query, self.reference = store, query, reference
        self.tasks = self.keep(store.table("tasks"))

    def keep(self, df: pd.DataFrame) -> pd.DataFrame:
        """Rows of the chosen models only."""
        if self.query.models and "model" in df:
            df = df[df.model.isin(self.query.models)]
        return df.reset_index(drop=True)

    def suites(self) -> list[str]:
        return sorted(set(self.tasks["suite"].dropna())) if len(self.tasks) else []

    def provenance(self, spec: FigureSpec, rows: pd.DataFrame) -> dict[str, str]:
        """Where a view's rows come from: analysis, rows, suites, models, steps, version."""
        steps = sorted(int(s) for s in set(rows["step"])) if len(rows) else []
        prov = {
            "analysis": spec.analysis,
            "data": spec.source,
            "suite": ", ".join(sorted(set(rows["suite"]))) if "suite" in rows else "",
            "models": ", ".join(model_order(rows["model"])) if len(rows) else "",
            "steps": f"{len(steps)} ({steps[0]} to {steps[-1]})" if steps else "none",
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


def _views(data: PageData, spec: FigureSpec, sec: Section) -> None:
    rows = spec.rows(data.store, data.query)
    if rows.empty:
        sec.missing.append(spec.hint(data.store.root))
        return
    for label, part in spec.view_parts(rows):
        try:
            fig = spec.interactive(part, data.query)
        except (KeyError, ValueError, IndexError) as err:  # e.g. histograms on mixed grids
            sec.notes.append(f"{spec.id} {label}: could not draw: {err}")
            continue
        title = f"{spec.title}, {label}" if label else spec.title
        sec.figures.append(Fig(spec.id, title, fig, data.provenance(spec, part), spec.caption))
    if data.reference and spec.overlay:
        _overlay(data, spec, sec, data.reference)


def _overlay(data: PageData, spec: FigureSpec, sec: Section, name: str) -> None:
    """The figure beside the reference ``name``, normalised (its caption says how)."""
    try:
        rows = overlay_views(spec, data.store, data.query, name)
        fig = overlay_figure(rows, spec.overlay, overlay_title(spec, name), y_label(spec.overlay))
    except (KeyError, ValueError, IndexError, NoFigureData) as err:
        sec.notes.append(f"{spec.id} beside {name}: could not draw: {err}")
        return
    prov = data.provenance(spec, rows[rows.source == ""])
    prov["reference"] = f"{name}: {REFERENCES[name].source} ({REFERENCES[name].licence})"
    title = f"{spec.title}, beside {name} (normalised)"
    sec.figures.append(Fig(spec.id, title, fig, prov, overlay_caption(name)))


def build_sections(data: PageData, specs: Sequence[FigureSpec]) -> list[Section]:
    """A section per entry of ``SECTIONS``, holding the views of its figures in order."""
    sections = {key: Section(key, title, finding) for key, (title, finding) in SECTIONS.items()}
    for spec in specs:
        sec = sections[spec.section]
        try:
            _views(data, spec, sec)
        except (KeyError, ValueError, IndexError, ImportError) as err:
            log.warning("report figure %s failed: %s", spec.id, err)
            sec.notes.append(f"{spec.id}: could not draw this figure: {err}")
    return list(sections.values())
