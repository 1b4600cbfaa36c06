"""The figure catalogue: one :class:`FigureSpec` per figure, and :func:`figure` to draw one.

A spec says which analysis feeds the figure, what the post found (``caption``, quoted as
the post's), how to select its rows from a store (``rows``: selection and thinning only),
and how to draw them: ``static`` returns a :class:`matplotlib.figure.Figure`,
``interactive`` a plotly figure spec (plain dicts), ``animation`` (optional) an
:class:`~ckptscope.plots.animation.Animation` with a frame per step. ``files`` and
``views`` cut a figure's rows into the parts the report writes as separate files or
separate interactive figures (per model, per component). Family modules
(``weights``, ``distributions``, ``activations``, ``spectra``, ``embeddings``) register
their specs here. New optional fields (e.g. a per-figure verdict) go at the end of
:class:`FigureSpec` with a default, so existing specs need no change.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pandas as pd
from matplotlib.figure import Figure, FigureBase

from ckptscope.errors import CkptscopeError, UsageError
from ckptscope.plots.animation import Animation, small_multiples
from ckptscope.plots.plotly_specs import Spec
from ckptscope.plots.style import MAX_FRAMES, pick_steps

if TYPE_CHECKING:
    from ckptscope.groups import Runs
    from ckptscope.store import Store


@dataclass(frozen=True)
class Query:
    """Which rows a figure shows: models (None: all), step axis, frames per animation, and
    the figure's own options (``(name, value)`` pairs, checked by :func:`check_options`);
    ``runs``: the chosen models' groups, how lines name them and draw seeds (None: each
    model as stored, no seed bands; :func:`ckptscope.groups.select_runs`)."""

    models: tuple[str, ...] | None = None
    log_steps: bool = False
    max_frames: int = MAX_FRAMES
    options: tuple[tuple[str, Any], ...] = ()
    runs: Runs | None = None

    def option(self, name: str, default: Any = None) -> Any:
        """The value of a figure option, ``default`` when it is not given."""
        return dict(self.options).get(name, default)


#: stills per small-multiples figure of an animation
MULTIPLES = 4
RowQuery = Callable[["Store", Query], pd.DataFrame]
StaticDrawer = Callable[[pd.DataFrame, Query, FigureBase | None], Figure]
Animator = Callable[[pd.DataFrame, Query, FigureBase | None], Animation]
InteractiveDrawer = Callable[[pd.DataFrame, Query], Spec]
Parts = Callable[[pd.DataFrame], list[tuple[str, pd.DataFrame]]]


class NoFigureData(CkptscopeError):
    """The store holds no rows for a figure; the message names the sweep that would."""


@dataclass(frozen=True)
class FigureSpec:
    """One figure of the catalogue (see the module docstring)."""

    id: str
    title: str
    analysis: str
    caption: str
    section: str
    source: str  # the rows it draws, for provenance ("scalars: norm")
    rows: RowQuery
    static: StaticDrawer
    interactive: InteractiveDrawer
    animation: Animator | None = None
    files: Parts | None = None  # (file stem, rows) per static file; default: one, the id
    views: Parts | None = None  # (caption suffix, rows) per interactive figure; default: one
    multiples: bool = False  # also a static grid of stills at MULTIPLES steps (animated only)
    overlay: tuple[tuple[str, str, str], ...] = ()  # keys a reference can be drawn beside
    options: tuple[tuple[str, str], ...] = ()  # (name, help) of the options it takes

    def __post_init__(self) -> None:
        # a figure's reads share one connection and see one snapshot of the store
        object.__setattr__(self, "rows", _pinned(self.rows))

    @property
    def static_is_still(self) -> bool:
        """Whether the static figure is the animation's last step (made by :func:`still`):
        then a report takes it from the animation's frames instead of drawing it again."""
        return (
            self.animation is not None and getattr(self.static, "animator", None) is self.animation
        )

    def file_parts(self, rows: pd.DataFrame) -> list[tuple[str, pd.DataFrame]]:
        return self.files(rows) if self.files else [(self.id, rows)]

    def view_parts(self, rows: pd.DataFrame) -> list[tuple[str, pd.DataFrame]]:
        return self.views(rows) if self.views else [("", rows)]

    def still_grid(self, rows: pd.DataFrame, q: Query, into: FigureBase | None = None) -> Figure:
        """Stills of the animation at ``MULTIPLES`` evenly spaced steps (first and last in)."""
        if self.animation is None:
            raise ValueError(f"{self.id} is not animated: no stills to lay side by side")
        animator, steps = self.animation, pick_steps(rows.step, MULTIPLES)
        return small_multiples(lambda sub: animator(rows, q, sub), steps, into=into)

    def hint(self, store_root: object) -> str:
        """The line shown when the store has no rows for this figure."""
        return (f"{self.id} ({self.title}): no data in the store; run "
                f"`ckptscope sweep SUITE --analyses {self.analysis} --out {store_root}`")  # fmt: skip


def _pinned(query: RowQuery) -> RowQuery:
    """``query`` run inside ``store.pinned()``: its reads open one connection, scan the
    store once, and see one snapshot (a sweep may commit between two of them otherwise)."""
    if getattr(query, "pinned", False):
        return query

    def rows(store: Store, q: Query) -> pd.DataFrame:
        with store.pinned():
            return query(store, q)

    rows.pinned = True  # type: ignore[attr-defined]
    rows.__doc__, rows.__name__ = query.__doc__, getattr(query, "__name__", "rows")
    return rows


def still(animator: Animator) -> StaticDrawer:
    """The static drawer of an animated figure: its last step."""

    def draw(rows: pd.DataFrame, q: Query, into: FigureBase | None = None) -> Figure:
        return animator(rows, q, into).still()

    draw.animator = animator  # type: ignore[attr-defined]  # see FigureSpec.static_is_still
    return draw


#: report sections: key -> (heading, the post's finding for the section)
SECTIONS: dict[str, tuple[str, str]] = {
    "weights": ("Weight norms and distances (F7-F12, F14)",
                "The post (Pythia): norms rise, peak between 20k and 40k steps, then decline "
                "under weight decay."),
    "distributions": ("Weight distributions (F1, F2)",
                      "The post (Pythia): Gaussian at first, then heavy tails (QKV near 20k "
                      "steps, MLP early); no standard family fits the tails."),
    "activations": ("Activations and gradients (F3-F6)",
                    "The post (Pythia): residual activations turn peaked and heavy-tailed with "
                    "extreme outliers; the max outlier rises, crests and declines, an inverted "
                    "U over depth."),
    "spectra": ("Spectra and singular directions (F15, F16)",
                "The post (Pythia): MLP spectra turn power-law early; attention dense stays "
                "flat; top singular directions settle late, larger models more stably."),
    "embeddings": ("Embedding structure (F13)",
                   "The post (Pythia): byte structure (digits, letters with and without space) "
                   "appears early and stays."),
}  # fmt: skip

#: catalogue order: the post's figure numbers, each extra after the figure it extends
ORDER = ("F1", "F2", "tails", "fits", "F3", "F4", "F5", "F6", "loss", "F7", "F8", "F9", "F10",
         "F11", "F12", "F13", "F14", "F15", "F16", "esd", "heads_circuits", "heads_qkv", "update",
         "update_corr", "norm_extrap")  # fmt: skip
_REGISTRY: dict[str, FigureSpec] = {}


def register(spec: FigureSpec) -> FigureSpec:
    """Add a figure to the catalogue (its section must be one of :data:`SECTIONS`)."""
    if spec.section not in SECTIONS:
        raise ValueError(f"{spec.id}: unknown section {spec.section!r}")
    _REGISTRY[spec.id] = spec
    return spec


def ordered() -> dict[str, FigureSpec]:
    """Every registered figure, in catalogue order (unlisted ids last)."""
    return {k: _REGISTRY[k] for k in ORDER if k in _REGISTRY} | _REGISTRY


def get(fig_id: str) -> FigureSpec:
    """The spec of one figure; ValueError naming the known ids otherwise."""
    if fig_id not in _REGISTRY:
        raise ValueError(f"unknown figure {fig_id!r}; figures: {', '.join(ordered())}")
    return _REGISTRY[fig_id]


def check_options(
    spec: FigureSpec, options: Mapping[str, Any] | None
) -> tuple[tuple[str, Any], ...]:
    """``options`` as :attr:`Query.options`; UsageError naming an option the figure lacks."""
    known = dict(spec.options)
    for name in options or {}:
        if name not in known:
            takes = ", ".join(known) if known else "none"
            raise UsageError(f"figure {spec.id}: unknown option {name!r}; its options: {takes}")
    return tuple(sorted((options or {}).items()))


def describe(spec: FigureSpec) -> dict[str, Any]:
    """The documented fields of a spec (for docs/figures.md)."""
    return {"id": spec.id, "title": spec.title, "analysis": spec.analysis,
            "section": SECTIONS[spec.section][0], "rows": spec.source,
            "animated": spec.animation is not None, "caption": spec.caption,
            "overlay": bool(spec.overlay), "options": dict(spec.options)}  # fmt: skip
