"""Weight statistics per canonical component (FIGURES.md F7-F12, F14).

Per tensor: L2/Frobenius norm, mean, std, skewness, excess kurtosis, max |w|; the L2
distance from the model's first checkpoint (``dist_init``, ``rel_dist_init`` relative to
the initial norm) and from the previous swept checkpoint (``dist_prev``, ``rel_dist_prev``:
the update size). Streams one tensor at a time; never instantiates the model.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

from ckptscope.analyses.base import (
    Analysis,
    CheckpointContext,
    Record,
    register_analysis,
    scalars_for,
)
from ckptscope.errors import CheckpointError
from ckptscope.stats.moments import l2_distance, l2_norm, moments

log = logging.getLogger(__name__)


@register_analysis
class WeightStats(Analysis):
    """Norms, moments and distances of every parameter tensor."""

    name = "weights"
    requires = frozenset({"initial", "previous"})

    def run(self, ctx: CheckpointContext) -> Iterator[Record]:
        unreadable: set[str] = set()
        for comp in ctx.components():
            w = ctx.read(comp)
            m = moments(w)
            metrics = m.as_metrics()
            if m.nonfinite:
                metrics["nonfinite"] = float(m.nonfinite)
            for which, prefix in (("initial", "init"), ("previous", "prev")):
                ref_ckpt = ctx.initial if which == "initial" else ctx.previous
                if ref_ckpt is None or which in unreadable:
                    continue
                try:
                    ref = w if ref_ckpt is ctx.checkpoint else ctx.read(comp, which)
                except CheckpointError as err:
                    # A corrupt reference costs only the distances to it, not this step.
                    log.warning("%s step %s: no distances to it: %s", ctx.model, ctx.step, err)
                    unreadable.add(which)
                    continue
                dist = l2_distance(w, ref)
                metrics[f"dist_{prefix}"] = dist
                ref_norm = m.norm if ref is w else l2_norm(ref)
                if ref_norm > 0:  # undefined for zero-initialised biases: left out
                    metrics[f"rel_dist_{prefix}"] = dist / ref_norm
            yield from scalars_for(comp, metrics)
