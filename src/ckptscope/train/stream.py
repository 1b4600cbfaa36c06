"""The token stream: which sequences a step trains on, a pure function of (seed, step)."""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch

from ckptscope.errors import UsageError


class TokenStream:
    """Batches of ``seq_len + 1`` token windows; each epoch a seeded permutation of windows.

    The corpus is cut into non-overlapping windows (the last token of one window is the
    first of the next, so every token is predicted once per epoch). Global sequence
    ``g = step * batch_size + j`` is window ``perm(seed, g // n)[g % n]``, so every model
    with the same seed sees the same sequences in the same order, and resuming at a step
    needs no saved data position.
    """

    def __init__(self, ids: np.ndarray, seq_len: int, batch_size: int, seed: int) -> None:
        self.ids = ids
        self.seq_len = seq_len
        self.batch_size = batch_size
        self.seed = seed
        self.n_windows = (len(ids) - 1) // seq_len
        if self.n_windows < 1:
            raise UsageError(
                f"train split has {len(ids)} tokens, too few for one sequence of {seq_len}"
            )
        self._perm = lru_cache(maxsize=4)(self._permutation)

    def _permutation(self, epoch: int) -> np.ndarray:
        return np.random.default_rng([self.seed, epoch]).permutation(self.n_windows)

    def batch(self, step: int) -> torch.Tensor:
        """The int64 token windows of ``step``, shape (batch_size, seq_len + 1)."""
        rows = []
        for g in range(step * self.batch_size, (step + 1) * self.batch_size):
            w = int(self._perm(g // self.n_windows)[g % self.n_windows])
            rows.append(self.ids[w * self.seq_len : (w + 1) * self.seq_len + 1])
        return torch.from_numpy(np.stack(rows).astype(np.int64))

    def epochs(self, steps: int) -> float:
        """How many passes over the train split ``steps`` steps make."""
        return steps * self.batch_size / self.n_windows


def heldout_windows(ids: np.ndarray, seq_len: int, max_tokens: int) -> torch.Tensor:
    """Fixed held-out windows (n, seq_len + 1), evenly spread over the held-out split."""
    available = (len(ids) - 1) // seq_len
    if available < 1:
        raise UsageError(
            f"held-out split has {len(ids)} tokens, too few for one sequence of {seq_len}"
        )
    n = max(1, min(available, max_tokens // seq_len))
    starts = np.linspace(0, available - 1, n).round().astype(np.int64) * seq_len
    return torch.from_numpy(np.stack([ids[s : s + seq_len + 1] for s in starts]).astype(np.int64))
