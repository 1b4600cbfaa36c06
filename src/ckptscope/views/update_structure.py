"""Update structure: how the per-step update sizes of different weights move together.

Input: the ``rel_dist_prev_per_step`` rows of the ``update_rates`` derivation
(:mod:`ckptscope.analyses.updates`): each matrix's relative distance from the previous
swept checkpoint, divided by the steps between the two. Each (component, block) gives a
series over checkpoints; for a window of consecutive checkpoints this module gives the
Pearson correlation matrix between those series, as a tidy table (one row per window and
pair). Windows: the whole run, its early and late halves (by checkpoint count: the first
``ceil(n / 2)`` checkpoints, then the rest), and optionally consecutive windows of
``window`` checkpoints.

By default the correlation is of ``log`` update sizes: they span orders of magnitude over a
run, and on a linear scale the few largest (earliest) updates would decide every
coefficient. A checkpoint where any series has no (or no positive) value is left out of
that window, so all coefficients of a window use the same checkpoints.

Every matrix shares the learning-rate schedule, so raw update sizes rise and fall together
and correlate near 1 almost everywhere. With ``detrend`` each checkpoint's mean over the
series (on the chosen scale) is subtracted first: what is left is each matrix's share of
the step's update, and its correlations show which matrices speed up or slow down
together. (Removing the mean makes the series sum to zero at each checkpoint, which pulls
the average correlation slightly below zero.)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from ckptscope.errors import UsageError
from ckptscope.views.components import COMPONENTS, RUN

METRIC = "rel_dist_prev_per_step"
#: fewer checkpoints than this in a window: no correlations for it
MIN_POINTS = 3
COLUMNS = ["suite", "model", "window", "start_step", "end_step", "n_points", "row_component",
           "row_block", "col_component", "col_block", "r"]  # fmt: skip


def update_rows(store: Any, models: Sequence[str] | None = None) -> pd.DataFrame:
    """The whole-matrix update-size rows (``rel_dist_prev_per_step``) of the chosen models."""
    where: dict[str, Any] = {"metric": METRIC, "param": "weight", "head": None,
                             "component": list(COMPONENTS)}  # fmt: skip
    if models:
        where["model"] = list(models)
    return store.scalars(**where)


def pearson(x: np.ndarray) -> np.ndarray:
    """Pearson correlations between the columns of ``x`` (n, m), in float64.

    NaN for a column with no spread (numpy's ``corrcoef`` would warn and give NaN too).
    """
    x = np.asarray(x, dtype=np.float64)
    centred = x - x.mean(axis=0)
    norms = np.sqrt((centred**2).sum(axis=0))
    with np.errstate(invalid="ignore", divide="ignore"):
        r = (centred.T @ centred) / np.outer(norms, norms)
    r[~np.isfinite(r)] = np.nan
    return np.clip(r, -1.0, 1.0)


def windows(steps: Sequence[int], window: int | None = None) -> list[tuple[str, list[int]]]:
    """(label, steps) of each window: whole run, early and late halves, then ``window``-sized
    runs of consecutive checkpoints (the last one may be shorter)."""
    steps = sorted(int(s) for s in steps)
    half = math.ceil(len(steps) / 2)
    out = [("whole run", steps), ("early half", steps[:half]), ("late half", steps[half:])]
    if window is not None:
        for i in range(0, len(steps), window):
            part = steps[i : i + window]
            out.append((f"steps {part[0]}-{part[-1]}", part))
    return out


def _series_order(columns: Sequence[tuple[str, int | None]]) -> list[tuple[str, int | None]]:
    """Series in drawing order: by component (:data:`COMPONENTS`), then block."""
    rank = {c: i for i, c in enumerate(COMPONENTS)}
    return sorted(columns, key=lambda cb: (rank.get(cb[0], len(rank)), cb[0],
                                           -1 if cb[1] is None else cb[1]))  # fmt: skip


def update_correlations(rows: pd.DataFrame, *, window: int | None = None, log: bool = True,
                        detrend: bool = False) -> pd.DataFrame:  # fmt: skip
    """Correlations between update-size series per run and window (module docstring).

    ``rows``: scalar rows of one metric (suite, model, step, component, block, value); each
    (suite, model) is its own run (two suites may share a model name). Returns
    :data:`COLUMNS`, one row per run, window and ordered pair (the diagonal included).
    """
    if window is not None and (isinstance(window, bool) or not isinstance(window, int)
                               or window < MIN_POINTS):  # fmt: skip
        raise UsageError(f"option window: a whole number of checkpoints >= {MIN_POINTS}, "
                         f"got {window!r}")  # fmt: skip
    out: list[tuple[Any, ...]] = []
    for (suite, model), part in rows.groupby([rows[c].astype(str) for c in RUN], sort=True):
        # block -1 stands for none (embed, unembed) while pivoting
        keyed = part.assign(bkey=part["block"].fillna(-1).astype("int64"))
        wide = keyed.pivot_table(index="step", columns=["component", "bkey"], values="value",
                                 aggfunc="first")  # fmt: skip
        series = _series_order([(c, None if b < 0 else int(b)) for c, b in wide.columns])
        wide = wide[[(c, -1 if b is None else b) for c, b in series]]
        values = wide.to_numpy(np.float64)
        if log:
            values = np.log(np.where(values > 0, values, np.nan))
        steps = wide.index.to_numpy(np.int64)
        for label, picked in windows(steps, window):
            at = values[np.isin(steps, picked)]
            used = steps[np.isin(steps, picked)][np.isfinite(at).all(axis=1)]
            at = at[np.isfinite(at).all(axis=1)]  # (checkpoints, series)
            if detrend:
                at = at - at.mean(axis=1, keepdims=True)  # the step's shared factor
            if len(at) < MIN_POINTS:
                continue
            r = pearson(at)
            for i, (ci, bi) in enumerate(series):
                for j, (cj, bj) in enumerate(series):
                    out.append((suite, model, label, int(used[0]), int(used[-1]), len(at), ci, bi, cj,
                                bj, float(r[i, j])))  # fmt: skip
    df = pd.DataFrame(out, columns=COLUMNS)
    return df.astype({"row_block": "Int64", "col_block": "Int64"})
