"""Statistics of one empirical spectral density (ESD), from a matrix's singular values.

Every function takes the singular values ``s`` of one matrix (any order, float64 numpy) and
returns plain numbers; :func:`spectral_metrics` gathers them into the metrics the
``spectra`` analysis stores. Eigenvalues mean ``λ = s²`` (of ``Wᵀ W``), as WeightWatcher.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import torch

# Eigenvalues below this fraction of the largest are treated as zero by the power-law fit
# (rank-deficient matrices, Gram-method round-off; see linalg/spectra.py).
ZERO_TOL = 1e-12
#: spectra shorter than this are fitted on the CPU whatever the device
GPU_MIN_VALUES = 512
#: below this many tail eigenvalues (metric ``alpha_tail``) a power-law alpha is not read,
#: as WeightWatcher does for small matrices: the fit of a 32x32 matrix gives alpha 15-20
#: whatever its weights. The findings and the alpha figures both leave such fits out.
MIN_ALPHA_TAIL = 10


@dataclass(frozen=True)
class EsdPowerLawFit:
    """A Clauset power-law fit ``p(λ) ∝ λ^-alpha`` for ``λ >= xmin`` of the eigenvalues."""

    alpha: float
    xmin: float
    ks: float  # Kolmogorov-Smirnov distance between the tail and the fitted law
    n_tail: int  # eigenvalues >= xmin


def fit_esd_power_law(
    eigenvalues: np.ndarray, xmin: float | None = None, device: str | torch.device | None = None
) -> EsdPowerLawFit:
    """Clauset MLE ``alpha = 1 + n / Σ ln(λ/xmin)``, ``xmin`` minimising the KS distance.

    As WeightWatcher: every eigenvalue but the largest is a candidate ``xmin``; the tail's
    empirical CDF ``(j - i)/n`` is compared with ``1 - (λ/xmin)^(1-alpha)``. NaNs when fewer
    than two nonzero eigenvalues. The scan over candidates is O(n²) (0.1-0.3 s for n = 4096 on
    one CPU core); it runs in float64 torch on ``device`` (default CPU), so a GPU sweep does
    not wait on the CPU for its fits.
    """
    lam = np.sort(np.asarray(eigenvalues, dtype=np.float64).ravel())
    lam = lam[lam > ZERO_TOL * lam[-1]] if lam.size and lam[-1] > 0 else lam[:0]
    n_all = lam.size
    if n_all < 2:
        return EsdPowerLawFit(math.nan, math.nan, math.nan, n_all)
    import torch

    dev = torch.device(device or "cpu")
    if n_all < GPU_MIN_VALUES:
        dev = torch.device("cpu")  # below this, kernel launches cost more than the scan
    log_lam = torch.from_numpy(np.log(lam)).to(dev)
    # sum of log λ over each tail j >= i, for every start i
    tail_log = log_lam.flip(0).cumsum(0).flip(0)
    # candidate tail starts: every eigenvalue but the largest, or the one given
    if xmin is None:
        starts = torch.arange(n_all - 1, device=dev)
    else:
        starts = torch.tensor([int(np.searchsorted(lam, xmin))], device=dev)
    j = torch.arange(n_all, device=dev, dtype=torch.float64)[None, :]  # (1, N)
    best = EsdPowerLawFit(math.nan, math.nan, math.inf, 0)
    # Chunk the candidates: the KS step is O(chunk · n) memory.
    chunk = max(1, (2**22 if dev.type == "cpu" else 2**26) // n_all)
    for lo in range(0, starts.numel(), chunk):
        i = starts[lo : lo + chunk]  # (c,)
        n = (n_all - i).to(torch.float64)
        alpha = 1.0 + n / (tail_log[i] - n * log_lam[i])  # inf/nan where the tail is flat
        model_cdf = 1.0 - torch.exp(
            (1.0 - alpha[:, None]) * (log_lam[None, :] - log_lam[i][:, None])
        )
        empirical = (j - i[:, None]) / n[:, None]
        in_tail = j >= i[:, None]  # (c, N)
        dist = torch.where(in_tail, (model_cdf - empirical).abs(), 0.0).amax(dim=1)
        bad = ~torch.isfinite(alpha) | (alpha <= 1.0) | ~torch.isfinite(dist)
        dist = dist.masked_fill(bad, math.inf)
        k = int(torch.argmin(dist))
        d_k = float(dist[k])
        if d_k < best.ks:
            best = EsdPowerLawFit(float(alpha[k]), float(lam[int(i[k])]), d_k, int(n[k]))
    if not math.isfinite(best.ks):
        return EsdPowerLawFit(math.nan, math.nan, math.nan, 0)
    return best


def stable_rank(s: np.ndarray) -> float:
    """``Σ s² / max s²``: how many directions carry the Frobenius norm."""
    s = np.asarray(s, dtype=np.float64)
    top = float(np.max(s, initial=0.0))
    return float(np.sum(s**2) / top**2) if top > 0 else math.nan


def effective_rank(s: np.ndarray) -> float:
    """Roy & Vetterli (2007): ``exp(H(p))`` with ``p = s / Σ s`` (singular values, not s²)."""
    s = np.asarray(s, dtype=np.float64)
    total = float(np.sum(s))
    if total <= 0:
        return math.nan
    p = s[s > 0] / total
    return float(np.exp(-np.sum(p * np.log(p))))


def mp_edge(shape: tuple[int, int], sigma: float) -> float:
    """Marchenko-Pastur bulk edge in singular values, ``σ(√m + √n) = σ√max·(1 + √q)``.

    ``q = min(m, n) / max(m, n)``: the largest singular value of an ``m x n`` matrix of iid
    entries with std ``σ`` (as m, n grow; finite-size Tracy-Widom fluctuations are
    ``O(σ·max^{1/2}·min^{-1/3})``, under 1% of the edge at Pythia shapes).
    """
    m, n = shape
    return float(sigma * (math.sqrt(m) + math.sqrt(n)))


def mp_outliers(s: np.ndarray, shape: tuple[int, int], sigma: float) -> int:
    """Number of singular values above the Marchenko-Pastur edge for noise of std ``sigma``."""
    return int(np.sum(np.asarray(s) > mp_edge(shape, sigma)))


def spectral_metrics(
    s: np.ndarray,
    shape: tuple[int, int] | None = None,
    element_std: float | None = None,
    device: str | torch.device | None = None,
) -> dict[str, float]:
    """Every per-matrix metric the ``spectra`` analysis stores (names are the metric keys).

    ``alpha``, ``alpha_ks``, ``alpha_xmin``, ``alpha_tail`` (power-law fit of ``λ = s²``),
    ``alpha_weighted`` (``alpha·log10 λ_max``), ``spectral_norm``, ``log_norm``
    (``log10 Σ λ = 2 log10 ‖W‖_F``), ``stable_rank``, ``effective_rank``; with ``shape`` and
    ``element_std``: ``mp_edge`` and ``mp_outliers``. The element std of the whole matrix
    includes the signal, so it over-estimates the noise σ and the outlier count is
    conservative (a lower bound for a pure noise-plus-low-rank model). ``device``: where the
    power-law fit's O(n²) scan runs.
    """
    s = np.asarray(s, dtype=np.float64)
    fit = fit_esd_power_law(s**2, device=device)
    top = float(np.max(s, initial=0.0))
    out = {
        "alpha": fit.alpha,
        "alpha_ks": fit.ks,
        "alpha_xmin": fit.xmin,
        "alpha_tail": float(fit.n_tail),
        "alpha_weighted": fit.alpha * math.log10(top**2) if top > 0 else math.nan,
        "spectral_norm": top,
        "log_norm": math.log10(float(np.sum(s**2))) if top > 0 else math.nan,
        "stable_rank": stable_rank(s),
        "effective_rank": effective_rank(s),
    }
    if shape is not None and element_std is not None:
        out["mp_edge"] = mp_edge(shape, element_std)
        out["mp_outliers"] = float(mp_outliers(s, shape, element_std))
    return out
