"""Per-head metrics against step: heads ranked by a chosen metric, outlier heads marked.

The ``spectra`` analysis writes the spectral metrics of every head (see
:mod:`ckptscope.analyses.spectra`): of its Q, K and V slices (components ``q``, ``k``,
``v``, param ``weight``) and of its OV and QK circuits (``ov``, ``qk``, param
``circuit``), one row per (suite, model, step, component, block, head, metric). This module
turns those rows into what the per-head figures draw, each (suite, model) on its own (two
suites may share a model name; their heads are never ranked or compared together):

- ``rank``: the head's place within its (suite, model, component, block) by the ``sort_by``
  metric at the last step that metric has there, 0 for the largest value;
- ``robust_z`` and ``outlier``: per (suite, model, step, component, block, metric), across that
  block's heads, ``|x - median| > k * 1.4826 * MAD`` (:mod:`ckptscope.stats.robust`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from ckptscope.errors import UsageError
from ckptscope.stats.robust import DEFAULT_K, robust_z_rows
from ckptscope.store.schema import SCALARS
from ckptscope.views.components import RUN

#: per-head components by figure: circuits and Q/K/V slices
CIRCUITS = ("ov", "qk")
QKV = ("q", "k", "v")
#: the metric drawn when none is chosen: the largest singular value (the head's top gain)
DEFAULT_METRIC = "spectral_norm"
_BLOCK = [*RUN, "component", "block", "param"]
#: the scalars columns of per-head rows (not ``label``: a per-head row is a number)
_COLUMNS = [c for c in SCALARS.names if c != "label"]


def head_rows(store: Any, components: Sequence[str], metrics: Sequence[str],
              models: Sequence[str] | None = None) -> pd.DataFrame:  # fmt: skip
    """Per-head scalar rows (``head`` set) of these components and metrics: the columns
    of :data:`_COLUMNS`."""
    where: dict[str, Any] = {"component": list(components), "metric": list(metrics)}
    if models:
        where["model"] = list(models)
    df = store.scalars(columns=_COLUMNS, **where)
    pooled = df["head"].isna()
    return df[~pooled].reset_index(drop=True) if pooled.any() else df


def head_metrics(store: Any, components: Sequence[str]) -> list[str]:
    """The metrics a store holds per head for these components (for error messages)."""
    names = ", ".join(f"'{c}'" for c in components if c.isidentifier())
    df = store.query(
        f"SELECT DISTINCT metric FROM scalars WHERE head IS NOT NULL AND component IN ({names})"
    )
    return sorted(df["metric"].astype(str))


def key_codes(df: pd.DataFrame, cols: Sequence[str], within: np.ndarray | None = None
              ) -> np.ndarray:  # fmt: skip
    """One non-negative integer per row, equal exactly where the rows' values of ``cols``
    are equal (NULL equal to NULL), and their ``within`` codes too when given: dense, in
    order of first appearance (pandas' groupbys factorise string keys again at every call,
    most of the time of marking millions of rows). See :func:`key_runs`."""
    bounds, codes = key_runs(df, cols, within)
    return np.repeat(codes, np.diff(np.r_[bounds, len(df)]))


def key_runs(df: pd.DataFrame, cols: Sequence[str], within: np.ndarray | None = None
             ) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """:func:`key_codes` as runs: the first position of each run of rows where no key
    changes, and the run's code.

    Each column is coded per run of equal neighbours (:func:`column_runs`) and the codes
    are combined in mixed radix per run of rows. The store returns rows sorted by their
    keys, so runs are few."""
    n = len(df)
    if n == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    runs = [column_runs(df[col]) for col in cols]
    if within is not None:
        starts = np.r_[0, np.flatnonzero(within[1:] != within[:-1]) + 1]
        runs.append((starts, within[starts], int(within.max()) + 1))
    bounds = np.unique(np.concatenate([np.zeros(1, dtype=np.int64), *(s for s, _, _ in runs)]))
    code = np.zeros(len(bounds), dtype=np.int64)
    for starts, codes, count in runs:
        part = codes[np.searchsorted(starts, bounds, side="right") - 1]
        radix = count + 1
        if int(code.max()) >= (2**62) // radix:
            code = pd.factorize(code)[0]  # dense: below the number of runs
        code = code * radix + part
    return bounds, pd.factorize(code)[0].astype(np.int64)


def column_runs(values: pd.Series) -> tuple[np.ndarray, np.ndarray, int]:
    """The runs of equal neighbours in ``values``: each run's first position, its value's
    code (equal exactly where the values are, NULL equal to NULL; in order of first
    appearance) and the number of codes. Only each run's first value is hashed (3-6x
    faster than hashing every string of millions of sorted rows); a column of Python
    objects is factorised whole, as pandas compares them."""
    import pyarrow as pa
    import pyarrow.compute as pc

    n = len(values)
    if n == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64), 0
    if values.dtype != object:
        try:
            arr = pa.chunked_array(pa.array(values, from_pandas=True))  # Arrow-backed: no copy
            if pa.types.is_dictionary(arr.type):  # a categorical: its values, not its codes
                arr = arr.cast(arr.type.value_type)
            change = pc.not_equal(arr.slice(1), arr.slice(0, n - 1))  # chunks kept as they are
            # a NULL next to anything starts a run; equal NULLs get one code below
            starts = np.r_[0, pc.indices_nonzero(change.fill_null(True)).to_numpy() + 1]
            starts = starts.astype(np.int64)
            firsts = arr.take(pa.array(starts)).combine_chunks()
            coded = pc.dictionary_encode(firsts, null_encoding="encode")  # first appearance
            codes = coded.indices.to_numpy(zero_copy_only=False).astype(np.int64)
            return starts, codes, len(coded.dictionary)
        except (pa.ArrowException, TypeError, OverflowError):  # no Arrow kernel for it
            pass
    codes, uniques = pd.factorize(values, use_na_sentinel=False)
    starts = np.r_[0, np.flatnonzero(codes[1:] != codes[:-1]) + 1].astype(np.int64)
    return starts, codes[starts].astype(np.int64), len(uniques)


def _last_step_ranks(rows: pd.DataFrame, block: np.ndarray, sort_by: str
                     ) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """Positions of the ``sort_by`` rows at their block's last step with a finite value,
    in (block, value descending, head) order, one per head, and each one's rank within its
    block."""
    value = rows["value"].to_numpy(np.float64, na_value=np.nan)
    sel = np.flatnonzero((rows["metric"] == sort_by).to_numpy(bool) & np.isfinite(value))
    if sel.size == 0:
        return sel, sel
    step = rows["step"].to_numpy(np.int64)
    last = np.full(int(block.max()) + 1, np.iinfo(np.int64).min)
    np.maximum.at(last, block[sel], step[sel])  # each block's last step with a value
    at = sel[step[sel] == last[block[sel]]]
    head = rows["head"].to_numpy(np.int64)
    at = at[np.lexsort((head[at], -value[at], block[at]))]
    # a head listed twice at its last step (a step swept twice): ranked once, by its largest
    at = at[~pd.Index(_block_head(block, head, at)).duplicated()]
    first = np.r_[True, block[at][1:] != block[at][:-1]]
    index = np.arange(at.size)
    return at, index - np.maximum.accumulate(np.where(first, index, 0))


def _block_head(block: np.ndarray, head: np.ndarray, at: np.ndarray | slice = slice(None)
                ) -> np.ndarray:  # fmt: skip
    """One integer per (block code, head index) of the rows ``at``: below the number of
    blocks times :func:`_head_span`."""
    return block[at] * _head_span(head) + (head[at] - head.min())


def _head_span(head: np.ndarray) -> int:
    return int(head.max() - head.min()) + 1


def rank_heads(rows: pd.DataFrame, sort_by: str) -> pd.DataFrame:
    """(suite, model, component, block, param, head, rank): heads by ``sort_by`` at its last
    step."""
    at, rank = _last_step_ranks(rows, key_codes(rows, _BLOCK), sort_by)
    if at.size == 0:
        return pd.DataFrame(columns=[*_BLOCK, "head", "rank"])
    out = rows.iloc[at][[*_BLOCK, "head"]].assign(rank=rank)
    return out.sort_values([*_BLOCK, "rank"], kind="stable").reset_index(drop=True)


def mark_heads(rows: pd.DataFrame, sort_by: str, k: float = DEFAULT_K) -> pd.DataFrame:
    """``rows`` with ``rank``, ``robust_z`` and ``outlier`` (see the module docstring).

    ``rows`` must hold the ``sort_by`` metric's rows too; heads without a value of it at
    the last step rank after the others, by head index.
    """
    if not (np.isfinite(k) and k > 0):
        raise UsageError(f"option outlier_k: must be a positive number, got {k!r}")
    if rows.empty:
        return rows.assign(rank=pd.Series(dtype="int64"), robust_z=pd.Series(dtype="float64"),
                           outlier=pd.Series(dtype=bool))  # fmt: skip
    out = rows.reset_index(drop=True)  # copy on write: ``rows`` keeps its columns
    block = key_codes(out, _BLOCK)
    z = np.full(len(out), np.nan)
    # groups: one block's heads at one step and metric, as runs of positions
    bounds, group = key_runs(out, ["metric", "step"], within=block)
    order: np.ndarray | None = None  # rows sorted by the store's keys, one metric: in order
    starts, sizes = bounds, np.diff(np.r_[bounds, len(out)])
    if int(group.max()) + 1 < len(bounds):  # a group in several runs: sort by group
        codes = np.repeat(group, sizes)
        order = np.argsort(codes, kind="stable")
        starts = np.flatnonzero(np.r_[True, np.diff(codes[order]) != 0])
        sizes = np.diff(np.r_[starts, len(order)])
    values = out["value"].to_numpy(np.float64, na_value=np.nan)
    for size in np.unique(sizes):  # every group of one size in one vectorised call
        at = starts[sizes == size][:, None] + np.arange(size)
        at = at if order is None else order[at]
        z[at] = robust_z_rows(values[at])
    out["robust_z"] = z
    out["outlier"] = np.abs(np.nan_to_num(z, nan=0.0)) > k  # mad_outliers' rule on the same z
    # each row's rank: its (block, head)'s at the last step; else after the block's ranked
    head = out["head"].to_numpy(np.int64)
    at, rank_at = _last_step_ranks(out, block, sort_by)
    keys = _block_head(block, head)
    slots = (int(block.max()) + 1) * _head_span(head)
    if slots <= 4 * len(keys):  # a table of every (block, head): a lookup, no hashing
        table = np.full(slots, np.nan)
        table[keys[at]] = rank_at
        rank = table[keys]
    else:  # head indices far apart (not a store this ckptscope wrote)
        rank = pd.Series(rank_at.astype(np.float64), index=keys[at]).reindex(keys).to_numpy()
    largest = np.full(int(block.max()) + 1, -1.0)  # each block's largest rank (-1: none)
    np.fmax.at(largest, block, rank)  # fmax: unranked rows (NaN) do not count
    after = largest[block] + 1
    out["rank"] = np.where(np.isnan(rank), after + head, rank).astype("int64")
    return out
