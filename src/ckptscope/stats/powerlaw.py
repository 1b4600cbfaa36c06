"""A power-law tail of ``|x|`` fitted by Clauset, Shalizi & Newman (2009)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MIN_TAIL = 50  # smallest power-law tail considered


@dataclass(frozen=True)
class TailPowerLawFit:
    """A Pareto tail ``p(y) ∝ y**-alpha`` of ``y = |x| >= xmin`` (Clauset et al. 2009)."""

    alpha: float
    xmin: float
    n_tail: int
    n: int  # values whose magnitudes were searched
    loglik: float  # mean per tail value
    ks: float  # KS distance on the tail at the chosen xmin
    alpha_se: float  # (alpha - 1) / sqrt(n_tail)


def fit_tail_power_law(
    values: np.ndarray, *, min_tail: int = MIN_TAIL, n_candidates: int = 120
) -> TailPowerLawFit:
    """Continuous power-law tail of ``|x|`` by Clauset, Shalizi & Newman (2009).

    For each candidate ``xmin``, ``alpha = 1 + m / sum(ln(y / xmin))`` over the ``m``
    magnitudes ``y >= xmin``; the chosen ``xmin`` minimises the KS distance between the
    tail's empirical CDF and the fitted Pareto CDF ``1 - (y / xmin)**(1 - alpha)``.
    Candidates are the magnitudes whose tail sizes ``m`` are ``n_candidates`` values
    geometrically spaced from ``min_tail`` to all non-zero values (tail size resolved to
    ~6% for 65k values), which keeps the search O(n) instead of O(n^2).
    """
    x = np.asarray(values, dtype=np.float64).ravel()
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{np.count_nonzero(~np.isfinite(x))} non-finite values; drop them first")
    y = np.sort(np.abs(x))
    y = y[y > 0]
    n = y.size
    if n < min_tail + 1:
        raise ValueError(f"need more than {min_tail} non-zero values for a power-law tail, got {n}")
    logs = np.log(y)
    suffix = np.cumsum(logs[::-1])[::-1]  # suffix[i] = sum(logs[i:])
    tails = np.geomspace(min_tail, n, n_candidates).round().astype(np.int64)
    cand = np.unique(n - tails)  # xmin = y[i] leaves m = n - i >= min_tail values
    cand = cand[y[cand] < y[-1]]  # a tail of equal values has no exponent
    if cand.size == 0:
        raise ValueError("the largest magnitudes are all equal; no power-law tail")
    ranks = np.arange(1, n + 1, dtype=np.float64)
    best = None
    for i in cand:
        m = n - i
        denom = suffix[i] - m * logs[i]
        if denom <= 0:
            continue
        alpha = 1 + m / denom
        tail = y[i:] / y[i]
        model = 1 - tail ** (1 - alpha)
        emp_hi = ranks[:m] / m
        ks = float(max(np.max(emp_hi - model), np.max(model - (emp_hi - 1 / m))))
        if best is None or ks < best[0]:
            best = (ks, i, alpha, m, denom)
    if best is None:
        raise ValueError("no candidate xmin gives a finite power-law exponent")
    ks, i, alpha, m, denom = best
    xmin = float(y[i])
    mean_ll = np.log(alpha - 1) - np.log(xmin) - alpha * denom / m
    return TailPowerLawFit(
        alpha=float(alpha),
        xmin=xmin,
        n_tail=int(m),
        n=int(n),
        loglik=float(mean_ll),
        ks=ks,
        alpha_se=float((alpha - 1) / np.sqrt(m)),
    )
