"""``build_report``: every catalogue figure into a folder as files, plus ``report.html``.

For each figure of :mod:`ckptscope.figures` with rows in the store: its static Figure per
part as PNG (and SVG), for F1-F4 and F13 also stills at four steps side by side
(``<stem>_steps``), its animation per part as GIF and MP4, and with ``reference`` the
figure beside that reference (``<id>_vs_<reference>``, F7-F11); then the interactive page
of every figure. A figure with no rows becomes the line naming the sweep that would fill
it; one that fails to draw becomes a line saying so, never a failed report.

Each figure is one job (:func:`draw_figure`): its rows are queried once and give both its
files and its interactive views, and an animation's frames are rendered once, for the GIF,
the MP4 and the stills (tiled from the same frames). Jobs run in ``workers`` spawned
processes, the slowest first, while this process reads what the rest of the page needs.
An animated figure with several parts (one per model, say) draws its first part in its
own job and hands the other parts' rows back: each becomes a job of its own, so one long
figure never leaves the other workers idle, and no rows are queried twice.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from contextlib import ExitStack
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import pandas as pd

from ckptscope.figures import FIGURES, FigureSpec
from ckptscope.figures.catalogue import MULTIPLES, Query
from ckptscope.figures.reference import overlay_drawing
from ckptscope.groups import Runs, select_runs
from ckptscope.plots.animation import Animation, tile, write_animation
from ckptscope.plots.style import MAX_FRAMES, pick_steps, safe_name, save, save_image
from ckptscope.report.html import write_page
from ckptscope.report.sections import FigureViews, PageData, figure_rows, figure_views
from ckptscope.store import Store

log = logging.getLogger(__name__)

#: ``progress(done, total, description)``: called after each figure and after the page
Progress = Callable[[int, int, str], None]


def default_workers() -> int:
    """Processes drawing a report by default: one per core, at most four."""
    return max(1, min(4, os.cpu_count() or 1))


@dataclass(frozen=True)
class ReportOptions:
    """How figures are drawn: step axis, formats, animations, which models, processes.

    ``suites``, ``models``, ``groups`` choose models (:func:`ckptscope.groups.select_runs`:
    each name must be in the store); ``band`` is how line figures draw a group of several
    seeds (``minmax``, ``sd``, ``none``); ``groups_file`` groups models whose names do not
    say their seed (docs/comparisons.md).
    """

    log_steps: bool = False
    formats: tuple[str, ...] = ("png",)
    animations: bool = True
    models: tuple[str, ...] | None = None
    workers: int = 1  # processes drawing figures in parallel (1: this process)
    max_frames: int = MAX_FRAMES
    reference: str | None = None  # a shipped reference drawn beside F7-F11 (e.g. pythia-2023)
    notes: tuple[str, ...] = ()  # lines for the provenance (e.g. how an offline suite was trained)
    suites: tuple[str, ...] | None = None
    groups: tuple[str, ...] | None = None
    groups_file: str | None = None
    band: str = "minmax"

    def query(self, runs: Runs | None = None) -> Query:
        """The figures' query; with ``runs``, its models are the chosen runs' bare names
        (``--models suite/model`` names no row's model), for a store ``runs`` restricts."""
        models = runs.names if runs is not None else self.models
        return Query(models, self.log_steps, self.max_frames, runs=runs)

    def runs(self, store: Store) -> Runs:
        """The models these options choose from ``store``, with their groups."""
        return select_runs(store, suites=self.suites, models=self.models, groups=self.groups,
                           groups_file=self.groups_file, band=self.band)  # fmt: skip


@dataclass
class BuiltReport:
    """Files a report build wrote, and the figures it could not draw (with the fix)."""

    out_dir: Path
    paths: list[Path] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    html: Path | None = None


def _part_files(
    spec: FigureSpec, part: pd.DataFrame, q: Query, stem: Path, opts: ReportOptions
) -> list[Path]:
    """One part's files: its static figure, stills at a few steps and its animation.

    An animation's frames are rendered once (one layout) and give the GIF, the MP4, the
    stills (``<stem>_steps``: the frames at ``MULTIPLES`` steps, tiled) and, when the static
    figure is the animation's last step, its PNG. Vector formats are drawn as figures.
    """
    if spec.animation is None:
        return save(spec.static(part, q, None), stem, opts.formats)
    paths: list[Path] = []
    reuse = spec.static_is_still
    if not reuse:
        paths += save(spec.static(part, q, None), stem, opts.formats)
    anim: Animation = spec.animation(part, q, None)
    vectors = tuple(f for f in opts.formats if f != "png")
    if reuse and vectors:
        paths += save(anim.still(), stem, vectors)
    still_steps = pick_steps(anim.steps, MULTIPLES) if spec.multiples else []
    wanted = {*still_steps, *([anim.steps[-1]] if reuse else [])}
    steps = list(anim.steps) if opts.animations else sorted(wanted)
    frames = dict(zip(steps, anim.frames(steps), strict=True)) if steps else {}
    if reuse and "png" in opts.formats:
        paths += save_image(frames[anim.steps[-1]], stem)
    if still_steps:
        grid = stem.with_name(f"{stem.name}_steps")
        if vectors:  # vectors: draw the stills as figures
            paths += save(spec.still_grid(part, q), grid, opts.formats)
        else:
            paths += save_image(tile([frames[s] for s in still_steps]), grid)
    if opts.animations:
        paths += write_animation(frames.values(), stem)
    return paths


def draw_figure(
    page: PageData,
    spec: FigureSpec,
    out_dir: Path | None,
    opts: ReportOptions,
    *,
    split: bool = False,
) -> FigureViews:
    """One figure of ``page``'s store: its files into ``out_dir`` (None: none) and its
    interactive views.

    The rows are queried once for both. With a reference the figure is also drawn beside
    it, from one query of the overlay's rows. With ``split``, an animated figure of several
    parts draws only its first and returns the others in ``views.deferred`` as
    ``(stem, rows)``, each drawn as a job of its own in another process.
    """
    store, q = page.store, page.query
    with store.pinned():
        rows, overlay = figure_rows(store, spec, q, page.reference)
        views = figure_views(page, spec, rows, overlay)
    if out_dir is None or rows.empty:
        return views
    parts = spec.file_parts(rows)
    if split and spec.animation is not None and len(parts) > 1:
        parts, views.deferred = parts[:1], parts[1:]
    for stem, part in parts:
        views.paths += _part_files(spec, part, q, out_dir / stem, opts)
    if overlay is not None and page.reference:
        stem = out_dir / f"{spec.id}_vs_{safe_name(page.reference)}"
        views.paths += save(overlay_drawing(spec, overlay, page.reference), stem, opts.formats)
    return views


def draw_files(store: Store, spec: FigureSpec, out_dir: Path, opts: ReportOptions) -> list[Path]:
    """Write one figure's files (nothing when the store has no rows for it)."""
    runs = opts.runs(store)
    store = runs.restrict(store)
    with store.pinned():
        page = PageData(store, opts.query(runs), opts.reference)
        return draw_figure(page, spec, out_dir, opts).paths


#: a worker process's page data, over its store pinned for the process's lifetime
_WORKER: dict[str, PageData] = {}
_WORKER_PINS = ExitStack()


def _open_worker(store_root: str, opts: ReportOptions, q: Query) -> None:
    """Pool initializer: open and pin the store once, read what every figure shares."""
    store = Store(store_root, create=False)
    if q.runs is not None:
        store = q.runs.restrict(store)
    _WORKER_PINS.enter_context(store.pinned())
    _WORKER["page"] = PageData(store, q, opts.reference)


def _draw_split(fig_id: str, out_dir: Path, opts: ReportOptions) -> FigureViews:
    """A worker's first job for a figure: its views and first part (the rest deferred)."""
    return draw_figure(_WORKER["page"], FIGURES[fig_id], out_dir, opts, split=True)


def _draw_part(
    fig_id: str, stem: str, part: pd.DataFrame, out_dir: Path, opts: ReportOptions
) -> list[Path]:
    """One deferred part of a figure (its rows as the figure's job queried them)."""
    return _part_files(FIGURES[fig_id], part, _WORKER["page"].query, out_dir / stem, opts)


def _cost(spec: FigureSpec) -> int:
    """A rough rank of a figure's drawing time: animations and stills first."""
    return 2 * (spec.animation is not None) + spec.multiples


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
    runs = opts.runs(store)  # unknown suites, models, groups: refused before any work
    store, q = runs.restrict(store), opts.query(runs)
    out_dir.mkdir(parents=True, exist_ok=True)
    built = BuiltReport(out_dir)
    total = len(chosen) + 1
    pool = None
    if opts.workers > 1 and len(chosen) > 1:
        ctx = multiprocessing.get_context("spawn")
        pool = ProcessPoolExecutor(max_workers=min(opts.workers, len(chosen)), mp_context=ctx,
                                   initializer=_open_worker, initargs=(str(store.root), opts, q))  # fmt: skip
    views_of: dict[str, FigureViews] = {}
    try:
        with store.pinned():
            page = PageData(store, q, opts.reference, opts.notes)
            if pool is None:
                for done, spec in enumerate(chosen, start=1):
                    draw = partial(draw_figure, page, spec, out_dir, opts)
                    views_of[spec.id] = _guarded(spec, draw)
                    if progress:
                        progress(done, total, spec.id)
            else:
                _draw_in_pool(pool, chosen, out_dir, opts, views_of, page, progress, total)
            results = [views_of[spec.id] for spec in chosen]
            for views in results:
                built.paths += views.paths
                if views.missing:
                    built.missing.append(views.missing)
                built.missing += views.failed
            built.html = write_page(page, results, out_dir / "report.html", built.paths)
    finally:
        if pool is not None:
            pool.shutdown()
    if progress:
        progress(total, total, "report.html")
    return built


def _guarded(spec: FigureSpec, draw: Callable[[], FigureViews]) -> FigureViews:
    """``draw()``, or the views of a figure that could not be drawn: one broken figure never
    costs the others."""
    try:
        return draw()
    except Exception as err:
        return _failed(spec, err)


def _failed(spec: FigureSpec, err: BaseException) -> FigureViews:
    log.warning("figure %s could not be drawn: %s", spec.id, err)
    line = f"{spec.id} ({spec.title}): could not be drawn: {err}".splitlines()[0]
    return FigureViews(spec.id, notes=[f"{spec.id}: could not draw this figure: {err}"],
                       failed=[line])  # fmt: skip


def _draw_in_pool(
    pool: ProcessPoolExecutor,
    chosen: Sequence[FigureSpec],
    out_dir: Path,
    opts: ReportOptions,
    views_of: dict[str, FigureViews],
    page: PageData,
    progress: Progress | None,
    total: int,
) -> None:
    """Draw every figure in ``pool``, the slowest first, and each deferred part as a job of
    its own as soon as its figure's job hands it back; meanwhile this process reads what
    the page shares."""
    jobs: dict[Future, tuple[FigureSpec, int]] = {}  # part -1: the figure's own job
    for spec in sorted(chosen, key=_cost, reverse=True):
        jobs[pool.submit(_draw_split, spec.id, out_dir, opts)] = (spec, -1)
    page.prefetch()
    parts: dict[str, list[list[Path] | None]] = {}
    left = {spec.id: 1 for spec in chosen}  # jobs still running per figure
    done_figures = 0
    while jobs:
        finished, _ = wait(jobs, return_when=FIRST_COMPLETED)
        for job in finished:
            spec, index = jobs.pop(job)
            left[spec.id] -= 1
            if index < 0:
                try:
                    views = job.result()
                except Exception as err:
                    views = _failed(spec, err)
                deferred, views.deferred = views.deferred, []
                views_of[spec.id] = views
                parts[spec.id] = [None] * len(deferred)
                for i, (stem, rows) in enumerate(deferred):
                    jobs[pool.submit(_draw_part, spec.id, stem, rows, out_dir, opts)] = (spec, i)
                    left[spec.id] += 1
            else:
                try:
                    parts[spec.id][index] = job.result()
                except Exception as err:
                    views_of[spec.id] = _failed(spec, err)
            if left[spec.id] == 0:
                views = views_of[spec.id]
                if not views.failed:
                    views.paths += [p for paths in parts[spec.id] for p in paths or ()]
                done_figures += 1
                if progress:
                    progress(done_figures, total, spec.id)


__all__ = ["BuiltReport", "ReportOptions", "build_report", "default_workers", "draw_figure",
           "draw_files"]  # fmt: skip
