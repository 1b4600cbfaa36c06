"""Maximum-likelihood fits of full-support families and of a power-law tail.

Every fit standardises the data first (``z = (x - median) / (1.4826 MAD)``) so the optimiser sees
order-one numbers whatever the tensor's scale (weights are ~1e-2, activations ~1e2), then
maps parameters and the log-likelihood back to data units. Numerical fits use L-BFGS-B
with analytic gradients on unconstrained parameters (log scale, log tail parameter).
Fits run on the values given; :func:`fit_all` takes a seeded subsample of at most
``max_samples`` values first (see :func:`ckptscope.stats.histogram.subsample`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from scipy import optimize, special

from ckptscope.stats.histogram import subsample

#: Full-support families in the order ``fit_winner`` indexes them.
FAMILIES: tuple[str, ...] = ("gaussian", "logistic", "laplace", "student_t", "gennorm", "quartic")
#: Student-t degrees of freedom are bounded to this range; NU_MAX means "Gaussian-like".
NU_MIN, NU_MAX = 0.05, 1e4
BETA_MIN, BETA_MAX = 0.05, 20.0
#: Quartic ``kappa = g * s**4`` (dimensionless) bounds; KAPPA_MIN means "no quartic term".
KAPPA_MIN, KAPPA_MAX = 1e-12, 1e6
MIN_VALUES = 8  # fewer finite values than this is "degenerate"
MAX_FIT_SAMPLES = 65_536  # 2**16: nu and beta to ~1%, fits ~0.1 s per tensor
MIN_TAIL = 50  # smallest power-law tail considered


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


@dataclass(frozen=True)
class PowerLawFit:
    """A Pareto tail ``p(y) ∝ y**-alpha`` of ``y = |x| >= xmin`` (Clauset et al. 2009)."""

    alpha: float
    xmin: float
    n_tail: int
    n: int  # values whose magnitudes were searched
    loglik: float  # mean per tail value
    ks: float  # KS distance on the tail at the chosen xmin
    alpha_se: float  # (alpha - 1) / sqrt(n_tail)


@dataclass(frozen=True)
class FitReport:
    """Every family's fit on one sample, the BIC winner, and the power-law tail."""

    fits: tuple[Fit, ...]
    power_law: PowerLawFit | None
    n_fit: int  # values the fits used (after dropping non-finite and subsampling)
    n_finite: int
    n_nonfinite: int
    degenerate: str | None = None  # why no fit was possible, else None

    @property
    def winner(self) -> str | None:
        """The family with the lowest BIC, or None when degenerate."""
        if not self.fits:
            return None
        return min(self.fits, key=lambda f: f.bic).family

    @property
    def winner_index(self) -> int | None:
        """Index of :attr:`winner` in :data:`FAMILIES`."""
        w = self.winner
        return None if w is None else FAMILIES.index(w)

    def get(self, family: str) -> Fit:
        """The fit of ``family``."""
        for f in self.fits:
            if f.family == family:
                return f
        raise KeyError(f"no fit of {family!r}; fitted: {[f.family for f in self.fits]}")


# -- helpers ----------------------------------------------------------------------------


def _clean(values: np.ndarray) -> np.ndarray:
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


def _standardise(x: np.ndarray) -> tuple[np.ndarray, float, float]:
    center = float(np.median(x))
    # MAD, not std: one extreme outlier would otherwise squash the bulk towards zero.
    spread = 1.4826 * float(np.median(np.abs(x - center)))
    if not spread > 0:  # more than half the values equal the median
        spread = float(np.std(x))
    if not spread > 0:
        raise ValueError("zero spread; nothing to fit")
    return (x - center) / spread, center, spread


def _ks(sorted_x: np.ndarray, cdf: np.ndarray) -> float:
    n = sorted_x.size
    i = np.arange(1, n + 1)
    return float(max(np.max(i / n - cdf), np.max(cdf - (i - 1) / n)))


def _make_fit(
    family: str,
    params: dict[str, float],
    x_sorted: np.ndarray,
    mean_ll: float,
    cdf: Callable[[np.ndarray], np.ndarray],
    converged: bool = True,
) -> Fit:
    n, k = x_sorted.size, len(params)
    return Fit(
        family=family,
        params={key: float(v) for key, v in params.items()},
        n=n,
        loglik=float(mean_ll),
        aic=float(2 * k - 2 * n * mean_ll),
        bic=float(k * np.log(n) - 2 * n * mean_ll),
        ks=_ks(x_sorted, np.clip(cdf(x_sorted), 0.0, 1.0)),
        converged=converged,
    )


def _minimise(fun, x0, bounds) -> tuple[np.ndarray, bool]:
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


def _excess_kurtosis(z: np.ndarray) -> float:
    d = z - np.mean(z)
    m2 = np.mean(d * d)
    return float(np.mean(d**4) / m2**2 - 3)


def _multistart(fun, starts, bounds):
    """``(f, theta, ok)`` from the first start; later starts only when it did not converge."""
    best = None
    for x0 in starts:
        theta, ok = _minimise(fun, x0, bounds)
        f = fun(theta)[0]
        if best is None or f < best[0]:
            best = (f, theta, ok)
        if ok:
            break
    return best


# -- closed-form families ---------------------------------------------------------------


def fit_gaussian(values: np.ndarray) -> Fit:
    """Gaussian MLE: sample mean and (biased) standard deviation."""
    x = np.sort(_clean(values))
    loc, scale = float(np.mean(x)), float(np.std(x))
    mean_ll = -0.5 * np.log(2 * np.pi) - np.log(scale) - 0.5
    return _make_fit(
        "gaussian",
        {"loc": loc, "scale": scale},
        x,
        mean_ll,
        lambda v: special.ndtr((v - loc) / scale),
    )


def fit_laplace(values: np.ndarray) -> Fit:
    """Laplace MLE: median and mean absolute deviation from it."""
    x = np.sort(_clean(values))
    loc = float(np.median(x))
    scale = float(np.mean(np.abs(x - loc)))
    mean_ll = -np.log(2 * scale) - 1.0

    def cdf(v: np.ndarray) -> np.ndarray:
        z = (v - loc) / scale
        return np.where(z < 0, 0.5 * np.exp(np.minimum(z, 0)), 1 - 0.5 * np.exp(-np.maximum(z, 0)))

    return _make_fit("laplace", {"loc": loc, "scale": scale}, x, mean_ll, cdf)


# -- numerical families -----------------------------------------------------------------


def fit_logistic(values: np.ndarray) -> Fit:
    """Logistic MLE over (loc, log scale)."""
    x = np.sort(_clean(values))
    z, c, sd = _standardise(x)

    def nll(theta):
        mu, ls = theta
        s = np.exp(ls)
        t = (z - mu) / s
        a = np.abs(t)
        f = np.mean(a + 2 * np.log1p(np.exp(-a))) + ls
        th = np.tanh(t / 2)
        return f, np.array([-np.mean(th) / s, 1 - np.mean(t * th)])

    (mu, ls), ok = _minimise(nll, [0.0, np.log(np.sqrt(3) / np.pi)], [(None, None), (-20, 20)])
    loc, scale = c + sd * mu, sd * np.exp(ls)
    mean_ll = -nll([mu, ls])[0] - np.log(sd)
    return _make_fit(
        "logistic",
        {"loc": loc, "scale": scale},
        x,
        mean_ll,
        lambda v: special.expit((v - loc) / scale),
        ok,
    )


def _t_nll(theta, z):
    mu, ls, lnu = theta
    s, nu = np.exp(ls), np.exp(lnu)
    t = (z - mu) / s
    r = t * t / nu
    l1 = np.log1p(r)
    const = -special.gammaln((nu + 1) / 2) + special.gammaln(nu / 2) + 0.5 * np.log(nu * np.pi)
    f = const + ls + (nu + 1) / 2 * np.mean(l1)
    w = 1 / (1 + r)
    g_mu = -(nu + 1) / (nu * s) * np.mean(t * w)
    g_ls = 1 - (nu + 1) * np.mean(r * w)
    g_nu = (
        -0.5 * special.digamma((nu + 1) / 2)
        + 0.5 * special.digamma(nu / 2)
        + 0.5 / nu
        + 0.5 * np.mean(l1)
        - (nu + 1) / (2 * nu) * np.mean(r * w)
    )
    return f, np.array([g_mu, g_ls, g_nu * nu])


def fit_student_t(values: np.ndarray) -> Fit:
    """Student-t MLE over (loc, log scale, log nu); nu is bounded to [NU_MIN, NU_MAX]."""
    x = np.sort(_clean(values))
    z, c, sd = _standardise(x)
    bounds = [(None, None), (-20, 20), (np.log(NU_MIN), np.log(NU_MAX))]
    k = _excess_kurtosis(z)
    nu0 = float(np.clip(4 + 6 / k, 2.5, 100.0)) if k > 0.06 else 100.0  # t: k = 6 / (nu - 4)
    best = _multistart(
        lambda th: _t_nll(th, z), [[0.0, 0.0, np.log(nu0)], [0.0, 0.0, np.log(4.0)]], bounds
    )
    f, (mu, ls, lnu), ok = best
    loc, scale, nu = c + sd * mu, sd * np.exp(ls), float(np.exp(lnu))
    return _make_fit(
        "student_t",
        {"loc": loc, "scale": scale, "nu": nu},
        x,
        -f - np.log(sd),
        lambda v: special.stdtr(nu, (v - loc) / scale),
        ok,
    )


def _gennorm_profile(theta, z):
    """Gennorm nll with the scale profiled out: s**beta = beta * mean|z - mu|**beta."""
    mu, lb = theta
    b = np.exp(lb)
    d = z - mu
    a = np.maximum(np.abs(d), 1e-12)  # |d|**(b-1) is singular at 0 when b < 1
    la = np.log(a)
    p = np.exp(b * la)
    m = np.mean(p)
    lm = np.log(m)
    f = -lb + np.log(2) + (lb + lm) / b + special.gammaln(1 / b) + 1 / b
    g_mu = -np.mean(np.sign(d) * p / a) / m
    m_b = np.mean(p * la)
    g_b = (
        -1 / b - (lb + lm) / b**2 + (1 / b + m_b / m) / b - special.digamma(1 / b) / b**2 - 1 / b**2
    )
    return f, np.array([g_mu, g_b * b])


def fit_gennorm(values: np.ndarray) -> Fit:
    """Generalised normal ``exp(-|(x - loc)/s|**beta)`` MLE over (loc, log beta), s profiled."""
    x = np.sort(_clean(values))
    z, c, sd = _standardise(x)
    bounds = [(None, None), (np.log(BETA_MIN), np.log(BETA_MAX))]
    b0 = 2.0 if _excess_kurtosis(z) < 1 else 1.0
    best = _multistart(lambda th: _gennorm_profile(th, z), [[0.0, np.log(b0)], [0.0, 0.0]], bounds)
    f, (mu, lb), ok = best
    beta = float(np.exp(lb))
    s_z = (beta * np.mean(np.abs(z - mu) ** beta)) ** (1 / beta)
    loc, scale = c + sd * mu, sd * s_z

    def cdf(v: np.ndarray) -> np.ndarray:
        t = (v - loc) / scale
        return 0.5 + 0.5 * np.sign(t) * special.gammainc(1 / beta, np.abs(t) ** beta)

    return _make_fit(
        "gennorm", {"loc": loc, "scale": scale, "beta": beta}, x, -f - np.log(sd), cdf, ok
    )


# Quartic: p(x) = exp(-t**2/2 - kappa t**4) / (s I(kappa)), t = (x - loc)/s, g = kappa/s**4.
# I(kappa) by the trapezoid rule on a symmetric grid wide enough that the integrand is
# below e**-40 at its ends: spectrally accurate for this smooth, fast-decaying integrand.
_QUAD_POINTS = 4001


def _quartic_grid(kappa: float) -> np.ndarray:
    half = min(np.sqrt(80.0), (40.0 / kappa) ** 0.25) if kappa > 0 else np.sqrt(80.0)
    return np.linspace(-half, half, _QUAD_POINTS)


def quartic_normaliser(kappa: float) -> tuple[float, float]:
    """``(I, dI/dkappa)`` with ``I = ∫ exp(-t**2/2 - kappa t**4) dt`` (trapezoid rule)."""
    t = _quartic_grid(kappa)
    h = t[1] - t[0]
    t4 = t**4
    w = np.exp(-0.5 * t * t - kappa * t4)
    return float(h * (w.sum() - 0.5 * (w[0] + w[-1]))), float(-h * np.sum(t4 * w))


def _quartic_nll(theta, z):
    mu, ls, lk = theta
    s, k = np.exp(ls), np.exp(lk)
    t = (z - mu) / s
    t2 = t * t
    i, di = quartic_normaliser(k)
    f = np.mean(0.5 * t2 + k * t2 * t2) + ls + np.log(i)
    g_mu = -np.mean(t + 4 * k * t2 * t) / s
    g_ls = -np.mean(t2 + 4 * k * t2 * t2) + 1
    g_lk = k * (np.mean(t2 * t2) + di / i)
    return f, np.array([g_mu, g_ls, g_lk])


def quartic_cdf(t: np.ndarray, kappa: float) -> np.ndarray:
    """CDF of the standard quartic density ``∝ exp(-t**2/2 - kappa t**4)``."""
    grid = _quartic_grid(kappa)
    w = np.exp(-0.5 * grid**2 - kappa * grid**4)
    cum = np.concatenate([[0.0], np.cumsum(0.5 * (w[1:] + w[:-1]))])
    return np.interp(t, grid, cum / cum[-1], left=0.0, right=1.0)


def fit_quartic(values: np.ndarray) -> Fit:
    """MLE of ``p(x) ∝ exp(-(x-loc)**2/(2 s**2) - g (x-loc)**4)``, g >= 0.

    Optimised over (loc, log s, log kappa) with ``kappa = g s**4`` dimensionless, so the
    normaliser is one smooth function of one variable; g == 0 is the Gaussian (kappa at
    its lower bound KAPPA_MIN reports g as 0).
    """
    x = np.sort(_clean(values))
    z, c, sd = _standardise(x)
    bounds = [(None, None), (-20, 20), (np.log(KAPPA_MIN), np.log(KAPPA_MAX))]
    k0 = 1e-3 if _excess_kurtosis(z) >= 0 else 0.1
    best = _multistart(
        lambda th: _quartic_nll(th, z), [[0.0, 0.0, np.log(k0)], [0.0, 0.0, np.log(0.1)]], bounds
    )
    f, (mu, ls, lk), ok = best
    kappa = float(np.exp(lk)) if lk > np.log(KAPPA_MIN) + 1e-6 else 0.0
    loc, scale = c + sd * mu, sd * np.exp(ls)
    g = kappa / scale**4
    return _make_fit(
        "quartic",
        {"loc": loc, "scale": scale, "g": g},
        x,
        -f - np.log(sd),
        lambda v: quartic_cdf((v - loc) / scale, kappa),
        ok,
    )


FITTERS: dict[str, Callable[[np.ndarray], Fit]] = {
    "gaussian": fit_gaussian,
    "logistic": fit_logistic,
    "laplace": fit_laplace,
    "student_t": fit_student_t,
    "gennorm": fit_gennorm,
    "quartic": fit_quartic,
}


# -- power-law tail ---------------------------------------------------------------------


def fit_power_law(
    values: np.ndarray, *, min_tail: int = MIN_TAIL, n_candidates: int = 120
) -> PowerLawFit:
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
    return PowerLawFit(
        alpha=float(alpha),
        xmin=xmin,
        n_tail=int(m),
        n=int(n),
        loglik=float(mean_ll),
        ks=ks,
        alpha_se=float((alpha - 1) / np.sqrt(m)),
    )


# -- everything at once ----------------------------------------------------------------


def fit_all(
    values: np.ndarray, *, seed: int = 0, max_samples: int | None = MAX_FIT_SAMPLES
) -> FitReport:
    """Fit every family in :data:`FAMILIES` and the power-law tail on one sample.

    Non-finite values are dropped and counted; above ``max_samples`` finite values the fits
    use a seeded uniform subsample. Degenerate input (fewer than MIN_VALUES finite values,
    or all equal) gives a report with no fits and ``degenerate`` saying why.
    """
    flat = np.asarray(values).ravel()
    finite = np.isfinite(flat)
    x = flat[finite]
    n_finite, n_nonfinite = int(x.size), int(flat.size - x.size)
    if max_samples is not None:
        x = subsample(x, max_samples, seed)
    reason = None
    if x.size < MIN_VALUES:
        reason = f"{x.size} finite values (< {MIN_VALUES})"
    elif np.ptp(x) == 0:
        reason = f"constant ({float(x[0])!r})"
    if reason is not None:
        return FitReport((), None, int(x.size), n_finite, n_nonfinite, reason)
    fits = tuple(FITTERS[name](x) for name in FAMILIES)
    try:
        power = fit_power_law(x)
    except ValueError:
        power = None  # too few distinct non-zero magnitudes for a tail
    return FitReport(fits, power, int(x.size), n_finite, n_nonfinite)
