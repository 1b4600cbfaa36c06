"""Token tables and closeness measures: invariants and hand-checked values."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ckptscope.linalg import (
    exact_match,
    set_overlap,
    token_table,
    top_left_vectors,
    top_right_vectors,
)


def test_token_table_is_the_top_k_of_sign_normalised_scores() -> None:
    g = torch.Generator().manual_seed(0)
    tokens = torch.randn(40, 6, generator=g)
    dirs = torch.randn(3, 6, 5, generator=g, dtype=torch.float64)  # (batch, d, n)
    got = token_table(dirs, tokens, 7)
    assert got.shape == (3, 5, 7)
    scores = np.einsum("vd,bdn->bnv", tokens.double().numpy(), dirs.numpy())
    sign = np.sign(np.take_along_axis(scores, np.abs(scores).argmax(-1)[..., None], -1))
    want = np.argsort(-(scores * sign), axis=-1)[..., :7]
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(token_table(dirs, tokens, 7, chunk=2), got)
    with pytest.raises(ValueError, match="does not match"):
        token_table(dirs, torch.randn(40, 5), 3)


def test_top_vectors_match_numpy_up_to_sign() -> None:
    w = torch.randn(2, 30, 8, generator=torch.Generator().manual_seed(1))
    u, _, vt = np.linalg.svd(w.double().numpy())
    right = top_right_vectors(w, 3).numpy()
    left = top_left_vectors(w.mT, 3).numpy()
    for got in (right, left):
        np.testing.assert_allclose(
            np.abs(np.einsum("bdn,bnd->bn", got, vt[:, :3])), 1.0, atol=1e-10
        )
    assert u.shape[1] == 30
    with pytest.raises(ValueError, match="wide"):
        top_right_vectors(w.mT, 3)


def test_closeness_invariants() -> None:
    rng = np.random.default_rng(0)
    final = np.stack([rng.permutation(100)[:20] for _ in range(30)])  # (n, k), distinct per row
    shuffled = np.stack([rng.permutation(row) for row in final])
    other = np.stack([rng.permutation(100)[:20] for _ in range(30)])
    tables = np.stack([final, shuffled, other])
    exact, overlap = exact_match(tables, final), set_overlap(tables, final)
    assert exact[0] == overlap[0] == 1.0
    assert overlap[1] == 1.0 and exact[1] < 0.2
    assert np.all(exact <= overlap) and np.all((overlap >= 0) & (overlap <= 1))
    # symmetric in its two arguments
    assert set_overlap(final[None], other)[0] == pytest.approx(set_overlap(other[None], final)[0])
