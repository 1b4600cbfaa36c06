"""``build_report``: every catalogue figure into a folder as files, plus ``report.html``.

For each figure of :mod:`ckptscope.figures` with rows in the store: its static Figure per
part as PNG (and SVG), for F1-F4 and F13 also stills at four steps side by side
(``<stem>_steps``), its animation per part as GIF and MP4, and with ``reference`` the
figure beside that reference (``<id>_vs_<reference>``, F7-F11); then the interactive page
of every figure. A figure with no rows becomes the line naming the sweep that would fill
it; one that fails to draw becomes a line saying so, never a failed report.
"""

from __future__ import annotations

import logging
import multiprocessing
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from ckptscope.figures import FIGURES, FigureSpec
from ckptscope.figures.catalogue import NoFigureData, Query
from ckptscope.figures.reference import draw_overlay
from ckptscope.plots.animation import write_animation
from ckptscope.plots.style import MAX_FRAMES, safe_name, save
from ckptscope.report.html import write_html_report
from ckptscope.store import Store

log = logging.getLogger(__name__)

#: ``progress(done, total, description)``: called after each figure and after the page
Progress = Callable[[int, int, str], None]


@dataclass(frozen=True)
class ReportOptions:
    """How figures are drawn: step axis, formats, animations, which models, processes."""

    log_steps: bool = False
    formats: tuple[str, ...] = ("png",)
    animations: bool = True
    models: tuple[str, ...] | None = None
    workers: int = 1  # processes drawing figures in parallel
    max_frames: int = MAX_FRAMES
    reference: str | None = None  # a shipped reference drawn beside F7-F11 (e.g. pythia-2023)

    def query(self) -> Query:
        return Query(self.models, self.log_steps, self.max_frames)


@dataclass
class BuiltReport:
    """Files a report build wrote, and the figures it could not draw (with the fix)."""

    out_dir: Path
    paths: list[Path] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    html: Path | None = None


def draw_files(store: Store, spec: FigureSpec, out_dir: Path, opts: ReportOptions) -> list[Path]:
    """Write one figure's files (nothing when the store has no rows for it)."""
    q = opts.query()
    rows = spec.rows(store, q)
    paths: list[Path] = []
    if rows.empty:
        return paths
    for stem, part in spec.file_parts(rows):
        paths += save(spec.static(part, q, None), out_dir / stem, opts.formats)
        if spec.multiples:  # stills at a few steps side by side, for papers
            paths += save(spec.still_grid(part, q), out_dir / f"{stem}_steps", opts.formats)
        if spec.animation is not None and opts.animations:
            paths += write_animation(spec.animation(part, q, None).frames(), out_dir / stem)
    if opts.reference and spec.overlay:
        stem = out_dir / f"{spec.id}_vs_{safe_name(opts.reference)}"
        try:
            paths += save(draw_overlay(spec, store, q, opts.reference), stem, opts.formats)
        except NoFigureData:  # the store's rows have no blocks to set beside the reference
            log.info("%s: nothing to draw beside %s", spec.id, opts.reference)
    return paths


def _draw_by_id(store_root: str, fig_id: str, out_dir: Path, opts: ReportOptions) -> list[Path]:
    """What a worker process runs: open the store, draw one figure."""
    return draw_files(Store(store_root, create=False), FIGURES[fig_id], out_dir, opts)


def build_report(
    store: Store,
    out_dir: Path,
    opts: ReportOptions,
    ids: Sequence[str] | None = None,
    progress: Progress | None = None,
) -> BuiltReport:
    """Draw the chosen figures (all by default) from ``store`` into ``out_dir``, then the page.

    With ``opts.workers > 1`` figures are drawn in that many spawned processes.
    """
    unknown = [i for i in ids or () if i not in FIGURES]
    if unknown:
        raise ValueError(f"unknown figure {unknown[0]!r}; figures: {', '.join(FIGURES)}")
    chosen = [FIGURES[i] for i in (ids or FIGURES)]
    out_dir.mkdir(parents=True, exist_ok=True)
    built = BuiltReport(out_dir)
    total = len(chosen) + 1
    pool = None
    if opts.workers > 1:
        ctx = multiprocessing.get_context("spawn")
        pool = ProcessPoolExecutor(max_workers=opts.workers, mp_context=ctx)
    try:
        jobs: dict[str, Future[list[Path]] | None] = {
            s.id: pool.submit(_draw_by_id, str(store.root), s.id, out_dir, opts) if pool else None
            for s in chosen
        }
        for done, spec in enumerate(chosen, start=1):
            try:
                job = jobs[spec.id]
                paths = job.result() if job else draw_files(store, spec, out_dir, opts)
            except Exception as err:  # one broken figure never costs the others
                log.warning("figure %s could not be drawn: %s", spec.id, err)
                built.missing.append(
                    f"{spec.id} ({spec.title}): could not be drawn: {err}".splitlines()[0]
                )
            else:
                built.paths += paths
                if not paths:
                    built.missing.append(spec.hint(store.root))
            if progress:
                progress(done, total, spec.id)
    finally:
        if pool is not None:
            pool.shutdown()
    built.html = write_html_report(store, out_dir / "report.html", opts.query(), built.paths,
                                   reference=opts.reference)  # fmt: skip
    if progress:
        progress(total, total, "report.html")
    return built
