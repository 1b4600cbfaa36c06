"""Change points on synthetic trajectories with known breaks, and none on flat noise."""

from __future__ import annotations

import numpy as np
import pytest

from ckptscope.stats import MetricSpec, detect_changes, pelt
from ckptscope.stats.changepoint import DEFAULT_SPECS, noise_sigma

# Pythia-like uneven spacing: log-spaced early steps, then every 1000
STEPS = np.r_[0, 2 ** np.arange(10), np.arange(1000, 143_001, 1000)]
N = STEPS.size


def test_pelt_finds_known_breaks_in_white_noise() -> None:
    rng = np.random.default_rng(0)
    y = np.r_[np.zeros(40), 6 * np.ones(30), -2 * np.ones(50)] + rng.normal(size=120)
    assert pelt(y, penalty=2 * np.log(120)) == [40, 70]


def optimal_partitioning(y: np.ndarray, penalty: float, min_size: int) -> list[int]:
    """The same objective by brute-force dynamic programming (no pruning)."""
    n = y.size
    f = np.full(n + 1, np.inf)
    f[0] = -penalty
    last = np.zeros(n + 1, dtype=int)
    for t in range(min_size, n + 1):
        for s in range(0, t - min_size + 1):
            seg = y[s:t]
            v = f[s] + np.sum((seg - seg.mean()) ** 2) + penalty
            if v < f[t]:
                f[t], last[t] = v, s
    out, t = [], n
    while t > 0:
        t = last[t]
        if t > 0:
            out.append(int(t))
    return sorted(out)


@pytest.mark.parametrize("seed", range(6))
def test_pelt_pruning_is_exact(seed: int) -> None:
    rng = np.random.default_rng(seed)
    y = np.repeat(rng.normal(0, 2, 6), 10) + rng.normal(size=60)
    for min_size in (1, 2, 3):
        assert pelt(y, 2 * np.log(60), min_size) == optimal_partitioning(
            y, 2 * np.log(60), min_size
        )


def test_pelt_short_series_and_min_size() -> None:
    assert pelt(np.array([1.0, 5.0, 1.0]), penalty=1.0, min_size=2) == []
    with pytest.raises(ValueError, match="min_size"):
        pelt(np.ones(5), 1.0, min_size=0)


@pytest.mark.parametrize("at", [5, 11, 60, 140])
def test_kurtosis_jump_is_found_at_the_right_checkpoint(at: int) -> None:
    rng = np.random.default_rng(at)
    k = np.where(np.arange(N) < at, 0.1, 2.3) + rng.normal(0, 0.05, N)
    (ch,) = detect_changes(STEPS, k, DEFAULT_SPECS["kurtosis"])
    assert ch.index == at and ch.step == STEPS[at] and ch.prev_step == STEPS[at - 1]
    assert ch.before == pytest.approx(0.1, abs=0.1) and ch.after == pytest.approx(2.3, abs=0.15)


def test_two_breaks_and_a_break_on_a_trend() -> None:
    rng = np.random.default_rng(1)
    i = np.arange(N)
    y = 0.1 + 2.0 * (i >= 30) - 1.5 * (i >= 100) + rng.normal(0, 0.05, N)
    assert [c.index for c in detect_changes(STEPS, y, DEFAULT_SPECS["kurtosis"])] == [30, 100]
    trend = np.linspace(0, 5, N) + 3.0 * (i >= 90) + rng.normal(0, 0.01, N)
    assert [c.index for c in detect_changes(STEPS, trend, DEFAULT_SPECS["kurtosis"])] == [90]


@pytest.mark.parametrize("seed", range(5))
def test_flat_noise_and_smooth_trends_give_nothing(seed: int) -> None:
    rng = np.random.default_rng(seed)
    assert detect_changes(STEPS, rng.normal(0.5, 0.1, N), DEFAULT_SPECS["kurtosis"]) == []
    assert (
        detect_changes(
            STEPS, np.linspace(0, 5, N) + rng.normal(0, 0.02, N), DEFAULT_SPECS["kurtosis"]
        )
        == []
    )
    norm = 10 * np.exp(np.sin(np.linspace(0, 3, N))) * np.exp(rng.normal(0, 0.01, N))
    assert detect_changes(STEPS, norm, DEFAULT_SPECS["norm"]) == []
    assert detect_changes(STEPS, np.ones(N), DEFAULT_SPECS["norm"]) == []


def test_nu_leaving_the_gaussian_regime_on_a_log_scale() -> None:
    rng = np.random.default_rng(2)
    nu = np.where(np.arange(N) < 40, 1e4, 5.0) * np.exp(rng.normal(0, 0.05, N))
    (ch,) = detect_changes(STEPS, nu, DEFAULT_SPECS["t_nu"])
    assert ch.index == 40 and ch.after == pytest.approx(5.0, rel=0.1)
    # wandering between 200 and 1e4 is all "Gaussian": clipped at 100, nothing to report
    assert detect_changes(STEPS, 10 ** rng.uniform(2.3, 4, N), DEFAULT_SPECS["t_nu"]) == []


def test_categorical_winner_ignores_short_blips() -> None:
    w = np.where(np.arange(N) < 30, 0.0, 3.0)
    w[80] = 1.0  # a one-checkpoint blip
    (ch,) = detect_changes(STEPS, w, DEFAULT_SPECS["fit_winner"])
    assert (ch.index, ch.before, ch.after) == (30, 0.0, 3.0)


def test_unsorted_input_and_nan_are_handled() -> None:
    rng = np.random.default_rng(3)
    k = np.where(np.arange(N) < 50, 0.0, 3.0) + rng.normal(0, 0.05, N)
    k[[10, 70]] = np.nan
    perm = rng.permutation(N)
    (ch,) = detect_changes(STEPS[perm], k[perm], DEFAULT_SPECS["kurtosis"])
    assert ch.step == STEPS[50]
    assert detect_changes(STEPS[:3], k[:3], DEFAULT_SPECS["kurtosis"]) == []
    with pytest.raises(ValueError, match="parallel"):
        detect_changes(STEPS, k[:-1])
    with pytest.raises(ValueError, match="transform"):
        MetricSpec("x", "sqrt").apply(k)


def test_log_metrics_drop_non_positive_values() -> None:
    norm = np.r_[0.0, 0.0, 1 + 0.01 * np.arange(2, N)]  # zeros, then a smooth rise
    assert detect_changes(STEPS, norm, DEFAULT_SPECS["norm"]) == []  # not log(0) -> 1


def test_noise_sigma_is_robust_to_a_jump() -> None:
    rng = np.random.default_rng(4)
    y = rng.normal(0, 0.3, 500) + 10 * (np.arange(500) > 250)
    assert noise_sigma(y) == pytest.approx(0.3, rel=0.15)
