"""Store rows as the checks read them: per model, per block, a trajectory over steps."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np
import pandas as pd

from ckptscope.names import model_order

Curve = tuple[np.ndarray, np.ndarray]  # (steps int64, values float64), sorted by step


class ScalarReader(Protocol):
    """What the findings read from a store (``Store`` and the reference datasets have it)."""

    def scalars(self, **where: Any) -> pd.DataFrame: ...

    def query(self, sql: str) -> pd.DataFrame: ...


#: the columns the checks read of a scalar row
COLUMNS = ["suite", "model", "step", "component", "block", "param", "metric", "value"]

Index = dict[str, dict[tuple[str, str], dict[int | None, Curve]]]


class FindingData:
    """One store's scalar rows, restricted to chosen models.

    ``prefetch`` names metrics read together in one scan up front (what the checks read);
    any other metric is read alone when first asked for. Rows are whole tensors (no
    per-head slices: they are not the post's matrices) with a finite value (a failed fit is
    no point).
    """

    def __init__(
        self,
        store: ScalarReader,
        models: Sequence[str] | None = None,
        missing: str | None = None,
        prefetch: Sequence[str] = (),
    ) -> None:
        self.store = store
        self.chosen = list(models) if models else None
        suites = store.query("select count(distinct suite) as n from scalars")
        #: several suites in one store: models are labelled ``suite/model`` everywhere
        self.several_suites = bool(len(suites)) and int(suites["n"].iloc[0]) > 1
        #: what a ``no_data`` verdict says is missing where no sweep can fill it (a dataset)
        self.missing = missing
        self._frames: dict[str, pd.DataFrame] = {}
        self._models: dict[str, list[str]] = {}
        self._index: dict[str, Index] = {}
        if prefetch:
            self._read(list(dict.fromkeys(prefetch)))

    def all_models(self) -> list[str]:
        """Every model with scalar rows (labelled as in :meth:`frame`), smallest first."""
        df = self.store.query("select distinct suite, model from scalars")
        if self.several_suites:
            names = [f"{s}/{m}" for s, m in zip(df["suite"], df["model"], strict=True)]
        else:
            names = [str(m) for m in df["model"]]
        if self.chosen is not None:
            names = [n for n in names if n in self.chosen]
        return model_order(names)

    def frame(self, metric: str) -> pd.DataFrame:
        """Every row of one metric (model label: ``suite/model`` when suites differ): the
        columns of ``COLUMNS`` only, in no particular order; string columns may be
        categorical, keeping categories of other metrics' rows."""
        if metric not in self._frames:
            self._read([metric])
        return self._frames[metric]

    def _read(self, metrics: list[str]) -> None:
        """Read ``metrics``' rows in one query into :attr:`_frames` (through Arrow, strings
        as categories, where the store has it: pandas strings cost more than the scan)."""
        arrow = getattr(self.store, "arrow", None)
        if arrow is not None:
            table = arrow("scalars", columns=COLUMNS, metric=metrics, head=None)
            df = table.to_pandas(strings_to_categorical=True)
        else:  # a reader with the protocol's calls only
            df = self.store.scalars(metric=metrics, head=None)
        df = df[np.isfinite(df["value"].to_numpy(np.float64, na_value=np.nan))]
        if self.several_suites:
            df = df.assign(model=df["suite"].astype(str) + "/" + df["model"].astype(str))
        if self.chosen is not None:
            df = df[df["model"].isin(self.chosen)]
        for m in metrics:
            self._frames[m] = df[(df["metric"] == m).to_numpy(bool)].reset_index(drop=True)

    def models(self, metric: str) -> list[str]:
        """Models with rows of ``metric``, smallest first (by name, then size)."""
        if metric not in self._models:
            names = [str(m) for m in self.frame(metric)["model"].unique()]
            self._models[metric] = model_order(names)
        return list(self._models[metric])

    def curves(
        self, model: str, component: str, param: str, metric: str
    ) -> dict[int | None, Curve]:
        """Block (None: no block) -> its trajectory, for one model's component and param.

        A step's rows are averaged (a tensor swept twice); blocks come in order, None first.
        """
        if metric not in self._index:
            self._index[metric] = _trajectories(self.frame(metric))
        found = self._index[metric].get(model, {}).get((component, param), {})
        return {b: (steps.copy(), values.copy()) for b, (steps, values) in found.items()}


def _codes(column: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Integer codes of a string column (-1: missing) and the strings they stand for."""
    cat = pd.Categorical(column.astype(object) if column.dtype != "category" else column)
    return np.asarray(cat.codes, dtype=np.int64), np.asarray(cat.categories.astype(str))


def _trajectories(df: pd.DataFrame) -> Index:
    """Every trajectory of one metric's rows, grouped in one pass (the checks ask for
    thousands): model -> (component, param) -> block (None first, then in order) -> curve."""
    out: Index = {}
    if df.empty:
        return out
    (model, models), (comp, comps), (param, params) = (
        _codes(df[c]) for c in ("model", "component", "param")
    )
    block = df["block"].astype("Float64").fillna(-1).to_numpy(np.int64)
    step = df["step"].to_numpy(np.int64)
    value = df["value"].to_numpy(np.float64)
    keep = (model >= 0) & (comp >= 0) & (param >= 0)  # a row without a param matches none
    order = np.lexsort((step, block, param, comp, model))
    order = order[keep[order]]
    if not order.size:
        return out
    key = np.stack([model, comp, param, block], axis=1)[order]
    step, value = step[order], value[order]
    # a new point wherever the key or the step changes; a new curve wherever the key does
    new_key = np.r_[True, (key[1:] != key[:-1]).any(axis=1)]
    points = np.flatnonzero(new_key | np.r_[True, step[1:] != step[:-1]])
    counts = np.diff(np.r_[points, len(step)])
    means = np.add.reduceat(value, points) / counts
    starts = np.flatnonzero(new_key[points])
    for a, b in zip(starts, np.r_[starts[1:], len(points)], strict=True):
        m, c, p, blk = key[points[a]]
        curves = out.setdefault(str(models[m]), {}).setdefault((str(comps[c]), str(params[p])), {})
        curves[None if blk == -1 else int(blk)] = (step[points[a:b]], means[a:b])
    return out
