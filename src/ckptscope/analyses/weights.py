"""Weight statistics per canonical component (figures F7-F12, F14; docs/figures.md).

Per tensor: L2/Frobenius norm, mean, std, skewness, excess kurtosis, max |w|; the L2
distance from the model's first checkpoint (``dist_init``, ``rel_dist_init`` relative to
the initial norm) and from the previous swept checkpoint (``dist_prev``, ``rel_dist_prev``:
the update size). Streams one tensor at a time; never instantiates the model.

Each parameter is read once per checkpoint involved (current, initial, previous; the
initial checkpoint once when it is also the previous one), in its stored dtype and
outside the context's cache, one component ahead on a reader thread: peak memory is
about three copies of the largest tensor plus three of the next one.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

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


#: a reference tensor, or why it could not be read
_Ref = torch.Tensor | CheckpointError


@register_analysis
class WeightStats(Analysis):
    """Norms, moments and distances of every parameter tensor."""

    name = "weights"
    requires = frozenset({"initial", "previous"})

    def run(self, ctx: CheckpointContext) -> Iterator[Record]:
        unreadable: set[str] = set()
        comps = ctx.components()
        # One reader thread reads the next component's tensors while this one is computed:
        # reading (a page-cache or disk copy) and the float64 passes overlap. All reads
        # happen on that thread; ``cache=False`` leaves the context's cache untouched.
        with ThreadPoolExecutor(1, thread_name_prefix="weights-read") as reader:
            ahead = [reader.submit(_read, ctx, c) for c in comps[:1]]
            for i, comp in enumerate(comps):
                w, refs = ahead.pop().result()
                if i + 1 < len(comps):
                    ahead.append(reader.submit(_read, ctx, comps[i + 1]))
                m = moments(w)
                metrics = m.as_metrics()
                if m.nonfinite:
                    metrics["nonfinite"] = float(m.nonfinite)
                metrics.update(_distances(ctx, w, m.norm, refs, unreadable))
                del w, refs  # before the next read completes
                yield from scalars_for(comp, metrics)


def _read(ctx: CheckpointContext, comp: Component) -> tuple[torch.Tensor, dict[str, _Ref]]:
    """``comp`` of the current checkpoint and of each distinct reference checkpoint.

    Stored dtype, uncached: moments upcast chunk by chunk to float64 themselves, and each
    tensor is used only here, so it is freed right after. Moved to ``options.device`` here,
    on the reader thread, so that the copy overlaps the previous component's statistics.
    """
    device = ctx.options.device
    w = ctx.read(comp, dtype=None, cache=False).to(device)
    refs: dict[str, _Ref] = {}
    steps: dict[int, _Ref] = {}
    for which, ckpt in (("initial", ctx.initial), ("previous", ctx.previous)):
        if ckpt is None or ckpt is ctx.checkpoint:
            continue
        if ckpt.step not in steps:  # previous == initial (the second step): read once
            try:
                steps[ckpt.step] = ctx.read(comp, which, dtype=None, cache=False).to(device)
            except CheckpointError as err:
                steps[ckpt.step] = err
        refs[which] = steps[ckpt.step]
    return w, refs


def _distances(
    ctx: CheckpointContext,
    w: torch.Tensor,
    norm: float,
    refs: dict[str, _Ref],
    unreadable: set[str],
) -> dict[str, float]:
    """Distances of ``w`` to the initial and previous checkpoints' same tensor."""
    metrics: dict[str, float] = {}
    done: dict[int, tuple[float, float]] = {}  # id of the reference -> (dist, ref norm)
    for which, prefix in (("initial", "init"), ("previous", "prev")):
        ref_ckpt = ctx.initial if which == "initial" else ctx.previous
        if ref_ckpt is None or which in unreadable:
            continue
        if ref_ckpt is ctx.checkpoint:
            dist, ref_norm = 0.0, norm
        else:
            ref = refs[which]
            if isinstance(ref, CheckpointError):
                # A corrupt reference costs only the distances to it, not this step.
                log.warning("%s step %s: no distances to it: %s", ctx.model, ctx.step, ref)
                unreadable.add(which)
                continue
            if id(ref) not in done:
                done[id(ref)] = l2_distance_and_norm(w, ref)
            dist, ref_norm = done[id(ref)]
        metrics[f"dist_{prefix}"] = dist
        if ref_norm > 0:  # undefined for zero-initialised biases: left out
            metrics[f"rel_dist_{prefix}"] = dist / ref_norm
    return metrics
