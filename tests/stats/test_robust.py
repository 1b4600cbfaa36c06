"""Robust z-scores and MAD outliers against a naive float64 implementation."""

from __future__ import annotations

import numpy as np
import pytest

from ckptscope.stats.robust import MAD_TO_SIGMA, mad_outliers, robust_z


def _naive_z(values: list[float]) -> list[float]:
    xs = sorted(values)
    n = len(xs)
    med = (xs[n // 2] + xs[(n - 1) // 2]) / 2
    devs = sorted(abs(x - med) for x in values)
    mad = (devs[n // 2] + devs[(n - 1) // 2]) / 2
    return [(x - med) / (1.482602218505602 * mad) for x in values]


def test_robust_z_matches_naive_and_scipy_constant() -> None:
    from scipy.stats import norm

    assert abs(MAD_TO_SIGMA * norm.ppf(0.75) - 1) < 1e-12
    rng = np.random.default_rng(1)
    for n in (3, 4, 7, 16):
        x = rng.normal(2.0, 0.5, n)
        np.testing.assert_allclose(robust_z(x), _naive_z(list(x)), rtol=1e-12)


def test_one_far_value_is_the_only_outlier() -> None:
    x = np.array([1.0, 1.1, 0.9, 1.05, 0.95, 1.02, 0.98, 5.0])
    assert mad_outliers(x, 3.5).tolist() == [False] * 7 + [True]
    low = x.copy()
    low[-1] = -3.0  # two-sided
    assert mad_outliers(low, 3.5).tolist() == [False] * 7 + [True]
    assert not mad_outliers(x[:7], 3.5).any()  # no far value: none


def test_degenerate_inputs() -> None:
    assert not mad_outliers(np.array([1.0, 9.0])).any()  # fewer than 3 values
    assert np.isnan(robust_z(np.array([1.0, np.nan, 2.0]))).all()  # 2 finite values
    same = np.array([2.0, 2.0, 2.0, 7.0])  # no spread: only the different value stands out
    assert mad_outliers(same).tolist() == [False, False, False, True]
    assert not mad_outliers(np.full(5, 3.0)).any()
    with pytest.raises(ValueError, match="positive"):
        mad_outliers(same, 0.0)


def test_rows_at_once_equal_one_set_at_a_time() -> None:
    """robust_z_rows gives robust_z's values row by row: random rows, NaN/inf, too few
    finite values, no spread, a single different value."""
    from ckptscope.stats.robust import robust_z_rows

    rng = np.random.default_rng(3)
    rows = rng.standard_t(3, size=(40, 12))
    rows[3, [1, 5]] = np.nan
    rows[4, 2] = np.inf
    rows[5, :10] = np.nan  # two finite values: all NaN
    rows[6] = 2.0
    rows[7] = 2.0
    rows[7, 4] = 7.0
    rows[8] = np.nan
    got = robust_z_rows(rows)
    expected = np.stack([robust_z(r) for r in rows])
    np.testing.assert_array_equal(got, expected)
    # every value finite (NumPy's median instead of nanmedian): the same, flat rows too
    finite = np.isfinite(rows).all(axis=1)
    assert finite.sum() > 30 and finite[[6, 7]].all()
    np.testing.assert_array_equal(robust_z_rows(rows[finite]), expected[finite])
    with pytest.raises(ValueError, match="2-D"):
        robust_z_rows(rows[0])
