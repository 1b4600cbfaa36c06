"""Singular-value spectra of every weight matrix, and the ESD metrics derived from them (F15).

Records per checkpoint (``kind="singular_values"``: every singular value, descending;
for each whole weight matrix, not heads or circuits, also ``kind="singular_values_log"``:
its positive values at the log-spaced ranks a log-log panel shows, about a fifth of a
large spectrum, which F15 reads; see :mod:`ckptscope.views.spectra`):

========================  ==========  ============  ==============================================
component                 block       param         matrix
========================  ==========  ============  ==============================================
embed, unembed            None        ``weight``    ``[vocab, d_model]``, never skipped for size
qkv, q, k, v, attn_out,   0..L-1      ``weight``    the canonical weight as stored
mlp_in, mlp_gate, mlp_out
q, k, v                   0..L-1      ``weight``    head ``h``'s ``[d_head, d_model]`` slice (head h)
ov                        0..L-1      ``circuit``   ``W_O[:, h] @ W_V[h]`` ``[d_model, d_model]`` (head h)
qk                        0..L-1      ``circuit``   ``W_Q[h]ᵀ @ W_K[h]`` ``[d_model, d_model]`` (head h)
========================  ==========  ============  ==============================================

Per-head rows carry the head in the ``head`` column (NULL for a whole tensor), so a head
slice is ``param='weight' AND head=h`` and the whole stored matrix ``param='weight' AND head
IS NULL``. The OV and QK circuits are products of two weights, not a stored tensor: their
``param`` is ``circuit``.

The per-head slices come from ``Adapter.heads`` (the architecture's QKV layout; with
grouped-query attention the heads of one K/V group repeat its K and V spectra). The OV and
QK circuits have rank <= d_head, so only their top ``d_head`` values exist and are stored,
computed from the factors without forming the ``d x d`` product (``product_singular_values``).
Each matrix also gets the Scalars of :func:`ckptscope.linalg.spectral_metrics` under the same
(component, block, param): ``alpha alpha_ks alpha_xmin alpha_tail alpha_weighted
spectral_norm log_norm stable_rank effective_rank``, and for stored weights and head slices
(not the OV/QK products) ``mp_edge mp_outliers``.

A matrix holding NaN or Inf (an OV/QK circuit: either factor) has no spectrum; it gets the
single Scalar ``n_nonfinite`` (how many such values) instead, a warning is logged, and every
other matrix of the checkpoint is analysed as usual.

Options (``SweepOptions.extra["spectra"]``, a dict of :class:`SpectraOptions` fields).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ckptscope.adapters.base import MATRIX_COMPONENTS, Component, HeadWeights
from ckptscope.analyses.base import (
    Analysis,
    Array,
    CheckpointContext,
    Record,
    Scalar,
    register_analysis,
)
from ckptscope.analyses.options import require_bool, require_choice
from ckptscope.linalg import (
    METHODS,
    SOLVERS,
    default_method,
    default_solver,
    nonfinite_counts,
    product_singular_values,
    singular_values_batched,
    singular_values_stacks,
    spectral_metrics,
)
from ckptscope.views.spectra import LOG_KIND, log_meta, log_spectrum

log = logging.getLogger(__name__)

KIND = "singular_values"
#: Scalar metric of a matrix left out for holding NaN/Inf (its count of such values)
NONFINITE = "n_nonfinite"


@dataclass(frozen=True)
class SpectraOptions:
    """How the ``spectra`` analysis computes (``--set spectra_method=gram32``)."""

    #: ``gram64`` / ``gram32`` / ``svd`` (linalg/spectra.py); None: by device
    spectra_method: str | None = None
    #: Gram eigenvalue solver, ``lapack`` / ``batched`` (linalg/spectra.py); None: by device
    spectra_solver: str | None = None
    #: per-head Q, K, V slices and the OV and QK circuits
    spectra_heads: bool = True

    def __post_init__(self) -> None:
        require_choice("spectra_method", self.spectra_method, METHODS)
        require_choice("spectra_solver", self.spectra_solver, SOLVERS)
        require_bool("spectra_heads", self.spectra_heads)


def _records(
    where: Component,
    s: np.ndarray,
    meta: dict[str, Any],
    shape: tuple[int, int] | None = None,
    element_std: float | None = None,
    device: str | None = None,
    head: int | None = None,
) -> Iterator[Record]:
    yield Array(
        where.component,
        where.block,
        where.param,
        KIND,
        s,
        meta=json.dumps({**meta, "shape": list(shape) if shape else None}, sort_keys=True),
        head=head,
    )
    if head is None and where.param == "weight":  # what F15 draws: whole weight matrices
        values, positive = log_spectrum(s)
        yield Array(where.component, where.block, where.param, LOG_KIND, values,
                    meta=log_meta(positive))  # fmt: skip
    for metric, value in spectral_metrics(s, shape, element_std, device).items():
        yield Scalar(where.component, where.block, where.param, metric, float(value), head)


def _element_std(mats: torch.Tensor) -> list[float]:
    """Std of the elements of each matrix of ``(b, m, n)``, in float64 (sums of 1e7 terms)."""
    return mats.reshape(mats.shape[0], -1).to(torch.float64).std(dim=1).tolist()


def skipped_nonfinite(
    ctx: CheckpointContext, where: Component, count: int, head: int | None = None
) -> Scalar:
    """The record of a matrix left out for holding NaN/Inf: its ``n_nonfinite`` count."""
    log.warning(
        "%s step %s: %s%s holds %d NaN/Inf values; skipped",
        ctx.model,
        ctx.step,
        where.label(),
        "" if head is None else f" head {head}",
        count,
    )
    return Scalar(where.component, where.block, where.param, NONFINITE, float(count), head)


def weight_spectra(ctx: CheckpointContext, opts: SpectraOptions) -> Iterator[Record]:
    """Records for every stored 2-D weight matrix; same-component blocks in one batched call.

    On CUDA every eigenvalue problem of the checkpoint is solved together (see
    :func:`ckptscope.linalg.singular_values_stacks`). A matrix holding NaN/Inf gets only a
    ``n_nonfinite`` Scalar; the others are unaffected.
    """
    method = opts.spectra_method or default_method(ctx.options.device)
    groups: dict[tuple[str, tuple[int, ...]], list[Component]] = {}
    for comp in ctx.components():
        if comp.component in MATRIX_COMPONENTS and comp.param == "weight":
            shape = tuple(ctx.read(comp).shape)
            if len(shape) == 2:
                groups.setdefault((comp.component, shape), []).append(comp)
    stds: list[list[float]] = []
    bad: list[list[int]] = []  # per group: non-finite count of each matrix

    def stacks() -> Iterator[torch.Tensor]:
        for comps in groups.values():  # one (blocks, m, n) stack in memory at a time
            mats = torch.stack([ctx.read(c) for c in comps]).to(ctx.options.device)
            counts = nonfinite_counts(mats)
            bad.append(counts.tolist())
            mats = mats[(counts == 0).to(mats.device)] if bool(counts.any()) else mats
            stds.append(_element_std(mats))  # on the device: 1.4e9 float64 elements at 1.4b
            yield mats

    svals = singular_values_stacks(stacks(), method, ctx.options.device, solver=opts.spectra_solver)
    meta = _meta(method, opts, ctx.options.device)
    for ((_, shape), comps), s_group, std_group, counts in zip(
        groups.items(), svals, stds, bad, strict=True
    ):
        good = iter(zip(s_group.numpy(), std_group, strict=True))
        for comp, count in zip(comps, counts, strict=True):
            if count:
                yield skipped_nonfinite(ctx, comp, count)
                continue
            s, std = next(good)
            yield from _records(comp, s, meta, (shape[0], shape[1]), std, ctx.options.device)


def stacked_heads(ctx: CheckpointContext) -> HeadWeights | None:
    """Every block's heads stacked: tensors ``(L, H, ...)``; None if the adapter cannot split."""
    per_block = []
    for block in range(ctx.adapter.n_layers):
        try:
            per_block.append(ctx.adapter.heads(ctx.read, block))
        except NotImplementedError:
            log.info("%s: no per-head split for %s; skipping heads", ctx.model, ctx.adapter.name)
            return None
    return HeadWeights(
        q=torch.stack([h.q for h in per_block]),  # (L, H, d_head, d_model)
        k=torch.stack([h.k for h in per_block]),
        v=torch.stack([h.v for h in per_block]),
        o=torch.stack([h.o for h in per_block]),  # (L, H, d_model, d_head)
    )


def _split_finite(
    ctx: CheckpointContext,
    name: str,
    counts: torch.Tensor,
    where: Callable[[str, int], tuple[Component, int]],
) -> tuple[list[Record], list[int]]:
    """The skip records of a stack's matrices that hold NaN/Inf (``counts`` per matrix),
    and the indices of the others."""
    skipped = []
    for i in counts.nonzero().flatten().tolist():
        comp, head = where(name, i)
        skipped.append(skipped_nonfinite(ctx, comp, int(counts[i]), head))
    return skipped, (counts == 0).nonzero().flatten().tolist()


def _meta(method: str, opts: SpectraOptions, device: str) -> dict[str, Any]:
    """What a spectrum's meta records: method, device and, for Gram methods, the solver."""
    meta: dict[str, Any] = {"method": method, "device": device}
    if method != "svd":  # which eigensolver made the values (their small end differs)
        meta["solver"] = opts.spectra_solver or default_solver(device)
    return meta


def head_spectra(ctx: CheckpointContext, opts: SpectraOptions) -> Iterator[Record]:
    """Records for per-head Q, K, V slices and the OV and QK circuits of every block."""
    heads = stacked_heads(ctx)
    if heads is None:
        return
    method = opts.spectra_method or default_method(ctx.options.device)
    n_layers, n_heads, d_head, d_model = heads.q.shape

    def flat(t: torch.Tensor) -> torch.Tensor:
        return t.reshape(n_layers * n_heads, *t.shape[2:])  # (L·H, rows, cols)

    def where(name: str, i: int) -> tuple[Component, int]:
        """Matrix ``i`` of the flattened (L·H) stack: its component and head."""
        param = "circuit" if name in ("ov", "qk") else "weight"
        return Component(name, i // n_heads, param), i % n_heads

    meta = _meta(method, opts, ctx.options.device)
    for name, w in (("q", heads.q), ("k", heads.k), ("v", heads.v)):
        mats = flat(w).to(ctx.options.device)
        skipped, keep = _split_finite(ctx, name, nonfinite_counts(mats), where)
        yield from skipped
        if not keep:
            continue
        mats = mats[keep]
        svals = singular_values_batched(
            mats, method, ctx.options.device, solver=opts.spectra_solver
        ).numpy()
        for i, s, std in zip(keep, svals, _element_std(mats), strict=True):
            comp, head = where(name, i)
            yield from _records(comp, s, meta, (d_head, d_model), std, ctx.options.device, head)
    # OV = W_O[:, h] @ W_V[h] and QK = W_Q[h]ᵀ @ W_K[h]: (d_model, d_model) of rank <= d_head
    circuits = {
        "ov": (flat(heads.o), flat(heads.v)),
        "qk": (flat(heads.q).mT, flat(heads.k)),
    }
    meta = {"method": "factored", "device": ctx.options.device, "top": d_head}
    for name, (left, right) in circuits.items():
        counts = nonfinite_counts(left) + nonfinite_counts(right)
        skipped, keep = _split_finite(ctx, name, counts, where)
        yield from skipped
        if not keep:
            continue
        svals = product_singular_values(left[keep], right[keep], ctx.options.device).numpy()
        for i, s in zip(keep, svals, strict=True):
            comp, head = where(name, i)
            yield from _records(comp, s, meta, device=ctx.options.device, head=head)


@register_analysis
class Spectra(Analysis):
    """Every singular value of every weight matrix, per head and per circuit, with ESD metrics."""

    name = "spectra"
    Options = SpectraOptions
    version = 1

    def run(self, ctx: CheckpointContext) -> Iterable[Record]:
        opts = self.parse_options(ctx.options.extra)
        yield from weight_spectra(ctx, opts)
        if opts.spectra_heads:
            yield from head_spectra(ctx, opts)
