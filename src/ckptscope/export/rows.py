"""A store's rows as the points an experiment tracker logs: tags, scalars, histograms.

Tag convention, shared by every exporter: ``component/block/[param/][hH/]metric``

* ``block`` is the block index, or ``-`` for a tensor outside the blocks (embed, unembed,
  ln_final, the whole model): ``mlp_in/3/norm``, ``embed/-/norm``, ``model/-/loss``;
* ``param`` is written unless it is ``weight`` or empty: ``ln1/2/bias/norm``;
* ``hH`` is the attention head of a per-head row: ``q/0/h3/norm``;
* ``metric`` is the scalar's metric, or a histogram's kind (``hist``, ``hist_pooled``,
  ``grad_hist``): ``qkv/0/hist``.

Every part is made safe: characters other than letters, digits, ``_ . -`` become ``_``,
so a name from the store cannot add a level (``/``) or a control character. Two rows of
one model that would share a tag are refused before anything is written.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ckptscope.errors import UsageError
from ckptscope.stats.histogram import UniversalGrid
from ckptscope.store.schema import ARRAYS

#: array kinds that are histograms on a universal grid (``stats/histogram.py``)
HISTOGRAM_KINDS = ("hist", "hist_pooled", "grad_hist")

_UNSAFE = re.compile(r"[^A-Za-z0-9_.\-]")
_KEY = ("component", "block", "param", "head")


@dataclass(frozen=True)
class ScalarPoint:
    """One scalar row: its tag and value."""

    tag: str
    value: float


@dataclass(frozen=True)
class HistogramPoint:
    """One histogram row, trimmed to its non-empty range: ``len(edges) == len(counts) + 1``.

    The edges are the store's own bin edges (no re-sampling); ``sum`` and ``sum_squares``
    are taken at the bin centres, so they are approximate (the store keeps counts only).
    """

    tag: str
    edges: np.ndarray  # (n + 1,) increasing
    counts: np.ndarray  # (n,) float64, >= 0; first and last non-zero
    sum: float
    sum_squares: float

    @property
    def num(self) -> float:
        return float(self.counts.sum())


@dataclass(frozen=True)
class StepRows:
    """What one model's run receives for one training step."""

    suite: str
    model: str
    step: int
    scalars: tuple[ScalarPoint, ...]
    histograms: tuple[HistogramPoint, ...]


def safe_part(text: Any) -> str:
    """One level of a tag: unsafe characters replaced by ``_`` (never empty, never ``..``)."""
    part = _UNSAFE.sub("_", str(text))
    return "_" if set(part) <= {"."} else part


def safe_name(text: Any, what: str) -> str:
    """A run's folder name from a store name: sanitised, refused when nothing is left."""
    name = _UNSAFE.sub("_", str(text))
    if set(name) <= {"."} or len(name) > 200:
        raise UsageError(f"{what} {str(text)!r} cannot name a run folder (empty, dots or too long)")
    return name


def run_parts(suite: Any, model: Any) -> tuple[str, str]:
    """The run of (suite, model) as safe folder names: its run is ``DIR/suite/model``."""
    return safe_name(suite, "suite"), safe_name(model, "model")


def tag_of(component: Any, block: Any, param: Any, head: Any, metric: Any) -> str:
    """The tag of one row (module docstring): ``mlp_in/3/norm``, ``ln1/2/bias/norm``."""
    parts = [component, "-" if _missing(block) else int(block)]
    if not _missing(param) and param not in ("weight", ""):
        parts.append(param)
    if not _missing(head):
        parts.append(f"h{int(head)}")
    parts.append(metric)
    return "/".join(safe_part(p) for p in parts)


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA


def tag_map(keys: pd.DataFrame, where: str) -> dict[tuple[Any, ...], str]:
    """Each distinct (component, block, param, head, metric) of ``keys`` -> its tag.

    Raises ``UsageError`` naming both rows when two of them would share a tag.
    """
    tags: dict[tuple[Any, ...], str] = {}
    owner: dict[str, tuple[Any, ...]] = {}
    for row in keys[[*_KEY, "metric"]].drop_duplicates().itertuples(index=False):
        key = tuple(None if _missing(v) else v for v in row)
        tag = tag_of(*key)
        if owner.setdefault(tag, key) != key:
            raise UsageError(
                f"{where}: rows {_describe(owner[tag])} and {_describe(key)} would share the "
                f"tag {tag!r}; rename one in the store"
            )
        tags[key] = tag
    return tags


def _describe(key: tuple[Any, ...]) -> str:
    return repr(":".join("" if v is None else str(v) for v in key))


@functools.lru_cache(maxsize=64)
def _grid(meta: str | None) -> UniversalGrid:
    spec = json.loads(meta) if meta else {}
    if not isinstance(spec, dict) or spec.get("grid", "asinh") != "asinh":
        raise ValueError("not an asinh grid")
    return UniversalGrid.from_json(meta)


def histogram_point(tag: str, counts: Any, meta: str | None, where: str) -> HistogramPoint | None:
    """A stored histogram (counts on the grid its ``meta`` names); None when it is empty."""
    try:
        grid = _grid(meta)
    except (ValueError, TypeError, KeyError) as err:
        raise UsageError(f"{where}: histogram {tag!r} has a bad grid in its meta ({err})") from None
    counts = np.asarray(counts, dtype=np.float64)
    if counts.shape != (grid.n_bins,):
        raise UsageError(
            f"{where}: histogram {tag!r} has shape {counts.shape}, its grid {grid.n_bins} bins"
        )
    if not np.all(np.isfinite(counts)) or np.any(counts < 0):
        raise UsageError(f"{where}: histogram {tag!r} has negative or non-finite counts")
    nz = np.flatnonzero(counts)
    if nz.size == 0:
        return None
    lo, hi = int(nz[0]), int(nz[-1]) + 1
    kept, centers = counts[lo:hi], grid.centers[lo:hi]
    return HistogramPoint(
        tag=tag,
        edges=grid.edges[lo : hi + 1].copy(),
        counts=kept.copy(),
        sum=float(np.dot(kept, centers)),
        sum_squares=float(np.dot(kept, centers * centers)),
    )


def coarsen(edges: np.ndarray, counts: np.ndarray, max_bins: int) -> tuple[np.ndarray, np.ndarray]:
    """At most ``max_bins`` bins by summing runs of adjacent bins; kept edges are the store's.

    Merging whole bins keeps every count exact (no interpolation); the runs are ``k`` bins
    long, ``k`` the smallest that fits, the last one shorter.
    """
    n = len(counts)
    if n <= max_bins:
        return edges, counts
    k = -(-n // max_bins)
    starts = np.arange(0, n, k)
    merged = np.add.reduceat(counts, starts)
    return np.append(edges[starts], edges[-1]), merged


def read_frames(
    store: Any,
    model: str,
    *,
    suite: str | None = None,
    step: int | None = None,
    metrics: Sequence[str] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One model's numeric scalar rows and histogram rows (optionally one suite/step/metrics)."""
    where: dict[str, Any] = {"model": model}
    if suite is not None:
        where["suite"] = suite
    if step is not None:
        where["step"] = int(step)
    kinds = [k for k in HISTOGRAM_KINDS if metrics is None or k in metrics]
    with store.pinned():
        scalars = store.scalars(**where, **({"metric": list(metrics)} if metrics else {}))
        hists = store.arrays(**where, kind=kinds) if kinds else ARRAYS.empty_table().to_pandas()
    scalars = scalars[scalars["label"].isna()]  # labels (fit_winner) are not numbers
    return scalars, hists.rename(columns={"kind": "metric"})


def step_rows(scalars: pd.DataFrame, hists: pd.DataFrame, model: str) -> Iterator[StepRows]:
    """The rows of :func:`read_frames` as one :class:`StepRows` per (suite, step), in order."""
    for suite in sorted(set(scalars["suite"]) | set(hists["suite"])):
        s_rows = scalars[scalars["suite"] == suite]
        h_rows = hists[hists["suite"] == suite]
        where = f"suite {suite!r} model {model!r}"
        tags = tag_map(pd.concat([s_rows[[*_KEY, "metric"]], h_rows[[*_KEY, "metric"]]]), where)
        by_step_s = dict(list(s_rows.groupby("step", sort=True)))
        by_step_h = dict(list(h_rows.groupby("step", sort=True)))
        for step in sorted(set(by_step_s) | set(by_step_h)):
            at = f"{where} step {int(step)}"
            points = _scalar_points(by_step_s.get(step), tags)
            histograms = _histogram_points(by_step_h.get(step), tags, at)
            yield StepRows(str(suite), model, int(step), points, histograms)


def _key(row: Any) -> tuple[Any, ...]:
    return tuple(None if _missing(getattr(row, c)) else getattr(row, c) for c in (*_KEY, "metric"))


def _scalar_points(frame: pd.DataFrame | None, tags: dict) -> tuple[ScalarPoint, ...]:
    if frame is None:
        return ()
    return tuple(ScalarPoint(tags[_key(r)], float(r.value)) for r in frame.itertuples(index=False))


def _histogram_points(
    frame: pd.DataFrame | None, tags: dict, at: str
) -> tuple[HistogramPoint, ...]:
    if frame is None:
        return ()
    points = (
        histogram_point(tags[_key(r)], r.values, r.meta, at) for r in frame.itertuples(index=False)
    )
    return tuple(p for p in points if p is not None)


def iter_step_rows(
    store: Any,
    model: str,
    *,
    suite: str | None = None,
    step: int | None = None,
    metrics: Iterable[str] | None = None,
) -> Iterator[StepRows]:
    """One model's rows (optionally one suite, step, metrics) step by step, steps ascending."""
    chosen = None if metrics is None else list(metrics)
    scalars, hists = read_frames(store, model, suite=suite, step=step, metrics=chosen)
    yield from step_rows(scalars, hists, model)
