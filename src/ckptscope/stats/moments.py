"""Exact moments and distances of large tensors, streamed in float64 chunks.

Float64 accumulation matters: a float32 sum over 10^8 values loses ~4 digits, and the
fourth moment of fp16/bf16 weights overflows in their own dtype. Chunks bound the extra
memory to ``CHUNK`` doubles whatever the tensor size.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

CHUNK = 1 << 22  # elements per float64 chunk: 32 MiB


@dataclass(frozen=True)
class Moments:
    """Norm and standardised moments of all elements of a tensor (population moments)."""

    numel: int
    norm: float
    mean: float
    std: float
    skew: float  # NaN when std == 0
    kurtosis: float  # excess kurtosis; NaN when std == 0
    max_abs: float
    nonfinite: int

    def as_metrics(self) -> dict[str, float]:
        """Metric name -> value, leaving out the undefined ones (moments of a constant)."""
        metrics = {
            "norm": self.norm,
            "mean": self.mean,
            "std": self.std,
            "skew": self.skew,
            "kurtosis": self.kurtosis,
            "max_abs": self.max_abs,
            "numel": float(self.numel),
        }
        return {k: v for k, v in metrics.items() if not math.isnan(v)}


def _chunks(t: torch.Tensor) -> list[torch.Tensor]:
    flat = t.reshape(-1)
    return [flat[i : i + CHUNK] for i in range(0, flat.numel(), CHUNK)]


def moments(t: torch.Tensor) -> Moments:
    """Moments over every element of ``t`` (any shape, any float dtype), in float64.

    Two passes: the mean first, then central moments around it (no catastrophic
    cancellation from raw power sums). Non-finite values are counted and left out.
    """
    n = 0
    total = 0.0
    max_abs = 0.0
    nonfinite = 0
    chunks = _chunks(t)
    finite_chunks: list[torch.Tensor] = []
    for c in chunks:
        mask = torch.isfinite(c)
        if not bool(mask.all()):
            nonfinite += int((~mask).sum())
            c = c[mask]
        finite_chunks.append(c)
        if c.numel():
            d = c.to(torch.float64)
            total += float(d.sum())
            max_abs = max(max_abs, float(d.abs().max()))
            n += c.numel()
    if n == 0:
        nan = math.nan
        return Moments(0, nan, nan, nan, nan, nan, nan, nonfinite)
    mean = total / n
    m2 = m3 = m4 = 0.0
    for c in finite_chunks:
        if not c.numel():
            continue
        d = c.to(torch.float64) - mean
        d2 = d * d
        m2 += float(d2.sum())
        m3 += float((d2 * d).sum())
        m4 += float((d2 * d2).sum())
    m2, m3, m4 = m2 / n, m3 / n, m4 / n
    # ||t||^2 = n (var + mean^2): exact from the moments, no third pass.
    norm = math.sqrt(n * (m2 + mean * mean))
    std = math.sqrt(m2)
    if m2 > 0:
        skew = m3 / m2**1.5
        kurt = m4 / (m2 * m2) - 3.0
    else:
        skew = kurt = math.nan
    return Moments(n, norm, mean, std, skew, kurt, max_abs, nonfinite)


def l2_norm(t: torch.Tensor) -> float:
    """Euclidean (Frobenius) norm of all elements, accumulated in float64."""
    return math.sqrt(sum(float(c.to(torch.float64).square().sum()) for c in _chunks(t)))


def l2_distance(a: torch.Tensor, b: torch.Tensor) -> float:
    """Euclidean (Frobenius) distance between two same-shaped tensors, in float64."""
    if a.shape != b.shape:
        raise ValueError(f"shapes differ: {tuple(a.shape)} vs {tuple(b.shape)}")
    total = 0.0
    for ca, cb in zip(_chunks(a), _chunks(b), strict=True):
        d = ca.to(torch.float64) - cb.to(torch.float64)
        total += float((d * d).sum())
    return math.sqrt(total)
