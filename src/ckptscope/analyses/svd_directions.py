"""Top singular directions read as tokens, and their closeness to the final checkpoint (F16).

Per checkpoint, ``kind="svd_tokens"``: an ``(n, k)`` table of token ids (``values``, stored as
floats; ``labels`` the ``n·k`` decoded tokens, row-major, when the checkpoint has a tokenizer):
row ``i`` holds the top-``k`` tokens of the ``i``-th largest singular direction.

=====================  ===========  =========  =========================================
component              block        param      direction, read through
=====================  ===========  =========  =========================================
mlp_in, mlp_gate       0..L-1       weight     right singular vectors (residual input), embedding
mlp_out                0..L-1       weight     left singular vectors (residual output), unembedding
ov                     0..L-1       circuit    left singular vectors of ``W_O[:, h] W_V[h]``, unembedding
=====================  ===========  =========  =========================================

OV rows are per head: the head is in the ``head`` column (NULL for the MLP rows).

Signs: each direction is flipped so its largest-|score| token scores positive, then ranked
by score (:func:`ckptscope.linalg.token_table`). Models with tied embeddings read everything
through ``embed``.

The ``svd_closeness`` derivation (``analyses/svd_closeness.py``) compares each step's table with the final (largest-step)
table of the same (model, component, block, param, head) and writes scalars ``svd_exact`` (fraction
of cells equal at the same (direction, rank)) and ``svd_overlap`` (mean over directions of
``|A_i ∩ F_i| / k``; directions matched by index). Averages use ``param="all"``, head NULL:
(component ``ov``, block b) over heads; (component, block None) over a component's tables;
(``all``, None) over every table of the model: the per-size curve.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ckptscope.adapters.base import Component
from ckptscope.analyses.base import (
    Analysis,
    Array,
    CheckpointContext,
    Record,
    Scalar,
    register_analysis,
)
from ckptscope.analyses.options import require_bool, require_int
from ckptscope.analyses.spectra import skipped_nonfinite, stacked_heads
from ckptscope.analyses.svd_closeness import KIND, SvdCloseness, closeness_frame

# the closeness derivation is re-exported: it reads what this analysis writes
__all__ = ["KIND", "SvdCloseness", "SvdDirections", "closeness_frame", "direction_tables"]
from ckptscope.linalg import (
    nonfinite_counts,
    product_left_vectors,
    token_table,
    top_left_vectors,
    top_right_vectors,
)

log = logging.getLogger(__name__)

# (component, which singular vectors, read through)
MLP_READS = (
    ("mlp_in", "right", "embed"),
    ("mlp_gate", "right", "embed"),
    ("mlp_out", "left", "unembed"),
)


@dataclass(frozen=True)
class SvdDirectionsOptions:
    """Sizes of the token tables (``--set svd_top_n=10``)."""

    svd_top_n: int = 30  # singular directions per matrix (at most the matrix's rank)
    svd_top_k: int = 20  # tokens per direction
    svd_heads: bool = True  # OV circuit of every head

    def __post_init__(self) -> None:
        require_int("svd_top_n", self.svd_top_n, 1)
        require_int("svd_top_k", self.svd_top_k, 1)
        require_bool("svd_heads", self.svd_heads)


class _Decoder:
    """Token id -> text through the checkpoint's tokenizer, if it has one."""

    def __init__(self, folder: Path | None) -> None:
        self.tok = None
        if folder is not None and (folder / "tokenizer.json").is_file():
            from tokenizers import Tokenizer

            self.tok = Tokenizer.from_file(str(folder / "tokenizer.json"))

    def labels(self, ids: np.ndarray) -> tuple[str, ...] | None:
        if self.tok is None:
            return None
        return tuple(self.tok.decode([int(i)]) for i in ids.ravel())


def _table(
    where: Component,
    ids: np.ndarray,
    decoder: _Decoder,
    meta: dict[str, Any],
    head: int | None = None,
) -> Array:
    return Array(
        where.component,
        where.block,
        where.param,
        KIND,
        ids.astype(np.float64),
        labels=decoder.labels(ids),
        meta=json.dumps(meta, sort_keys=True),
        head=head,
    )


def _token_matrix(ctx: CheckpointContext, name: str) -> tuple[str, torch.Tensor] | None:
    present = {c.component for c in ctx.components() if c.block is None and c.param == "weight"}
    for cand in (name, "embed", "unembed"):
        if cand in present:
            return cand, ctx.read(Component(cand, None, "weight"))
    return None


def _finite(
    ctx: CheckpointContext,
    wheres: list[Component],
    mats: torch.Tensor,
    heads: list[int] | None = None,
) -> tuple[list[int], list[Scalar]]:
    """Indices of the matrices free of NaN/Inf, and an ``n_nonfinite`` record for each other."""
    counts = nonfinite_counts(mats).tolist()
    skipped = [
        skipped_nonfinite(ctx, wheres[i], c, None if heads is None else heads[i])
        for i, c in enumerate(counts)
        if c
    ]
    return [i for i, c in enumerate(counts) if not c], skipped


def direction_tables(ctx: CheckpointContext, opts: SvdDirectionsOptions) -> Iterator[Record]:
    """Token tables of the MLP matrices and of every head's OV circuit.

    A matrix holding NaN/Inf gets an ``n_nonfinite`` Scalar instead of a table; a token
    matrix holding them gets that Scalar and no table reads through it.
    """
    decoder = _Decoder(ctx.checkpoint.tokenizer_dir())
    comps = ctx.components()
    reported: set[str] = set()  # token matrices already recorded as non-finite

    def token_matrix(name: str) -> tuple[tuple[str, torch.Tensor] | None, list[Scalar]]:
        found = _token_matrix(ctx, name)
        if found is None:
            return None, []
        keep, skipped = _finite(ctx, [Component(found[0], None, "weight")], found[1][None])
        if keep:
            return found, []
        if found[0] in reported:
            return None, []
        reported.add(found[0])
        return None, skipped

    for name, side, via in MLP_READS:
        blocks = [c for c in comps if c.component == name and c.param == "weight"]
        tokens, skipped = token_matrix(via) if blocks else (None, [])
        yield from skipped
        if tokens is None:
            continue
        mats = torch.stack([ctx.read(c) for c in blocks])  # (L, 4d, d) in / (L, d, 4d) out
        keep, skipped = _finite(ctx, blocks, mats)
        yield from skipped
        if not keep:
            continue
        mats = mats[keep]
        n = min(opts.svd_top_n, *mats.shape[1:])
        vecs = top_right_vectors(mats, n) if side == "right" else top_left_vectors(mats, n)
        ids = token_table(vecs, tokens[1], opts.svd_top_k)  # (L, n, k)
        meta = {"vectors": side, "read_through": tokens[0], "sign": "max_abs_positive"}
        for i, table in zip(keep, ids, strict=True):
            yield _table(blocks[i], table, decoder, meta)
    if not opts.svd_heads:
        return
    heads = stacked_heads(ctx)
    tokens, skipped = token_matrix("unembed") if heads is not None else (None, [])
    yield from skipped
    if heads is None or tokens is None:
        return
    n_layers, n_heads, _, d_head = heads.o.shape  # o: (L, H, d_model, d_head)
    n = min(opts.svd_top_n, d_head)
    meta = {"vectors": "left", "read_through": tokens[0], "sign": "max_abs_positive"}
    for block in range(n_layers):
        wheres = [Component("ov", block, "circuit")] * n_heads
        # a head is skipped if either factor holds NaN/Inf
        both = torch.cat([heads.o[block].flatten(1), heads.v[block].flatten(1)], dim=1)
        keep, skipped = _finite(ctx, wheres, both, list(range(n_heads)))
        yield from skipped
        if not keep:
            continue
        # OV = W_O[:, h] @ W_V[h]: left vectors (H, d_model, d_head) from the factors
        vecs, _ = product_left_vectors(heads.o[block][keep], heads.v[block][keep])
        ids = token_table(vecs[..., :n], tokens[1], opts.svd_top_k)  # (H, n, k)
        for h, table in zip(keep, ids, strict=True):
            yield _table(wheres[h], table, decoder, meta, head=h)


@register_analysis
class SvdDirections(Analysis):
    """Top-k tokens of the top-n singular directions of MLP and OV matrices."""

    name = "svd_directions"
    Options = SvdDirectionsOptions
    version = 1

    def run(self, ctx: CheckpointContext) -> Iterable[Record]:
        yield from direction_tables(ctx, self.parse_options(ctx.options.extra))
