"""Maximum-likelihood fitters of the full-support families, one function each.

Each takes the values to fit (finite, at least ``MIN_VALUES``, not all equal; otherwise a
ValueError names the problem) and returns a :class:`~ckptscope.stats._mle.Fit` in data
units. scipy has the same families as ``norm``, ``logistic``, ``laplace``, ``t`` and
``gennorm``; the quartic ``exp(-x**2/(2 s**2) - g x**4)`` is normalised numerically.
"""

from __future__ import annotations

import numpy as np
from scipy import special

from ckptscope.stats._mle import (
    Fit,
    clean_values,
    excess_kurtosis,
    make_fit,
    minimise,
    multistart,
    standardise,
)

#: Student-t degrees of freedom are bounded to this range; NU_MAX means "Gaussian-like".
NU_MIN, NU_MAX = 0.05, 1e4
BETA_MIN, BETA_MAX = 0.05, 20.0
#: Quartic ``kappa = g * s**4`` (dimensionless) bounds; KAPPA_MIN means "no quartic term".
KAPPA_MIN, KAPPA_MAX = 1e-12, 1e6


def fit_gaussian(values: np.ndarray) -> Fit:
    """Gaussian MLE: sample mean and (biased) standard deviation."""
    x = np.sort(clean_values(values))
    loc, scale = float(np.mean(x)), float(np.std(x))
    mean_ll = -0.5 * np.log(2 * np.pi) - np.log(scale) - 0.5
    return make_fit(
        "gaussian",
        {"loc": loc, "scale": scale},
        x,
        mean_ll,
        lambda v: special.ndtr((v - loc) / scale),
    )


def fit_laplace(values: np.ndarray) -> Fit:
    """Laplace MLE: median and mean absolute deviation from it."""
    x = np.sort(clean_values(values))
    loc = float(np.median(x))
    scale = float(np.mean(np.abs(x - loc)))
    mean_ll = -np.log(2 * scale) - 1.0

    def cdf(v: np.ndarray) -> np.ndarray:
        z = (v - loc) / scale
        return np.where(z < 0, 0.5 * np.exp(np.minimum(z, 0)), 1 - 0.5 * np.exp(-np.maximum(z, 0)))

    return make_fit("laplace", {"loc": loc, "scale": scale}, x, mean_ll, cdf)


# -- numerical families -----------------------------------------------------------------


def fit_logistic(values: np.ndarray) -> Fit:
    """Logistic MLE over (loc, log scale)."""
    x = np.sort(clean_values(values))
    z, c, sd = standardise(x)

    def nll(theta):
        mu, ls = theta
        s = np.exp(ls)
        t = (z - mu) / s
        a = np.abs(t)
        f = np.mean(a + 2 * np.log1p(np.exp(-a))) + ls
        th = np.tanh(t / 2)
        return f, np.array([-np.mean(th) / s, 1 - np.mean(t * th)])

    (mu, ls), ok = minimise(nll, [0.0, np.log(np.sqrt(3) / np.pi)], [(None, None), (-20, 20)])
    loc, scale = c + sd * mu, sd * np.exp(ls)
    mean_ll = -nll([mu, ls])[0] - np.log(sd)
    return make_fit(
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
    x = np.sort(clean_values(values))
    z, c, sd = standardise(x)
    bounds = [(None, None), (-20, 20), (np.log(NU_MIN), np.log(NU_MAX))]
    k = excess_kurtosis(z)
    nu0 = float(np.clip(4 + 6 / k, 2.5, 100.0)) if k > 0.06 else 100.0  # t: k = 6 / (nu - 4)
    best = multistart(
        lambda th: _t_nll(th, z), [[0.0, 0.0, np.log(nu0)], [0.0, 0.0, np.log(4.0)]], bounds
    )
    f, (mu, ls, lnu), ok = best
    loc, scale, nu = c + sd * mu, sd * np.exp(ls), float(np.exp(lnu))
    return make_fit(
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
    x = np.sort(clean_values(values))
    z, c, sd = standardise(x)
    bounds = [(None, None), (np.log(BETA_MIN), np.log(BETA_MAX))]
    b0 = 2.0 if excess_kurtosis(z) < 1 else 1.0
    best = multistart(lambda th: _gennorm_profile(th, z), [[0.0, np.log(b0)], [0.0, 0.0]], bounds)
    f, (mu, lb), ok = best
    beta = float(np.exp(lb))
    s_z = (beta * np.mean(np.abs(z - mu) ** beta)) ** (1 / beta)
    loc, scale = c + sd * mu, sd * s_z

    def cdf(v: np.ndarray) -> np.ndarray:
        t = (v - loc) / scale
        return 0.5 + 0.5 * np.sign(t) * special.gammainc(1 / beta, np.abs(t) ** beta)

    return make_fit(
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
    x = np.sort(clean_values(values))
    z, c, sd = standardise(x)
    bounds = [(None, None), (-20, 20), (np.log(KAPPA_MIN), np.log(KAPPA_MAX))]
    k0 = 1e-3 if excess_kurtosis(z) >= 0 else 0.1
    best = multistart(
        lambda th: _quartic_nll(th, z), [[0.0, 0.0, np.log(k0)], [0.0, 0.0, np.log(0.1)]], bounds
    )
    f, (mu, ls, lk), ok = best
    kappa = float(np.exp(lk)) if lk > np.log(KAPPA_MIN) + 1e-6 else 0.0
    loc, scale = c + sd * mu, sd * np.exp(ls)
    g = kappa / scale**4
    return make_fit(
        "quartic",
        {"loc": loc, "scale": scale, "g": g},
        x,
        -f - np.log(sd),
        lambda v: quartic_cdf((v - loc) / scale, kappa),
        ok,
    )
