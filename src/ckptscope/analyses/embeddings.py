"""Embedding structure (figure F13, docs/figures.md): token-embedding correlations, seriated.

Per checkpoint, two token sets of the canonical ``embed`` weight ``(vocab, d_model)``:

* ``bytes``: by default the 256 tokens after the tokenizer's leading special tokens, which
  in Pythia-style byte-level BPEs (and Llama's ``<0xNN>`` tokens) are the byte tokens;
* ``tokens``: the next ``embed_extra_tokens`` (default 256) ids. BPE merges are numbered in
  the order they were learnt, most frequent pair first, so these are the commonest merges.

For each set the analysis stores the Pearson correlation between token rows (over the
``d_model`` axis) and a *seriation*: a permutation that puts correlated tokens next to each
other. The seriation is average-linkage hierarchical clustering on the distance ``1 - r``
with scipy's optimal leaf ordering (adjacent leaves as similar as possible), which keeps
every cluster the tree finds contiguous. Records (component ``embed``, param ``weight``):

=====================  ==========  ==================================================
kind                   values      labels / meta
=====================  ==========  ==================================================
``embed_corr``         (n, n)      decoded token strings / ids, set, special tokens
``embed_order``        (n,)        -- / method; ``values[i]`` = row shown at position i
``embed_corr_tokens``  (m, m)      as ``embed_corr``, for the non-byte set
``embed_order_tokens`` (m,)        as ``embed_order``
=====================  ==========  ==================================================

Figures show every frame in one order: the ``embed_order`` row of the model's *last stored
step* (the final checkpoint after a full sweep). That is a row selection, not a statistic,
so drawing stays computation-free and a partial sweep simply shows its latest order.

Options (``SweepOptions.extra``): ``embed_tokens``: a start id (256 tokens from there), or
``[start, stop)``; ``embed_extra_tokens``: size of the non-byte set (0 disables it).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
from scipy.cluster import hierarchy
from scipy.spatial.distance import squareform

from ckptscope.adapters.base import Component
from ckptscope.analyses.base import (
    Analysis,
    AnalysisSkipped,
    Array,
    CheckpointContext,
    Record,
    register_analysis,
)
from ckptscope.analyses.options import require_int

log = logging.getLogger(__name__)

EMBED = Component("embed", None, "weight")
N_BYTE_TOKENS = 256
DEFAULT_EXTRA_TOKENS = 256
SERIATION = "average-linkage clustering on 1 - r, optimal leaf ordering (scipy)"


def correlation_matrix(rows: np.ndarray) -> np.ndarray:
    """Pearson correlation between the rows of ``rows`` (n, d) -> (n, n), reduced over d.

    Computed in float64: with d in the thousands, float32 dot products of centred rows
    lose several digits. A constant row has no defined correlation: its off-diagonal
    entries are 0 and its diagonal 1, so seriation and colour scales stay finite.
    """
    x = np.asarray(rows, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"expected a (tokens, d_model) matrix, got shape {x.shape}")
    x = x - x.mean(axis=1, keepdims=True)  # (n, d)
    norms = np.linalg.norm(x, axis=1)  # (n,)
    ok = norms > 0
    z = np.zeros_like(x)
    z[ok] = x[ok] / norms[ok, None]
    corr = np.clip(z @ z.T, -1.0, 1.0)  # (n, n)
    np.fill_diagonal(corr, 1.0)
    return corr


def seriate(corr: np.ndarray) -> np.ndarray:
    """A permutation of ``range(n)`` placing correlated rows of ``corr`` next to each other."""
    corr = np.asarray(corr, dtype=np.float64)
    n = corr.shape[0]
    if n < 3:
        return np.arange(n)
    dist = np.clip(1.0 - corr, 0.0, 2.0)
    dist = (dist + dist.T) / 2  # exact symmetry for squareform
    np.fill_diagonal(dist, 0.0)
    condensed = squareform(dist, checks=False)
    tree = hierarchy.linkage(condensed, method="average")
    tree = hierarchy.optimal_leaf_ordering(tree, condensed)
    return hierarchy.leaves_list(tree).astype(np.int64)


# -- tokenizer ------------------------------------------------------------------------


@cache
def _byte_decoder() -> dict[str, int]:
    from ckptscope.data.tokenizer import bytes_to_unicode

    return {sym: b for b, sym in bytes_to_unicode().items()}


def display_token(token: str) -> str:
    """A token's text, readable: byte-level symbols decoded, whitespace made visible."""
    dec = _byte_decoder()
    if token and all(c in dec for c in token):
        token = bytes(dec[c] for c in token).decode("utf-8", errors="backslashreplace")
    out = []
    for c in token:
        if c == " ":
            out.append("␣")
        elif c in "\n\t\r":
            out.append({"\n": "\\n", "\t": "\\t", "\r": "\\r"}[c])
        elif not c.isprintable():
            out.append(f"\\x{ord(c):02x}" if ord(c) < 256 else f"\\u{ord(c):04x}")
        else:
            out.append(c)
    return "".join(out)


@cache
def _tokenizer_info(path: str) -> tuple[int, dict[int, str]]:
    """(leading special-token count, id -> token) from a Hugging Face ``tokenizer.json``."""
    spec = json.loads(Path(path).read_text(encoding="utf-8"))
    special = {int(t["id"]) for t in spec.get("added_tokens", []) if t.get("special", False)}
    n_special = 0
    while n_special in special:
        n_special += 1
    vocab: dict[str, int] | list[Any] = spec.get("model", {}).get("vocab", {})
    if isinstance(vocab, list):  # unigram models: [[piece, score], ...]
        id_to_token = {i: str(p[0]) for i, p in enumerate(vocab)}
    else:
        id_to_token = {int(i): str(t) for t, i in vocab.items()}
    for t in spec.get("added_tokens", []):
        id_to_token[int(t["id"])] = str(t["content"])
    return n_special, id_to_token


def tokenizer_info(tokenizer_dir: Path | None) -> tuple[int, dict[int, str]]:
    """Leading special-token count and id -> token map; ``(0, {})`` without a tokenizer."""
    if tokenizer_dir is None:
        return 0, {}
    path = Path(tokenizer_dir) / "tokenizer.json"
    if not path.is_file():
        log.debug("no tokenizer.json in %s: token ids start at 0, labels are ids", tokenizer_dir)
        return 0, {}
    return _tokenizer_info(str(path))


def token_range(option: Any, n_special: int, vocab: int) -> tuple[int, int]:
    """``[start, stop)`` of the byte set from the ``embed_tokens`` option, clipped to vocab."""
    if option is None:
        start, stop = n_special, n_special + N_BYTE_TOKENS
    elif isinstance(option, int) and not isinstance(option, bool):
        start, stop = option, option + N_BYTE_TOKENS
    elif (
        isinstance(option, Sequence)
        and not isinstance(option, str)
        and len(option) == 2
        and all(isinstance(v, int) and not isinstance(v, bool) for v in option)
    ):
        start, stop = option[0], option[1]
    else:
        raise ValueError(f"embed_tokens must be a start id or [start, stop), got {option!r}")
    if not 0 <= start < stop:
        raise ValueError(f"embed_tokens range [{start}, {stop}) is empty or negative")
    return start, min(stop, vocab)


def _records(
    suffix: str, corr: np.ndarray, labels: tuple[str, ...], meta: dict[str, Any]
) -> Iterator[Array]:
    order = seriate(corr)
    yield Array(
        "embed",
        None,
        "weight",
        f"embed_corr{suffix}",
        corr,
        labels,
        json.dumps(meta, sort_keys=True),
    )
    yield Array(
        "embed",
        None,
        "weight",
        f"embed_order{suffix}",
        order,
        None,
        json.dumps({**meta, "method": SERIATION}, sort_keys=True),
    )


@dataclass(frozen=True)
class EmbeddingsOptions:
    """``embed_tokens``: the byte set's first id or ``[start, stop)`` (None: after the
    special tokens); ``embed_extra_tokens``: how many tokens after it form the second set."""

    embed_tokens: int | list[int] | None = None
    embed_extra_tokens: int = DEFAULT_EXTRA_TOKENS

    def __post_init__(self) -> None:
        token_range(self.embed_tokens, 0, 2**62)
        require_int("embed_extra_tokens", self.embed_extra_tokens, 0)


@register_analysis
class EmbeddingStructure(Analysis):
    """Correlation matrices of byte and common-token embeddings, with their seriation."""

    name = "embeddings"
    Options = EmbeddingsOptions

    def run(self, ctx: CheckpointContext) -> Iterator[Record]:
        if EMBED not in ctx.components():
            raise AnalysisSkipped(f"{ctx.model}: no canonical embed.weight tensor")
        emb = ctx.read(EMBED)  # (vocab, d_model)
        vocab = int(emb.shape[0])
        n_special, id_to_token = tokenizer_info(ctx.checkpoint.tokenizer_dir())
        opts = self.parse_options(ctx.options.extra)
        start, stop = token_range(opts.embed_tokens, n_special, vocab)
        if stop - start < 2:
            raise AnalysisSkipped(f"{ctx.model}: vocab {vocab} leaves <2 tokens at id {start}")
        n_extra = opts.embed_extra_tokens
        sets = [("", "bytes", start, stop)]
        if n_extra > 0 and min(stop + n_extra, vocab) - stop >= 2:
            sets.append(("_tokens", "tokens", stop, min(stop + n_extra, vocab)))
        for suffix, name, lo, hi in sets:
            ids = range(lo, hi)
            labels = tuple(
                display_token(id_to_token[i]) if i in id_to_token else f"#{i}" for i in ids
            )
            corr = correlation_matrix(emb[lo:hi].numpy())
            meta = {"set": name, "tokens": [lo, hi], "special_tokens": n_special}
            yield from _records(suffix, corr, labels, meta)
