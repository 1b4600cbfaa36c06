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


class FindingData:
    """One store's scalar rows, read once per metric, restricted to chosen models."""

    def __init__(
        self, store: ScalarReader, models: Sequence[str] | None = None, missing: str | None = None
    ) -> None:
        self.store = store
        self.chosen = list(models) if models else None
        suites = store.query("select count(distinct suite) as n from scalars")
        #: several suites in one store: models are labelled ``suite/model`` everywhere
        self.several_suites = bool(len(suites)) and int(suites["n"].iloc[0]) > 1
        #: what a ``no_data`` verdict says is missing where no sweep can fill it (a dataset)
        self.missing = missing
        self._frames: dict[str, pd.DataFrame] = {}

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
        """Every row of one metric (model label: ``suite/model`` when suites differ)."""
        if metric not in self._frames:
            # whole tensors only: per-head slices are not the post's matrices
            df = self.store.scalars(metric=metric, head=None)
            df = df[np.isfinite(df["value"].astype(np.float64))]  # a failed fit: no point
            if self.several_suites:
                df = df.assign(model=df["suite"].astype(str) + "/" + df["model"].astype(str))
            if self.chosen is not None:
                df = df[df["model"].isin(self.chosen)]
            self._frames[metric] = df.reset_index(drop=True)
        return self._frames[metric]

    def models(self, metric: str) -> list[str]:
        """Models with rows of ``metric``, smallest first (by name, then size)."""
        names = sorted({str(m) for m in self.frame(metric)["model"]})
        return model_order(names)

    def curves(
        self, model: str, component: str, param: str, metric: str
    ) -> dict[int | None, Curve]:
        """Block (None: no block) -> its trajectory, for one model's component and param."""
        df = self.frame(metric)
        df = df[(df["model"] == model) & (df["component"] == component) & (df["param"] == param)]
        out: dict[int | None, Curve] = {}
        for block, rows in df.groupby(df["block"].fillna(-1), sort=True):
            rows = rows.groupby("step", as_index=False)["value"].mean().sort_values("step")
            key = None if block == -1 else int(block)
            out[key] = (rows["step"].to_numpy(np.int64), rows["value"].to_numpy(np.float64))
        return out
