"""Shared machinery of the maximum-likelihood fits: the Fit record, standardising, BFGS.

Every fit standardises the data first (``z = (x - median) / (1.4826 MAD)``) so the
optimiser sees order-one numbers whatever the tensor's scale (weights are ~1e-2,
activations ~1e2), then maps parameters and the log-likelihood back to data units.
Numerical fits use BFGS with analytic gradients on unconstrained parameters (log scale,
log tail parameter squashed into its box).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from scipy import optimize, special

MIN_VALUES = 8  # fewer finite values than this is "degenerate"


@dataclass(frozen=True)
class Fit:
    """One family fitted by maximum likelihood; ``loglik`` is the mean per value."""

    family: str
    params: dict[str, float] = field(hash=False)
    n: int
    loglik: float
    aic: float
    bic: float
    ks: float  # sup |empirical CDF - fitted CDF|
    converged: bool = True


def clean_values(values: np.ndarray) -> np.ndarray:
    """Finite values as float64, or a ValueError naming why they cannot be fitted."""
    # float64: log-likelihood sums over 1e5 values lose digits in float32.
    x = np.asarray(values, dtype=np.float64).ravel()
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{np.count_nonzero(~np.isfinite(x))} non-finite values; drop them first")
    if x.size < MIN_VALUES:
        raise ValueError(f"need at least {MIN_VALUES} values to fit, got {x.size}")
    if np.ptp(x) == 0:
        raise ValueError(f"all {x.size} values equal {x[0]!r}; nothing to fit")
    return x


def standardise(x: np.ndarray) -> tuple[np.ndarray, float, float]:
    """``(z, center, spread)`` with ``z = (x - median) / (1.4826 MAD)`` (std if MAD is 0)."""
    center = float(np.median(x))
    # MAD, not std: one extreme outlier would otherwise squash the bulk towards zero.
    spread = 1.4826 * float(np.median(np.abs(x - center)))
    if not spread > 0:  # more than half the values equal the median
        spread = float(np.std(x))
    if not spread > 0:
        raise ValueError("zero spread; nothing to fit")
    return (x - center) / spread, center, spread


def ks_distance(sorted_x: np.ndarray, cdf: np.ndarray) -> float:
    """Kolmogorov-Smirnov distance of sorted values from a CDF evaluated at them."""
    n = sorted_x.size
    i = np.arange(1, n + 1)
    return float(max(np.max(i / n - cdf), np.max(cdf - (i - 1) / n)))


def make_fit(
    family: str,
    params: dict[str, float],
    x_sorted: np.ndarray,
    mean_ll: float,
    cdf: Callable[[np.ndarray], np.ndarray],
    converged: bool = True,
) -> Fit:
    """A :class:`Fit` with AIC, BIC and KS computed from the mean log-likelihood and CDF."""
    n, k = x_sorted.size, len(params)
    return Fit(
        family=family,
        params={key: float(v) for key, v in params.items()},
        n=n,
        loglik=float(mean_ll),
        aic=float(2 * k - 2 * n * mean_ll),
        bic=float(k * np.log(n) - 2 * n * mean_ll),
        ks=ks_distance(x_sorted, np.clip(cdf(x_sorted), 0.0, 1.0)),
        converged=converged,
    )


def minimise(fun, x0, bounds) -> tuple[np.ndarray, bool]:
    """Minimise ``fun`` (value, gradient) within box ``bounds`` by BFGS on ``w``.

    Bounded coordinates are ``lo + (hi - lo) * expit(w)``, so the search is unconstrained.
    BFGS rather than L-BFGS-B: L-BFGS-B's BLAS calls stall for milliseconds each when
    OpenBLAS threads compete with torch's on a loaded machine, which dominated fit time.
    """
    x0 = np.asarray(x0, dtype=np.float64)
    lo = np.array([-np.inf if b[0] is None else b[0] for b in bounds], dtype=np.float64)
    hi = np.array([np.inf if b[1] is None else b[1] for b in bounds], dtype=np.float64)
    boxed = np.isfinite(lo) & np.isfinite(hi)
    width = np.where(boxed, hi - lo, 1.0)

    def to_theta(w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        e = special.expit(w)
        return np.where(boxed, lo + width * e, w), np.where(boxed, width * e * (1 - e), 1.0)

    def wrapped(w: np.ndarray) -> tuple[float, np.ndarray]:
        theta, dtheta = to_theta(w)
        f, g = fun(theta)
        return float(f), np.asarray(g) * dtheta

    frac = np.clip((x0 - lo) / width, 1e-6, 1 - 1e-6)
    w0 = np.where(boxed, special.logit(frac), x0)
    res = optimize.minimize(
        wrapped, w0, jac=True, method="BFGS", options={"maxiter": 300, "gtol": 1e-6}
    )
    # status 2 is "precision loss": the optimum is flat to rounding, which is converged here
    return to_theta(res.x)[0], bool(res.success or res.status == 2)


def excess_kurtosis(z: np.ndarray) -> float:
    """Moment excess kurtosis (starting values only; the fits never use it otherwise)."""
    d = z - np.mean(z)
    m2 = np.mean(d * d)
    return float(np.mean(d**4) / m2**2 - 3)


def multistart(fun, starts, bounds):
    """``(f, theta, ok)`` from the first start; later starts only when it did not converge."""
    best = None
    for x0 in starts:
        theta, ok = minimise(fun, x0, bounds)
        f = fun(theta)[0]
        if best is None or f < best[0]:
            best = (f, theta, ok)
        if ok:
            break
    return best
