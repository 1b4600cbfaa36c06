"""The rise_decay norm curve: a planted curve is recovered; failures are records."""

from __future__ import annotations

import numpy as np
import pytest

from ckptscope.stats.curves import MIN_POINTS, fit_rise_decay, rise_decay


def _naive(t: float, a: float, b: float, p: float, c: float) -> float:
    return a + b * (t / c) ** p * np.exp(-t / c)


def test_family_against_naive_formula() -> None:
    for t in (0.0, 1.0, 250.0, 4000.0):
        assert rise_decay(np.array([t]), 3.0, 2.0, 1.5, 300.0)[0] == pytest.approx(
            _naive(t, 3.0, 2.0, 1.5, 300.0), rel=1e-14
        )


@pytest.mark.parametrize("params", [(10.0, 4.0, 1.2, 300.0), (5.0, -1.5, 2.0, 150.0)])
def test_planted_curve_is_recovered(params: tuple[float, ...]) -> None:
    steps = np.array([0, 1, 2, 4, 8, 16, 32, 64, 100, 150, 200, 300, 400, 500, 600])
    fit = fit_rise_decay(steps, rise_decay(steps, *params))
    assert fit.ok and fit.n_points == len(steps)
    np.testing.assert_allclose(fit.params, params, rtol=1e-5)
    later = np.array([800, 1200, 3000])
    np.testing.assert_allclose(fit.predict(later), rise_decay(later, *params), rtol=1e-6)


def test_failures_are_records() -> None:
    short = fit_rise_decay(np.arange(MIN_POINTS - 1), np.ones(MIN_POINTS - 1))
    assert not short.ok and "need 5" in short.error
    assert np.isnan(short.predict(np.array([1, 2]))).all()
    nan = fit_rise_decay(np.arange(8), np.full(8, np.nan))
    assert not nan.ok and "0 finite points" in nan.error
    neg = fit_rise_decay(np.arange(-3, 5), np.ones(8))
    assert not neg.ok and "negative" in neg.error


def test_the_fits_jacobian_matches_central_differences() -> None:
    from ckptscope.stats.curves import _rise_decay_jac, rise_decay

    t = np.array([0.0, 0.01, 0.3, 1.0, 2.5, 7.0])
    params = np.array([0.4, 2.0, 1.3, 0.8])
    jac = _rise_decay_jac(t, *params)
    for k in range(4):
        h = 1e-6 * max(1.0, abs(params[k]))
        up, down = params.copy(), params.copy()
        up[k] += h
        down[k] -= h
        numeric = (rise_decay(t, *up) - rise_decay(t, *down)) / (2 * h)
        np.testing.assert_allclose(jac[:, k], numeric, rtol=1e-6, atol=1e-9)


def test_the_jacobian_at_p_zero_is_finite() -> None:
    """p = 0 (a pure decay): every entry finite, d/dp taken as 0 at t = 0."""
    from ckptscope.stats.curves import _rise_decay_jac

    jac = _rise_decay_jac(np.array([0.0, 0.5, 3.0]), 1.0, 2.0, 0.0, 1.5)
    assert np.isfinite(jac).all() and jac[0, 2] == 0.0
    np.testing.assert_allclose(jac[1:, 1], np.exp(-np.array([0.5, 3.0]) / 1.5))
