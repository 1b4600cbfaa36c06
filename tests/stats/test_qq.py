"""QQ data: standard quantiles against scipy; a sample of the fitted family lies on y = x."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from ckptscope.stats import (
    QUANTILE_PROBS,
    TAIL_PROBS,
    fit_gaussian,
    fit_logistic,
    fit_tail_power_law,
    qq_location_scale,
    qq_power_law,
    quantiles,
    standard_quantiles,
)


def test_standard_quantiles_match_scipy() -> None:
    np.testing.assert_allclose(standard_quantiles("gaussian"), stats.norm.ppf(QUANTILE_PROBS))
    np.testing.assert_allclose(standard_quantiles("logistic"), stats.logistic.ppf(QUANTILE_PROBS))
    with pytest.raises(ValueError, match="cauchy"):
        standard_quantiles("cauchy")


@pytest.mark.parametrize(
    ("fitter", "dist"), [(fit_gaussian, stats.norm), (fit_logistic, stats.logistic)]
)
def test_own_family_lies_on_the_diagonal_in_the_bulk(fitter, dist) -> None:
    x = dist.rvs(loc=0.1, scale=0.02, size=50_000, random_state=0)
    qq = qq_location_scale(fitter(x), quantiles(x))
    assert qq.shape == (2, QUANTILE_PROBS.size)
    bulk = (QUANTILE_PROBS > 0.01) & (QUANTILE_PROBS < 0.99)
    np.testing.assert_allclose(qq[1, bulk], qq[0, bulk], atol=0.08)


def test_only_resolved_probabilities_are_kept() -> None:
    x = np.random.default_rng(3).normal(size=1000)
    qq = qq_location_scale(fit_gaussian(x), quantiles(x), n=x.size)
    kept = QUANTILE_PROBS[(QUANTILE_PROBS >= 1e-3) & (QUANTILE_PROBS <= 1 - 1e-3)]
    assert qq.shape == (2, kept.size)
    np.testing.assert_allclose(qq[0], stats.norm.ppf(kept))


def test_heavy_tails_bend_away_from_the_gaussian_line() -> None:
    x = np.random.default_rng(1).standard_t(3, size=50_000)
    qq = qq_location_scale(fit_gaussian(x), quantiles(x))
    assert qq[1, -1] > 2 * qq[0, -1]  # the far tail lies well above y = x


def test_power_law_qq_of_a_pareto_sample_is_near_the_diagonal() -> None:
    rng = np.random.default_rng(2)
    y = (1 - rng.uniform(size=20_000)) ** (-1 / 1.5)  # alpha 2.5
    fit = fit_tail_power_law(y)
    qq = qq_power_law(y, fit)
    probs, lo = TAIL_PROBS, 1 / fit.n_tail
    p = probs[(probs >= lo) & (probs <= 1 - lo)]
    assert qq.shape == (2, p.size)
    mid = (p > 0.05) & (p < 0.95)
    np.testing.assert_allclose(np.log(qq[1, mid]), np.log(qq[0, mid]), atol=0.15)
