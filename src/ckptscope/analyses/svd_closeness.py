"""The ``svd_closeness`` derivation: SVD token tables compared with the final checkpoint's.

The tables are written by the ``svd_directions`` analysis (``analyses/svd_directions.py``,
whose docstring describes the metrics and the ``param="all"`` averages). Per-head (OV)
rows keep their head in the ``head`` column; averages over heads have ``head`` NULL.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ckptscope.analyses.base import (
    Derivation,
    Derived,
    DerivedScalar,
    Event,
    Scalar,
    StoreReader,
    register_derivation,
)
from ckptscope.linalg import exact_match, set_overlap
from ckptscope.store.guard import sql_literal

#: the ``arrays`` kind of the token tables
KIND = "svd_tokens"

__all__ = ["KIND", "SvdCloseness", "closeness_frame"]


def closeness_frame(tables: pd.DataFrame, finals: dict[str, int] | None = None) -> pd.DataFrame:
    """Closeness rows from token tables.

    ``tables`` has columns model, step, component, block, param, head, values (``(n, k)``
    arrays); the result has model, step, component, block, param, head, metric, value,
    including the ``param="all"`` averages described in the module docstring. ``finals``
    names each model's final checkpoint; a model whose final step has no table is left out
    (without ``finals``, the last stored step stands for the final one).
    """
    rows: list[tuple[Any, ...]] = []
    if "head" not in tables:
        tables = tables.assign(head=None)
    keys = ["model", "component", "block", "param", "head"]
    for (model, comp, block, param, head), grp in tables.groupby(keys, dropna=False, sort=True):
        grp = grp.sort_values("step")
        final_step = (finals or {}).get(model)
        if final_step is not None and int(grp["step"].iloc[-1]) != final_step:
            continue
        final = np.asarray(grp["values"].iloc[-1])
        n = min(min(np.shape(v)[0] for v in grp["values"]), final.shape[0])
        stack = np.stack([np.asarray(v)[:n] for v in grp["values"]])  # (steps, n, k)
        block = None if pd.isna(block) else int(block)
        head = None if pd.isna(head) else int(head)
        for metric, vals in (
            ("svd_exact", exact_match(stack, final[:n])),
            ("svd_overlap", set_overlap(stack, final[:n])),
        ):
            rows += [
                (model, int(s), comp, block, param, head, metric, float(v))
                for s, v in zip(grp["step"], vals, strict=True)
            ]
    columns = ["model", "step", "component", "block", "param", "head", "metric", "value"]
    per = pd.DataFrame(rows, columns=columns)
    if per.empty:
        return per
    avgs = [per]
    heads = per[per["head"].notna()]
    if len(heads):
        by_block = heads.groupby(["model", "step", "component", "block", "metric"], as_index=False)
        avgs.append(by_block["value"].mean().assign(param="all", head=None))
    by_comp = per.groupby(["model", "step", "component", "metric"], as_index=False)["value"].mean()
    avgs.append(by_comp.assign(block=None, param="all", head=None))
    by_model = per.groupby(["model", "step", "metric"], as_index=False)["value"].mean()
    avgs.append(by_model.assign(component="all", block=None, param="all", head=None))
    return pd.concat(avgs, ignore_index=True)[per.columns]


@register_derivation
class SvdCloseness(Derivation):
    """Closeness of each step's SVD token tables to the final checkpoint's (F16)."""

    name = "svd_closeness"

    def derive(self, store: StoreReader) -> Derived:
        """Model by model: one model's tables in memory at a time (a whole Pythia suite's
        are about 400M token ids)."""
        found = store.query(f"SELECT DISTINCT model FROM arrays WHERE kind = '{KIND}'")
        if found.empty:
            return Derived()
        metas = store.query(
            "SELECT model, max(CAST(json_extract(meta, '$.final_step') AS BIGINT)) AS final "
            "FROM tasks WHERE analysis = 'svd_directions' GROUP BY model"
        )
        finals = {
            m: None if pd.isna(f) else int(f) for m, f in zip(metas.model, metas.final, strict=True)
        }
        out = Derived()
        for model in sorted(str(m) for m in found["model"]):
            self._derive_model(store, model, finals, out)
        return out

    @staticmethod
    def _derive_model(
        store: StoreReader, model: str, finals: dict[str, int | None], out: Derived
    ) -> None:
        """One model's closeness rows and missing-final event, appended to ``out``."""
        tables = store.query(
            # token ids (stored as doubles) read as integers: no float copy held beside them
            "SELECT model, step, component, block, param, head, shape, "
            'CAST("values" AS BIGINT[]) AS "values" FROM arrays '
            f"WHERE kind = '{KIND}' AND model = {sql_literal(model)}"
        )
        if tables.empty:
            return
        tables["values"] = [
            np.asarray(v, dtype=np.int64).reshape([int(s) for s in shape])
            for v, shape in zip(tables["values"], tables["shape"], strict=True)
        ]
        frame = closeness_frame(tables, finals)
        final, last = finals.get(model), int(tables["step"].max())
        if final is not None and last != final:
            out.events.append(
                Event(
                    model,
                    final,
                    "missing_final",
                    f"{model}: SVD closeness needs the final checkpoint (step {final}); "
                    "sweep it with --analyses svd_directions",
                )
            )
        for r in frame.itertuples(index=False):
            block = None if r.block is None or pd.isna(r.block) else int(r.block)
            head = None if r.head is None or pd.isna(r.head) else int(r.head)
            rec = Scalar(r.component, block, r.param, r.metric, r.value, head)
            out.scalars.append(DerivedScalar(r.model, int(r.step), rec))
