"""Maximum-likelihood fits against scipy, winner selection, quartic and power-law fits."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import integrate, stats

from ckptscope.stats import (
    FAMILIES,
    fit_all,
    fit_gaussian,
    fit_gennorm,
    fit_laplace,
    fit_logistic,
    fit_quartic,
    fit_student_t,
    fit_tail_power_law,
)
from ckptscope.stats.fits import quartic_normaliser

N = 20_000

# (our fitter, scipy distribution, its shape args, our shape-parameter names)
CASES = {
    "gaussian": (fit_gaussian, stats.norm, (), ()),
    "logistic": (fit_logistic, stats.logistic, (), ()),
    "laplace": (fit_laplace, stats.laplace, (), ()),
    "student_t": (fit_student_t, stats.t, (3.0,), ("nu",)),
    "gennorm": (fit_gennorm, stats.gennorm, (1.5,), ("beta",)),
}


@pytest.mark.parametrize("family", sorted(CASES))
@pytest.mark.parametrize("scale", [0.02, 5.0])
def test_fit_recovers_own_family_like_scipy(family: str, scale: float) -> None:
    fitter, dist, shapes, names = CASES[family]
    x = dist.rvs(*shapes, loc=0.3 * scale, scale=scale, size=N, random_state=11)
    ours = fitter(x)
    ref = dist.fit(x)
    ref_ll = float(np.mean(dist.logpdf(x, *ref)))
    assert ours.loglik >= ref_ll - 1e-6  # at least as likely as scipy's optimum
    assert ours.loglik == pytest.approx(ref_ll, abs=2e-4)
    for name, true in zip(names, shapes, strict=True):
        assert ours.params[name] == pytest.approx(true, rel=0.08)
    assert ours.params["loc"] == pytest.approx(0.3 * scale, abs=0.05 * scale)
    assert ours.params["scale"] == pytest.approx(scale, rel=0.05)
    assert ours.converged
    k = len(ours.params)
    assert ours.bic == pytest.approx(k * np.log(N) - 2 * N * ours.loglik)
    assert ours.aic == pytest.approx(2 * k - 2 * N * ours.loglik)


def test_ks_matches_scipy_kstest() -> None:
    x = np.random.default_rng(0).normal(1.0, 2.0, size=5000)
    fit = fit_gaussian(x)
    ref = stats.kstest(x, "norm", args=(fit.params["loc"], fit.params["scale"])).statistic
    assert fit.ks == pytest.approx(ref, rel=1e-9)


@pytest.mark.parametrize(
    ("winner", "sample"),
    [
        ("gaussian", lambda rng: rng.normal(0, 0.02, N)),
        ("student_t", lambda rng: 0.02 * rng.standard_t(3, N)),
        ("laplace", lambda rng: rng.laplace(0, 0.02, N)),
    ],
)
def test_winner_is_the_generating_family(winner, sample) -> None:
    report = fit_all(sample(np.random.default_rng(3)))
    assert report.winner == winner
    assert FAMILIES[report.winner_index] == winner
    assert {f.family for f in report.fits} == set(FAMILIES)


def quartic_sample(s: float, g: float, n: int, seed: int) -> np.ndarray:
    grid = np.linspace(-12 * s, 12 * s, 200_001)
    dens = np.exp(-(grid**2) / (2 * s * s) - g * grid**4)
    cdf = integrate.cumulative_trapezoid(dens, grid, initial=0)
    return np.interp(np.random.default_rng(seed).uniform(size=n), cdf / cdf[-1], grid)


@pytest.mark.parametrize(("s", "kappa"), [(1.0, 0.5), (0.02, 0.05), (300.0, 0.2)])
def test_quartic_recovers_parameters_at_any_scale(s: float, kappa: float) -> None:
    g = kappa / s**4
    x = quartic_sample(s, g, N, seed=1)
    fit = fit_quartic(x)
    assert fit.converged and np.isfinite(fit.loglik)
    # the MLE is at least as likely as the truth; s and g trade off, hence loose tolerances
    t = x / s
    true_ll = np.mean(-t * t / 2 - kappa * t**4) - np.log(s * quartic_normaliser(kappa)[0])
    assert fit.loglik >= true_ll - 1e-9
    assert fit.params["scale"] == pytest.approx(s, rel=0.15)
    assert fit.params["g"] == pytest.approx(g, rel=0.5)
    assert abs(fit.params["loc"]) < 0.05 * s


def test_quartic_on_gaussian_data_has_no_quartic_term() -> None:
    fit = fit_quartic(np.random.default_rng(2).normal(0, 3.0, N))
    assert fit.params["g"] * fit.params["scale"] ** 4 < 1e-3
    assert fit.params["scale"] == pytest.approx(3.0, rel=0.03)


def test_quartic_normaliser_matches_quadrature() -> None:
    for kappa in (0.0, 1e-3, 1.0, 1e3):
        ref = integrate.quad(lambda t, k=kappa: np.exp(-t * t / 2 - k * t**4), -np.inf, np.inf)[0]
        assert quartic_normaliser(kappa)[0] == pytest.approx(ref, rel=1e-9)


@pytest.mark.parametrize("alpha", [2.5, 4.0])
def test_power_law_recovers_pareto_exponent(alpha: float) -> None:
    rng = np.random.default_rng(5)
    y = 0.01 * (1 - rng.uniform(size=N)) ** (-1 / (alpha - 1))  # Pareto, xmin 0.01
    x = y * rng.choice([-1.0, 1.0], size=N)
    fit = fit_tail_power_law(x)
    assert fit.alpha == pytest.approx(alpha, abs=4 * fit.alpha_se + 0.02)
    assert fit.xmin >= 0.01
    assert fit.n_tail >= 50


def test_power_law_finds_the_tail_above_a_gaussian_body() -> None:
    rng = np.random.default_rng(6)
    tail = 2.0 * (1 - rng.uniform(size=4000)) ** (-1 / 2.0)  # alpha 3 above 2.0
    x = np.concatenate([rng.normal(0, 0.5, N), tail])
    fit = fit_tail_power_law(x)
    assert fit.alpha == pytest.approx(3.0, abs=0.25)
    assert fit.xmin == pytest.approx(2.0, rel=0.3)


@pytest.mark.filterwarnings("error::RuntimeWarning")
@pytest.mark.parametrize(
    "values",
    [
        np.zeros(1000),
        np.full(500, 0.3),
        np.array([1.0]),
        np.array([1.0, 2.0]),
        np.array([1.0, 2.0, 3.0]),
        np.array([np.nan] * 10),
        np.array([]),
    ],
    ids=["zeros", "constant", "one", "two", "three", "all-nan", "empty"],
)
def test_degenerate_input_gives_a_degenerate_report(values) -> None:
    report = fit_all(values)
    assert report.degenerate is not None
    assert report.fits == () and report.winner is None and report.winner_index is None
    for fitter in (
        fit_gaussian,
        fit_logistic,
        fit_laplace,
        fit_student_t,
        fit_gennorm,
        fit_quartic,
    ):
        with pytest.raises(ValueError):
            fitter(values)
    with pytest.raises(ValueError):
        fit_tail_power_law(values)


@pytest.mark.filterwarnings("error::RuntimeWarning")
def test_nonfinite_values_are_dropped_and_counted() -> None:
    x = np.random.default_rng(7).normal(size=2000)
    x[:5] = np.nan
    x[5:8] = np.inf
    report = fit_all(x)
    assert report.n_nonfinite == 8 and report.n_finite == 1992 and report.n_fit == 1992
    assert all(np.isfinite(f.loglik) for f in report.fits)
    with pytest.raises(ValueError, match="non-finite"):
        fit_gaussian(x)


@pytest.mark.filterwarnings("error::RuntimeWarning")
def test_half_zeros_and_extreme_outliers_fit_without_warnings() -> None:
    rng = np.random.default_rng(8)
    x = np.concatenate([np.zeros(3000), rng.normal(0, 1e-3, 2000), [1e4, -3e4]])
    report = fit_all(x)
    assert report.degenerate is None
    assert all(np.isfinite([f.loglik, f.bic, f.ks]).all() for f in report.fits)


def test_subsample_is_seeded_and_bounded() -> None:
    x = np.random.default_rng(9).standard_t(4, size=50_000)
    a = fit_all(x, seed=1, max_samples=5000)
    b = fit_all(x, seed=1, max_samples=5000)
    assert a.n_fit == 5000 and a.n_finite == 50_000
    assert a.get("student_t").params == b.get("student_t").params
