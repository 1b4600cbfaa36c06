"""``figure(id, store)``: one catalogue figure as a matplotlib or plotly Figure, no file.

Kept apart from ``catalogue.py`` because it also draws the reference overlays
(``reference.py``), which build on the catalogue's specs.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from matplotlib.figure import Figure

from ckptscope.figures.catalogue import NoFigureData, Query, check_options, get
from ckptscope.figures.reference import draw_overlay
from ckptscope.figures.rows import label_models
from ckptscope.plots.plotly_specs import Spec
from ckptscope.plots.style import MAX_FRAMES, stack

if TYPE_CHECKING:
    import plotly.graph_objects as go

    from ckptscope.store import Store


def figure(
    fig_id: str,
    store: Store,
    *,
    models: list[str] | tuple[str, ...] | None = None,
    interactive: bool = False,
    log_steps: bool = False,
    max_frames: int = MAX_FRAMES,
    stills: bool = False,
    reference: str | None = None,
    options: Mapping[str, Any] | None = None,
    suites: list[str] | tuple[str, ...] | str | None = None,
    groups: list[str] | tuple[str, ...] | str | None = None,
    groups_file: str | Path | None = None,
    band: str = "minmax",
) -> Figure | go.Figure:
    """Draw one figure from ``store``; writes no file (Jupyter shows the result inline).

    Static figures cut into several files in the report (per model, per component) come back
    as one Figure of stacked parts. An animated figure comes back at its last step, or with
    ``stills=True`` as stills at ``MULTIPLES`` evenly spaced steps side by side. With
    ``reference="pythia-2023"`` (figures with ``overlay`` keys: F7-F11) the store's curves
    and the reference's, normalised (:mod:`ckptscope.figures.reference`). With
    ``interactive=True`` the plotly figure of the first view (a warning names the others;
    narrow them down with ``models=``). Raises :class:`NoFigureData` naming the analysis to
    sweep when the store has no rows for the figure. ``options``: the figure's own options
    (``sort_by`` of the per-head figures, ...: docs/figures.md); UsageError for one it lacks.

    ``suites``, ``models``, ``groups`` choose models (each name must be in the store,
    :func:`ckptscope.groups.select_runs`); lines are keyed by (suite, model), named
    ``suite/model`` when several suites are drawn. In line figures a group of two or more
    seeds is drawn as its mean with a ``band`` (``minmax``, ``sd`` or ``none``: each seed
    alone); ``groups_file`` groups models whose names do not say their seed
    (docs/comparisons.md).
    """
    from ckptscope.groups import select_runs

    spec = get(fig_id)
    runs = select_runs(store, suites=suites, models=models, groups=groups,
                       groups_file=groups_file, band=band)  # fmt: skip
    store = runs.restrict(store)
    q = Query(
        runs.names,  # bare names: a filter's "suite/model" matches no row's model
        log_steps,
        max_frames,
        options=check_options(spec, options),
        runs=runs,
    )
    if reference is not None:
        drawn = draw_overlay(spec, store, q, reference, interactive)
        return _plotly(drawn) if interactive else drawn
    rows = label_models(spec.rows(store, q), q)
    if rows.empty:
        raise NoFigureData(spec.hint(getattr(store, "location", store.root)))
    if interactive:
        views = spec.view_parts(rows)
        if len(views) > 1:
            names = ", ".join(name for name, _ in views)
            warnings.warn(f"{fig_id} has {len(views)} interactive views ({names}); showing "
                          f"{views[0][0]!r}: pass models=[...] for another", stacklevel=2)  # fmt: skip
        return _plotly(spec.interactive(views[0][1], q))
    draw = spec.still_grid if stills else spec.static
    parts = spec.file_parts(rows)
    if len(parts) == 1:
        return draw(parts[0][1], q, None)
    return stack([functools.partial(draw, part, q) for _, part in parts])


def _plotly(spec: Spec) -> go.Figure:
    import plotly.graph_objects as go

    return go.Figure(spec)
