"""The figure catalogue (FIGURES.md F1-F16): what each draws and which analysis feeds it.

Drawing functions live in ``ckptscope.plots``; this module only routes store rows to them
and says which analysis to run when a figure's data is missing.
"""

from __future__ import annotations

import functools
import importlib
import logging
import multiprocessing
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from ckptscope.plots.weights import WEIGHT_FIGURES, plot_weight_figure
from ckptscope.store import Store

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ReportOptions:
    """How figures are drawn: step axis, formats, animations, which models."""

    log_steps: bool = False
    formats: tuple[str, ...] = ("png",)
    animations: bool = True
    models: tuple[str, ...] | None = None
    workers: int = 1  # processes drawing figures in parallel


@dataclass(frozen=True)
class FigureSpec:
    """One figure: its id, title, the analysis behind it and how to draw it."""

    id: str
    title: str
    analysis: str
    draw: Callable[[Store, Path, ReportOptions], list[Path]]
    finding: str = ""


@dataclass
class FigureResult:
    """What drawing one figure produced: files, or why there are none."""

    spec: FigureSpec
    paths: list[Path] = field(default_factory=list)
    missing: str | None = None


FIGURES: dict[str, FigureSpec] = {}


def register_figure(spec: FigureSpec) -> FigureSpec:
    """Add a figure to the catalogue."""
    FIGURES[spec.id] = spec
    return spec


def _weight_drawer(fig_id: str) -> Callable[[Store, Path, ReportOptions], list[Path]]:
    def draw(store: Store, out: Path, opts: ReportOptions) -> list[Path]:
        _, rows, _ = WEIGHT_FIGURES[fig_id]
        metrics = sorted({m for _, _, m in rows})
        comps = sorted({c for c, _, _ in rows})
        df = store.scalars(metric=metrics, component=comps)
        if opts.models:
            df = df[df.model.isin(opts.models)]
        if df.empty:
            return []
        return plot_weight_figure(fig_id, df, out, log_steps=opts.log_steps, formats=opts.formats)

    return draw


_WEIGHT_FINDINGS = {
    "F7": "MLP norms rise, peak, then decline under weight decay; less so in larger models.",
    "F8": "Attention norms behave alike with more spread; late blocks' QKV grows most.",
    "F9": "MLP biases rise and level off well above their zero init.",
    "F10": "LayerNorm weights rise or fall by depth; biases rise, most in early blocks.",
    "F11": "Distance from init tracks the norms; block 0's MLP in moves least.",
    "F12": "Unembedding and final LayerNorm norms are idiosyncratic per size.",
    "F14": "The embedding norm rises, then slowly decays.",
    "update": "How far each matrix moves between consecutive checkpoints.",
}
for _id, (_title, _, _) in WEIGHT_FIGURES.items():
    register_figure(FigureSpec(_id, _title, "weights", _weight_drawer(_id), _WEIGHT_FINDINGS[_id]))


def _lazy(module: str, fn: str) -> Callable[[Store, Path, ReportOptions], list[Path]]:
    """A drawer imported on first use (plot modules import this one for ReportOptions)."""

    def draw(store: Store, out: Path, opts: ReportOptions) -> list[Path]:
        return getattr(importlib.import_module(f"ckptscope.plots.{module}"), fn)(store, out, opts)

    return draw


def _has(store: Store, table: str, where: str) -> bool:
    """Whether any row matches, without loading the rows."""
    return bool(store.query(f"select count(*) n from {table} where {where}").n[0])


def _f1(store: Store, out: Path, opts: ReportOptions) -> list[Path]:
    from ckptscope.plots.distributions import plot_weight_histograms

    if not opts.animations or not _has(store, "arrays", "kind = 'hist_pooled'"):
        return []
    return plot_weight_histograms(store, out, models=opts.models)


def _f2(store: Store, out: Path, opts: ReportOptions) -> list[Path]:
    from ckptscope.plots.distributions import plot_qq

    if not opts.animations or not _has(store, "arrays", "kind = 'qq_gaussian'"):
        return []
    return plot_qq(store, out, models=opts.models)


def _tails(store: Store, out: Path, opts: ReportOptions) -> list[Path]:
    from ckptscope.plots.distributions import plot_tail_trajectories

    if not _has(store, "scalars", "metric = 't_nu'"):
        return []
    return plot_tail_trajectories(store, out, models=opts.models, log_steps=opts.log_steps)


for _spec in (
    FigureSpec(
        "F1",
        "Weight histograms over training",
        "distributions",
        _f1,
        "QKV turns heavy-tailed suddenly; MLP within the first steps; attention dense stays Gaussian.",
    ),
    FigureSpec(
        "F2",
        "QQ plots against Gaussian, logistic and power law",
        "distributions",
        _f2,
        "Tails grow far heavier than Gaussian; no standard family fits.",
    ),
    FigureSpec(
        "tails",
        "Student-t nu, generalised-normal beta and kurtosis against step",
        "distributions",
        _tails,
        "The tail parameters the post's readers asked for.",
    ),
    FigureSpec(
        "F3",
        "Residual-stream histograms over training",
        "activations",
        _lazy("activations", "draw_f3"),
        "A rapid shift to a peaked, heavy-tailed shape.",
    ),
    FigureSpec(
        "F4",
        "Gradient histograms over training (MLP out)",
        "gradients",
        _lazy("activations", "draw_f4"),
        "Shrinking variance, widening tails.",
    ),
    FigureSpec(
        "F5",
        "Max |residual| per block against step",
        "activations",
        _lazy("activations", "draw_f5"),
        "Rises fast, crests, slowly declines.",
    ),
    FigureSpec(
        "F6",
        "Largest residual value ever, per block",
        "activations",
        _lazy("activations", "draw_f6"),
        "An inverted U over depth.",
    ),
    FigureSpec(
        "F13",
        "Correlation of the first 256 token embeddings",
        "embeddings",
        _lazy("embeddings", "draw_f13"),
        "Byte structure appears early and stays.",
    ),
    FigureSpec(
        "F15",
        "Singular-value spectra over training",
        "spectra",
        _lazy("spectra", "draw_f15"),
        "MLP spectra turn power-law early; attention dense stays flat.",
    ),
    FigureSpec(
        "F16",
        "Closeness of SVD directions to the final checkpoint",
        "svd_directions",
        _lazy("spectra", "draw_f16"),
        "Emerges late and grows fast near the end.",
    ),
    FigureSpec(
        "esd",
        "Power-law alpha and outlier singular values against step",
        "spectra",
        _lazy("spectra", "draw_esd"),
        "Heavy-tailed self-regularisation metrics per matrix.",
    ),
):
    register_figure(_spec)

#: catalogue order: the post's figure numbers, then the extras
_ORDER = [
    "F1",
    "F2",
    "tails",
    "F3",
    "F4",
    "F5",
    "F6",
    "F7",
    "F8",
    "F9",
    "F10",
    "F11",
    "F12",
    "F13",
    "F14",
    "F15",
    "F16",
    "esd",
    "update",
]
FIGURES = {k: FIGURES[k] for k in _ORDER if k in FIGURES} | FIGURES


def _draw_one(store_root: str, out_dir: Path, opts: ReportOptions, fig_id: str) -> list[Path]:
    """Draw one figure by id (what a worker process runs)."""
    return FIGURES[fig_id].draw(Store(store_root, create=False), out_dir, opts)


def draw_figures(
    store: Store, out_dir: Path, opts: ReportOptions, ids: Sequence[str] | None = None
) -> list[FigureResult]:
    """Draw the chosen figures (all by default); missing data becomes a hint, not a failure.

    With ``opts.workers > 1`` figures are drawn in that many spawned processes.
    """
    unknown = [i for i in ids or () if i not in FIGURES]
    if unknown:
        raise ValueError(f"unknown figure {unknown[0]!r}; figures: {', '.join(FIGURES)}")
    chosen = list(ids or FIGURES)
    jobs: dict[str, Callable[[], list[Path]]] = {}
    if opts.workers > 1:
        ctx = multiprocessing.get_context("spawn")
        pool = ProcessPoolExecutor(max_workers=opts.workers, mp_context=ctx)
        futures = {f: pool.submit(_draw_one, str(store.root), out_dir, opts, f) for f in chosen}
        jobs = {f: fut.result for f, fut in futures.items()}
    else:
        pool = None
        jobs = {f: functools.partial(_draw_one, str(store.root), out_dir, opts, f) for f in chosen}
    results = []
    try:
        for fig_id in chosen:
            spec = FIGURES[fig_id]
            res = FigureResult(spec)
            try:
                res.paths = jobs[fig_id]()
            except Exception as err:  # one broken figure never costs the others
                log.warning("figure %s could not be drawn: %s", fig_id, err)
                res.missing = f"{fig_id} ({spec.title}): could not be drawn: {err}".splitlines()[0]
            if not res.paths and res.missing is None:
                res.missing = (
                    f"{fig_id} ({spec.title}): no data in the store; run "
                    f"`ckptscope sweep SUITE --analyses {spec.analysis} --out {store.root}`"
                )
            results.append(res)
    finally:
        if pool is not None:
            pool.shutdown()
    return results
