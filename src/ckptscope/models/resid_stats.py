"""Streaming statistics of residual activations: ``update`` per micro-batch, exact at the end.

Memory is constant in the batch size: a histogram on the universal grid, five central-moment
sums, the max |h| per residual dimension, and a bounded seeded sample for distribution fits.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from ckptscope.stats import HistogramAccumulator

SAMPLES_PER_UPDATE = 1 << 13  # residual values kept per update, for fits and quantiles


class ResidualStats:
    """Statistics of one residual position (a block's output) over many micro-batches."""

    def __init__(self, seed: int = 0) -> None:
        self.hist = HistogramAccumulator()
        self.n = 0
        self.mean = 0.0
        self.m2 = self.m3 = self.m4 = 0.0  # central power sums (not divided by n)
        self.dim_max: torch.Tensor | None = None  # (d_model,) max |h| per dimension
        self.samples: list[np.ndarray] = []
        self._gen = torch.Generator().manual_seed(seed)

    def update(self, h: torch.Tensor) -> None:
        """Add a residual ``(batch, seq, d_model)``; reduces over batch and sequence."""
        # float64: fourth powers of outliers in the hundreds overflow float16 and
        # drown the bulk's contribution in float32.
        x = h.detach().reshape(-1, h.shape[-1]).to(torch.float64)  # (tokens, d_model)
        dim_max = x.abs().amax(dim=0).cpu()
        self.dim_max = dim_max if self.dim_max is None else torch.maximum(self.dim_max, dim_max)
        flat = x.reshape(-1)
        mean = float(flat.mean())
        d = flat - mean
        d2 = d * d
        self._combine(
            flat.numel(), mean, float(d2.sum()), float((d2 * d).sum()), float((d2 * d2).sum())
        )
        self.hist.update(flat)  # binned on the residual's device
        n = flat.numel()
        idx = torch.randint(n, (min(SAMPLES_PER_UPDATE, n),), generator=self._gen)
        self.samples.append(flat[idx.to(flat.device)].cpu().numpy())

    def combine(self, other: ResidualStats) -> None:
        """Pool another position's statistics into this one (e.g. all blocks together)."""
        if other.n == 0:
            return
        self._combine(other.n, other.mean, other.m2, other.m3, other.m4)
        self.hist.counts += other.hist.counts
        self.samples += other.samples
        if other.dim_max is not None:
            mine = self.dim_max
            self.dim_max = (
                other.dim_max.clone() if mine is None else torch.maximum(mine, other.dim_max)
            )

    def _combine(self, nb: int, mb: float, m2b: float, m3b: float, m4b: float) -> None:
        # Pébay (2008) pairwise update of central moment sums: exact, no raw power sums.
        na, n = self.n, self.n + nb
        if na == 0:
            self.n, self.mean, self.m2, self.m3, self.m4 = nb, mb, m2b, m3b, m4b
            return
        delta = mb - self.mean
        m4 = (
            self.m4 + m4b
            + delta**4 * na * nb * (na * na - na * nb + nb * nb) / n**3
            + 6 * delta**2 * (na * na * m2b + nb * nb * self.m2) / n**2
            + 4 * delta * (na * m3b - nb * self.m3) / n
        )  # fmt: skip
        m3 = self.m3 + m3b + delta**3 * na * nb * (na - nb) / n**2
        m3 += 3 * delta * (na * m2b - nb * self.m2) / n
        self.m2 += m2b + delta**2 * na * nb / n
        self.m3, self.m4 = m3, m4
        self.mean += delta * nb / n
        self.n = n

    def metrics(self) -> dict[str, float]:
        """``numel, mean, std, skew, kurtosis`` (population, excess), ``max_abs``; no NaN."""
        out = {"numel": float(self.n), "mean": self.mean}
        var = self.m2 / self.n
        out["std"] = math.sqrt(var)
        if var > 0:
            out["skew"] = (self.m3 / self.n) / var**1.5
            out["kurtosis"] = (self.m4 / self.n) / var**2 - 3.0
        assert self.dim_max is not None
        out["max_abs"] = float(self.dim_max.max())
        return out

    def outlier_dims(self, k: int) -> np.ndarray:
        """(2, k): the k dimensions with the largest max |h| (descending), and those maxima."""
        assert self.dim_max is not None
        top = torch.topk(self.dim_max, min(k, self.dim_max.numel()))
        return np.stack([top.indices.numpy().astype(np.float64), top.values.numpy()])

    def sample(self) -> np.ndarray:
        """The seeded sample kept for fits (concatenated over updates)."""
        return np.concatenate(self.samples) if self.samples else np.zeros(0)
