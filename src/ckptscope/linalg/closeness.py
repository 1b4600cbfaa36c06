"""How close token tables of SVD directions are to the final checkpoint's (NumPy only).

The tables come from :func:`ckptscope.linalg.directions.token_table`; these comparisons
run in the ``svd_closeness`` derivation after every sweep, so they never import torch.
"""

from __future__ import annotations

import numpy as np


def exact_match(tables: np.ndarray, final: np.ndarray) -> np.ndarray:
    """Fraction of (direction, rank) cells equal to ``final``'s: ``(s, n, k), (n, k) -> (s,)``."""
    return (tables == final[None]).mean(axis=(1, 2))


def set_overlap(tables: np.ndarray, final: np.ndarray) -> np.ndarray:
    """Mean over directions of ``|A_i ∩ F_i| / k`` (rows matched by index): ``(s,)``."""
    k = final.shape[-1]
    # (s, n, k, 1) == (1, n, 1, k): each token of A_i looked up in F_i (rows hold distinct ids)
    hits = (tables[..., :, None] == final[None, :, None, :]).any(axis=-1)
    return hits.sum(axis=-1).mean(axis=-1) / k
