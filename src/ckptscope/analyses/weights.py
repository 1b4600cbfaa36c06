"""Weight statistics per canonical component (FIGURES.md F7-F12, F14).

Per tensor: L2/Frobenius norm, mean, std, skewness, excess kurtosis, max |w|; the L2
distance from the model's first checkpoint (``dist_init``, ``rel_dist_init`` relative to
the initial norm) and from the previous swept checkpoint (``dist_prev``, ``rel_dist_prev``:
the update size). Streams one tensor at a time; never instantiates the model.

Each parameter is read once per checkpoint involved (current, initial, previous; the
initial checkpoint once when it is also the previous one), in its stored dtype and
outside the context's cache: peak memory is three copies of the largest tensor.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

import torch

from ckptscope.adapters.base import Component
from ckptscope.analyses.base import (
    Analysis,
    CheckpointContext,
    Record,
    register_analysis,
    scalars_for,
)
from ckptscope.errors import CheckpointError
from ckptscope.stats.moments import l2_distance_and_norm, moments

log = logging.getLogger(__name__)


@register_analysis
class WeightStats(Analysis):
    """Norms, moments and distances of every parameter tensor."""

    name = "weights"
    requires = frozenset({"initial", "previous"})

    def run(self, ctx: CheckpointContext) -> Iterator[Record]:
        unreadable: set[str] = set()
        for comp in ctx.components():
            # Stored dtype, uncached: moments upcast chunk by chunk to float64 themselves,
            # and each tensor is used only here, so it is freed right after.
            w = ctx.read(comp, dtype=None, cache=False)
            m = moments(w)
            metrics = m.as_metrics()
            if m.nonfinite:
                metrics["nonfinite"] = float(m.nonfinite)
            metrics.update(self._distances(ctx, comp, w, m.norm, unreadable))
            del w  # before the next read
            yield from scalars_for(comp, metrics)

    @staticmethod
    def _distances(
        ctx: CheckpointContext, comp: Component, w: torch.Tensor, norm: float, unreadable: set[str]
    ) -> dict[str, float]:
        """Distances of ``w`` to the initial and previous checkpoints' same tensor."""
        metrics: dict[str, float] = {}
        done: dict[int, tuple[float, float]] = {}  # reference step -> (dist, ref norm)
        for which, prefix in (("initial", "init"), ("previous", "prev")):
            ref_ckpt = ctx.initial if which == "initial" else ctx.previous
            if ref_ckpt is None or which in unreadable:
                continue
            if ref_ckpt is ctx.checkpoint:
                dist, ref_norm = 0.0, norm
            elif ref_ckpt.step in done:  # previous == initial (the second step): read once
                dist, ref_norm = done[ref_ckpt.step]
            else:
                try:
                    ref = ctx.read(comp, which, dtype=None, cache=False)
                except CheckpointError as err:
                    # A corrupt reference costs only the distances to it, not this step.
                    log.warning("%s step %s: no distances to it: %s", ctx.model, ctx.step, err)
                    unreadable.add(which)
                    continue
                dist, ref_norm = done[ref_ckpt.step] = l2_distance_and_norm(w, ref)
                del ref
            metrics[f"dist_{prefix}"] = dist
            if ref_norm > 0:  # undefined for zero-initialised biases: left out
                metrics[f"rel_dist_{prefix}"] = dist / ref_norm
        return metrics
