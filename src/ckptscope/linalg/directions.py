"""Top singular directions of weight matrices read as tokens, and their closeness over training.

A direction ``d`` in the residual stream (``d_model``) is read through a token matrix
``E`` (``[vocab, d_model]``: the embedding for directions a layer reads, the unembedding
for directions it writes) as scores ``E d``; its *token row* is the ``k`` ids of largest
score. Singular vectors are defined up to sign (``(u, v) -> (-u, -v)``), so each direction
is first flipped to make its largest-``|score|`` token score positive: a matrix and the
same matrix with any singular pair's sign flipped give the same table.
"""

from __future__ import annotations

import numpy as np
import torch

from ckptscope.linalg.closeness import exact_match as exact_match  # moved there
from ckptscope.linalg.closeness import set_overlap as set_overlap
from ckptscope.linalg.spectra import _require_finite, gram


def top_right_vectors(mats: torch.Tensor, n: int) -> torch.Tensor:
    """Top-``n`` right singular vectors of each ``(b, m, d)`` matrix: ``(b, d, n)``, float64.

    Eigenvectors of the float64 Gram ``Wᵀ W`` (``d x d``), largest eigenvalue first.
    """
    if mats.shape[1] < mats.shape[2]:
        raise ValueError(f"right vectors of wide matrices {tuple(mats.shape)} are not computed")
    _require_finite(mats)
    _, vecs = torch.linalg.eigh(gram(mats, torch.float64))  # (b, d, d), ascending eigenvalues
    return vecs.flip(-1)[..., :n]


def top_left_vectors(mats: torch.Tensor, n: int) -> torch.Tensor:
    """Top-``n`` left singular vectors of each ``(b, d, m)`` matrix: ``(b, d, n)``, float64."""
    return top_right_vectors(mats.mT, n)


def token_table(
    directions: torch.Tensor, tokens: torch.Tensor, k: int, chunk: int = 512
) -> np.ndarray:
    """Token ids ``(..., n, k)`` of the ``k`` largest sign-normalised scores per direction.

    ``directions`` is ``(..., d, n)`` (columns are directions), ``tokens`` is ``[vocab, d]``.
    Scores are computed in float32 (ties below float32 resolution may order either way).
    """
    lead = directions.shape[:-2]
    d, n = directions.shape[-2:]
    if tokens.shape[1] != d:
        raise ValueError(
            f"token matrix {tuple(tokens.shape)} does not match directions of size {d}"
        )
    k = min(k, tokens.shape[0])  # a vocabulary smaller than k: every token, ranked
    rows = directions.reshape(-1, d, n).mT.reshape(-1, d).to(torch.float32)  # (B·n, d)
    emb_t = tokens.to(torch.float32).T.contiguous()  # (d, vocab)
    out = np.empty((rows.shape[0], k), dtype=np.int64)
    for lo in range(0, rows.shape[0], chunk):
        # (c, vocab): one contiguous row per direction, so the reductions below stream rows
        scores = rows[lo : lo + chunk] @ emb_t
        low, high = torch.aminmax(scores, dim=1)
        scores[high < -low] *= -1.0  # the largest-|score| token scores positive
        out[lo : lo + chunk] = torch.topk(scores, k, dim=1).indices.numpy()
    return out.reshape(*lead, n, k)
