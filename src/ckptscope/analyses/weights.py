"""Weight statistics per canonical component (figures F7-F12, F14; docs/figures.md).

Per tensor: L2/Frobenius norm, mean, std, skewness, excess kurtosis, max |w|; the L2
distance from the model's first checkpoint (``dist_init``, ``rel_dist_init`` relative to
the initial norm) and from the previous swept checkpoint (``dist_prev``, ``rel_dist_prev``:
the update size). Streams one tensor at a time; never instantiates the model.

Reads, tensor-major (``run_series``): given consecutive checkpoints of one model, each
tensor is walked through them in step order, keeping only what the next distances need
(the initial and the previous checkpoint's copy of that one tensor). So each checkpoint's
file is read once per series, not up to three times per step, and peak memory stays about
four copies of the largest tensor (initial, previous, current, and the next one being read
ahead on a reader thread), never a whole checkpoint. ``run`` on one checkpoint reads its
references from their files (three reads per tensor). Tensors are read in their stored
dtype, stored order and outside the context's cache (``CheckpointContext.read_host``); the
rows are the same either way. On the CPU, a safetensors suite is swept without importing
torch: the tensors stay NumPy arrays for the fused kernels (``stats/fused.py``).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypeAlias

from ckptscope.adapters.base import Adapter, Component
from ckptscope.analyses.base import (
    Analysis,
    CheckpointContext,
    Record,
    register_analysis,
    scalars_for,
)
from ckptscope.errors import CheckpointError
from ckptscope.sources.base import Checkpoint
from ckptscope.sources.host import HostTensor
from ckptscope.stats.moments import moments_and_distances

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)


#: a tensor as read (a HostTensor on the CPU), or the exception its read raised
_Read: TypeAlias = "HostTensor | torch.Tensor | Exception"
#: what identifies a read: (id of the checkpoint, adapter group); same key, same tensor
_Source = tuple[int, int]
_REFS = (("initial", "init"), ("previous", "prev"))


@register_analysis
class WeightStats(Analysis):
    """Norms, moments and distances of every parameter tensor."""

    name = "weights"
    requires = frozenset({"initial", "previous"})
    series = True

    def run(self, ctx: CheckpointContext) -> Iterator[Record]:
        (result,) = self.run_series([ctx])
        if isinstance(result, Exception):
            raise result
        yield from result

    def run_series(self, ctxs: Sequence[CheckpointContext]) -> list[list[Record] | Exception]:
        """Each context's records (or the error that failed it), reading tensor-major."""
        return _Series(list(ctxs)).run()


@dataclass
class _Item:
    """One (component, context) computation and the reads it needs first."""

    comp: Component
    index: int  # into the series' contexts
    reads: list[tuple[_Source, int, str]] = field(default_factory=list)  # source, ctx, which
    drop: list[_Source] = field(default_factory=list)  # no longer needed after it


class _Series:
    """The tensor-major walk over one series of contexts (see the module docstring)."""

    def __init__(self, ctxs: list[CheckpointContext]) -> None:
        self.ctxs = ctxs
        self.records: list[list[Record]] = [[] for _ in ctxs]
        self.failed: dict[int, Exception] = {}
        self.unreadable: list[set[str]] = [set() for _ in ctxs]
        self.comps: list[set[Component]] = []
        for i, ctx in enumerate(ctxs):
            try:
                self.comps.append(set(ctx.components()))
            except Exception as err:  # this checkpoint fails; the others go on
                self.failed[i] = err
                self.comps.append(set())
        groups: list[Adapter] = []  # contexts with equal adapters read a tensor alike
        self.group = [_adapter_group(groups, ctx.adapter) for ctx in ctxs]

    def source(self, i: int, ckpt: Checkpoint) -> _Source:
        return (id(ckpt), self.group[i])

    def uses(self, i: int) -> dict[str, _Source]:
        """The sources context ``i`` reads: current, and its references that differ."""
        ctx = self.ctxs[i]
        out = {"current": self.source(i, ctx.checkpoint)}
        for which, _ in _REFS:
            ckpt = getattr(ctx, which)
            if ckpt is not None and ckpt is not ctx.checkpoint:
                out[which] = self.source(i, ckpt)
        return out

    def plan(self) -> list[_Item]:
        """Every (component, context) in order, with the reads not already held."""
        last: dict[_Source, int] = {}
        for i in range(len(self.ctxs)):
            for src in self.uses(i).values():
                last[src] = i
        items: list[_Item] = []
        for comp in sorted(set().union(*self.comps)):
            held: set[_Source] = set()
            for i in range(len(self.ctxs)):
                if comp not in self.comps[i]:
                    continue
                item = _Item(comp, i)
                for which, src in self.uses(i).items():
                    if src not in held:
                        held.add(src)
                        item.reads.append((src, i, which))
                item.drop = [s for s in held if last[s] <= i]
                held -= set(item.drop)
                items.append(item)
            if held:  # sources of contexts that lack this component: drop them here
                items[-1].drop += list(held)
        return items

    def read(self, item: _Item) -> dict[_Source, _Read]:
        """The tensors ``item`` needs that are not held yet (on the reader thread).

        Stored dtype and order, uncached: moments upcast chunk by chunk to float64
        themselves, and no moment or distance depends on the order (the same for every
        checkpoint of a model). Moved to ``options.device`` here, off the CPU, so that the
        copy overlaps the statistics.
        """
        out: dict[_Source, _Read] = {}
        for src, i, which in item.reads:
            ctx = self.ctxs[i]
            try:
                host = ctx.read_host(item.comp, which)
                device = ctx.options.device
                out[src] = host if device == "cpu" else host.to_torch().to(device)
            except Exception as err:  # whose failure it is depends on who uses it
                out[src] = err
        return out

    def run(self) -> list[list[Record] | Exception]:
        items = self.plan()
        held: dict[_Source, _Read] = {}
        # One reader thread reads the next item's tensors while this one is computed:
        # reading (a page-cache or disk copy) and the float64 passes overlap.
        with ThreadPoolExecutor(1, thread_name_prefix="weights-read") as reader:
            ahead: Future[dict[_Source, _Read]] | None = None
            if items:
                ahead = reader.submit(self.read, items[0])
            for k, item in enumerate(items):
                assert ahead is not None
                held.update(ahead.result())
                ahead = reader.submit(self.read, items[k + 1]) if k + 1 < len(items) else None
                if item.index not in self.failed:
                    try:
                        self.compute(item, held)
                    except Exception as err:
                        self.failed[item.index] = err
                for src in item.drop:  # before the next read completes
                    held.pop(src, None)
        return [self.failed.get(i, recs) for i, recs in enumerate(self.records)]

    def compute(self, item: _Item, held: dict[_Source, _Read]) -> None:
        """Moments and distances of one component of one context."""
        i, ctx = item.index, self.ctxs[item.index]
        uses = self.uses(i)
        w = held[uses["current"]]
        if isinstance(w, Exception):
            raise w
        refs: dict[str, _Read] = {which: held[src] for which, src in uses.items()}
        for ref in refs.values():
            if isinstance(ref, Exception) and not isinstance(ref, CheckpointError):
                raise ref  # not a corrupt reference: as if this checkpoint's own read failed
        usable = _usable_refs(ctx, refs, self.unreadable[i])
        distinct = list({id(t): t for t in usable.values()}.values())  # previous == initial
        m, pairs = moments_and_distances(w, tuple(distinct))
        by_id = {id(t): pair for t, pair in zip(distinct, pairs, strict=True)}
        metrics = m.as_metrics()
        if m.nonfinite:
            metrics["nonfinite"] = float(m.nonfinite)
        for which, prefix in _REFS:
            ref_ckpt = getattr(ctx, which)
            if ref_ckpt is ctx.checkpoint:
                dist, ref_norm = 0.0, m.norm
            elif which in usable:
                dist, ref_norm = by_id[id(usable[which])]
            else:
                continue
            metrics[f"dist_{prefix}"] = dist
            if ref_norm > 0:  # undefined for zero-initialised biases: left out
                metrics[f"rel_dist_{prefix}"] = dist / ref_norm
        self.records[i].extend(scalars_for(item.comp, metrics))


def _adapter_group(groups: list[Adapter], adapter: Adapter) -> int:
    """Index of the first adapter in ``groups`` equal to ``adapter`` (appended if new)."""
    for g, other in enumerate(groups):
        if other is adapter or (type(other) is type(adapter) and other.config == adapter.config):
            return g
    groups.append(adapter)
    return len(groups) - 1


def _usable_refs(
    ctx: CheckpointContext, refs: dict[str, _Read], unreadable: set[str]
) -> dict[str, HostTensor | torch.Tensor]:
    """The reference tensors to measure distances to (not the checkpoint itself).

    A reference that could not be read costs only the distances to it, not this step:
    it is named once and left out for the rest of this checkpoint's tensors.
    """
    out: dict[str, HostTensor | torch.Tensor] = {}
    for which, _ in _REFS:
        ref_ckpt = getattr(ctx, which)
        if ref_ckpt is None or ref_ckpt is ctx.checkpoint or which in unreadable:
            continue
        ref = refs[which]
        if isinstance(ref, Exception):
            log.warning("%s step %s: no distances to it: %s", ctx.model, ctx.step, ref)
            unreadable.add(which)
            continue
        out[which] = ref
    return out
