"""Per-head figures: OV/QK circuit and Q/K/V slice metrics per head against step.

Rows: the per-head scalars of the ``spectra`` analysis, ranked and marked by
:func:`ckptscope.views.heads.mark_heads`; drawing: :mod:`ckptscope.plots.heads`. A static
file per (model, component) with a panel per block; an interactive figure per model.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from matplotlib.figure import Figure, FigureBase

from ckptscope.errors import UsageError
from ckptscope.figures.catalogue import FigureSpec, Query, register
from ckptscope.figures.rows import per
from ckptscope.names import metric_name, tensor_name
from ckptscope.plots.heads import heads_figure, heads_grid
from ckptscope.plots.plotly_specs import Spec
from ckptscope.plots.style import safe_name
from ckptscope.stats.robust import DEFAULT_K
from ckptscope.store import Store
from ckptscope.views.heads import (
    CIRCUITS,
    DEFAULT_METRIC,
    QKV,
    head_metrics,
    head_rows,
    mark_heads,
)

#: sort_by value ordering heads by their index instead of a metric
BY_INDEX = "head"
OPTIONS = (
    ("metric", f"the per-head metric drawn (default {DEFAULT_METRIC}; any metric the spectra "
               "analysis writes per head, e.g. stable_rank, alpha)"),
    ("sort_by", "the metric whose value at the last step orders each block's heads in the "
                f"legend and colours, largest first (default: the metric drawn; '{BY_INDEX}': "
                "by head index)"),
    ("outlier_k", "a head is marked as an outlier at a step when |x - median| > k * 1.4826 * "
                  "MAD across that block's heads at that step (default "
                  f"{DEFAULT_K}: in robust standard deviations)"),
)  # fmt: skip


def _text(q: Query, name: str, default: str) -> str:
    value = q.option(name, default)
    if not isinstance(value, str) or not value:
        raise UsageError(f"option {name}: a metric name, got {value!r}")
    return value


def _k(q: Query) -> float:
    k = q.option("outlier_k", DEFAULT_K)
    if isinstance(k, bool) or not isinstance(k, int | float) or not (np.isfinite(k) and k > 0):
        raise UsageError(f"option outlier_k: a positive number, got {k!r}")
    return float(k)


def _marked(store: Store, q: Query, components: Sequence[str]) -> pd.DataFrame:
    metric, k = _text(q, "metric", DEFAULT_METRIC), _k(q)
    sort_by = _text(q, "sort_by", metric)
    rows = head_rows(store, components, sorted({metric, sort_by} - {BY_INDEX}), q.models)
    if rows.empty:
        models = {"model": list(q.models)} if q.models else {}
        if store.scalars(component=list(components), **models)["head"].isna().all():
            return rows  # no per-head rows at all: NoFigureData names the sweep
    for name, wanted in (("metric", metric), ("sort_by", sort_by)):
        if wanted != BY_INDEX and not (rows.metric == wanted).any():
            known = ", ".join(head_metrics(store, components)) or "none"
            raise UsageError(f"option {name}: no per-head {wanted!r} rows for "
                             f"{', '.join(components)}; per-head metrics: {known}")  # fmt: skip
    if sort_by == BY_INDEX:
        rows = pd.concat([rows, rows[rows.metric == metric].assign(metric=BY_INDEX,
                                                                   value=-rows["head"])])  # fmt: skip
    marked = mark_heads(rows, sort_by, k)
    drawn = marked.metric == metric
    return marked if drawn.all() else marked[drawn].reset_index(drop=True)


def _legend(q: Query) -> str:
    return f"outlier: |x - median| > {_k(q):g} x 1.4826 MAD"


def _title(fig_id: str, rows: pd.DataFrame, q: Query, comp: str) -> str:
    metric = str(rows.metric.iloc[0])
    sort_by = q.option("sort_by", metric)
    return (f"{fig_id}: {metric_name(metric)} per head, {tensor_name(comp)}, "
            f"{rows.model.iloc[0]}\nheads listed by {sort_by} at the last step")  # fmt: skip


def head_spec(fig_id: str, title: str, components: Sequence[str], caption: str) -> FigureSpec:
    """Register a per-head figure of these components."""

    def rows(store: Store, q: Query) -> pd.DataFrame:
        return _marked(store, q, components)

    def static(part: pd.DataFrame, q: Query, into: FigureBase | None = None) -> Figure:
        comp = str(part.component.iloc[0])
        return heads_grid(part, _title(fig_id, part, q, comp), _legend(q),
                          log_steps=q.log_steps, into=into)  # fmt: skip

    def interactive(part: pd.DataFrame, q: Query) -> Spec:
        name = ", ".join(tensor_name(c) for c in dict.fromkeys(part.component))
        metric = metric_name(str(part.metric.iloc[0]))
        return heads_figure(part, f"{fig_id}: {metric} per head, {name}, {part.model.iloc[0]}",
                            _legend(q), q.log_steps)  # fmt: skip

    def files(rows: pd.DataFrame) -> list[tuple[str, pd.DataFrame]]:
        return [(f"{fig_id}/{safe_name(model)}_{comp}", part[part.component == comp])
                for model, part in per(rows, "model") for comp in components
                if (part.component == comp).any()]  # fmt: skip

    return register(FigureSpec(fig_id, title, "spectra", caption, "spectra",
                               "scalars per head (head set): the chosen metric of "
                               + ", ".join(components), rows, static, interactive, files=files,
                               views=lambda r: per(r, "model"), options=OPTIONS))  # fmt: skip


_RULE = ("Outlier heads (rings): |x - median| > k x 1.4826 MAD across the block's heads at "
         "that step (k = 3.5 unless the option outlier_k says otherwise); with few heads per "
         "block (under about 8) the MAD is itself noisy, so read single rings with care.")  # fmt: skip
head_spec("heads_circuits", "OV and QK circuit spectra per head", CIRCUITS,
          "Not a figure of the post: a spectral metric (default: the top singular value) of "
          "each head's OV circuit W_O W_V and QK circuit W_Q^T W_K, a line per head, heads "
          f"listed by the sort_by metric. {_RULE}")  # fmt: skip
head_spec("heads_qkv", "Q, K and V statistics per head", QKV,
          "Not a figure of the post: a spectral metric (default: the top singular value) of "
          f"each head's Q, K and V slice, a line per head, heads listed by sort_by. {_RULE}")  # fmt: skip
