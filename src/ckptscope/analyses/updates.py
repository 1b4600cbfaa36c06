"""The "update_rates" derivation: update size per training step (the ``update`` figure).

The weights analysis writes ``dist_prev`` and ``rel_dist_prev``: distances between
consecutive *swept* checkpoints. Their curve follows the checkpoint spacing (a sweep of
steps 0, 1, 2, 4, ..., 1000, 2000, ... shows a sawtooth wherever the spacing changes).
This derivation divides each by the number of steps between the two checkpoints (the
task's ``previous_step`` in the ``tasks.meta`` JSON, written by the sweep runner) and
writes ``dist_prev_per_step`` and ``rel_dist_prev_per_step``: the mean distance moved per
optimiser step over that interval. Steps with no previous checkpoint, or none earlier,
get no rate.
"""

from __future__ import annotations

import pandas as pd

from ckptscope.analyses.base import (
    Derivation,
    Derived,
    DerivedScalar,
    Scalar,
    StoreReader,
    register_derivation,
)

#: raw metric -> per-step metric
RATES = {"dist_prev": "dist_prev_per_step", "rel_dist_prev": "rel_dist_prev_per_step"}


def rate_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows of ``frame`` (``step``, ``previous_step``, ``value``, ...) as per-step rates.

    Rows with no previous step, or one not before ``step``, are dropped.
    """
    prev = pd.to_numeric(frame["previous_step"], errors="coerce")
    gap = frame["step"] - prev
    keep = prev.notna() & (gap > 0)
    out = frame[keep].copy()
    out["value"] = out["value"] / gap[keep]
    out["metric"] = out["metric"].map(RATES)
    return out


@register_derivation
class UpdateRates(Derivation):
    """Distances to the previous swept checkpoint divided by the steps between them."""

    name = "update_rates"

    def derive(self, store: StoreReader) -> Derived:
        names = ", ".join(f"'{m}'" for m in RATES)
        frame = store.query(
            "SELECT s.model, s.step, s.component, s.block, s.param, s.metric, s.value, "
            "TRY_CAST(json_extract(t.meta, '$.previous_step') AS BIGINT) AS previous_step "
            "FROM scalars s JOIN tasks t ON s.model = t.model AND s.step = t.step "
            f"AND t.analysis = 'weights' WHERE s.metric IN ({names}) AND s.head IS NULL"
        )
        out = Derived()
        for r in rate_frame(frame).itertuples(index=False):
            block = None if pd.isna(r.block) else int(r.block)
            rec = Scalar(r.component, block, r.param, r.metric, float(r.value))
            out.scalars.append(DerivedScalar(r.model, int(r.step), rec))
        return out
