"""ESD metrics: the power-law fit on known power laws, ranks and the MP edge on known spectra."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from ckptscope.linalg import (
    effective_rank,
    fit_esd_power_law,
    mp_edge,
    mp_outliers,
    spectral_metrics,
    stable_rank,
)


def pareto(rng: np.random.Generator, alpha: float, n: int, xmin: float = 1.0) -> np.ndarray:
    """Samples of p(x) ∝ x^-alpha for x >= xmin (inverse CDF)."""
    return xmin * (1.0 - rng.random(n)) ** (-1.0 / (alpha - 1.0))


@pytest.mark.parametrize("alpha", [2.0, 3.0, 4.5])
def test_fit_recovers_pareto_alpha(alpha: float) -> None:
    rng = np.random.default_rng(int(alpha * 10))
    fit = fit_esd_power_law(pareto(rng, alpha, 2000))
    assert abs(fit.alpha - alpha) < 0.15 * alpha
    assert fit.ks < 0.05


def test_fit_finds_xmin_above_a_bulk() -> None:
    rng = np.random.default_rng(7)
    bulk = rng.uniform(0.01, 1.0, 1500)  # not a power law
    tail = pareto(rng, 2.5, 500, xmin=1.0)
    fit = fit_esd_power_law(np.concatenate([bulk, tail]))
    assert 0.5 < fit.xmin < 3.0
    assert abs(fit.alpha - 2.5) < 0.4


def test_fixed_xmin_is_the_closed_form_mle() -> None:
    lam = pareto(np.random.default_rng(3), 3.0, 500)
    xmin = float(np.sort(lam)[100])
    tail = lam[lam >= xmin]
    fit = fit_esd_power_law(lam, xmin=xmin)
    assert fit.alpha == pytest.approx(1 + tail.size / np.sum(np.log(tail / xmin)), rel=1e-12)
    assert fit.n_tail == tail.size


def test_fit_degenerate_spectra_are_nan() -> None:
    assert math.isnan(fit_esd_power_law(np.array([1.0])).alpha)
    assert math.isnan(fit_esd_power_law(np.zeros(5)).alpha)
    assert math.isnan(fit_esd_power_law(np.array([])).alpha)


def test_ranks_on_known_spectra() -> None:
    assert stable_rank(np.ones(7)) == pytest.approx(7.0)
    assert effective_rank(np.ones(7)) == pytest.approx(7.0)
    assert stable_rank(np.array([2.0, 0.0, 0.0])) == pytest.approx(1.0)
    assert effective_rank(np.array([2.0, 0.0, 0.0])) == pytest.approx(1.0)
    s = np.array([3.0, 1.0])
    p = s / s.sum()
    assert effective_rank(s) == pytest.approx(math.exp(-np.sum(p * np.log(p))))


def test_mp_edge_bounds_gaussian_noise_and_counts_planted_spikes() -> None:
    rng = np.random.default_rng(0)
    m, n, sigma = 600, 150, 0.02
    noise = sigma * rng.standard_normal((m, n))
    s = np.linalg.svd(noise, compute_uv=False)
    edge = mp_edge((m, n), sigma)
    assert s[0] == pytest.approx(edge, rel=0.03)
    assert mp_outliers(s, (m, n), noise.std()) == 0
    u, _ = np.linalg.qr(rng.standard_normal((m, 3)))
    v, _ = np.linalg.qr(rng.standard_normal((n, 3)))
    spiked = noise + (u * np.array([8.0, 6.0, 4.0]) * edge) @ v.T
    s2 = np.linalg.svd(spiked, compute_uv=False)
    assert mp_outliers(s2, (m, n), spiked.std()) == 3


def test_spectral_metrics_keys() -> None:
    s = np.linspace(2.0, 0.1, 50)
    out = spectral_metrics(s)
    assert {
        "alpha",
        "alpha_ks",
        "stable_rank",
        "effective_rank",
        "spectral_norm",
        "log_norm",
    } <= set(out)
    assert "mp_outliers" not in out
    assert out["spectral_norm"] == 2.0
    assert out["log_norm"] == pytest.approx(math.log10(np.sum(s**2)))
    assert {"mp_edge", "mp_outliers"} <= set(spectral_metrics(s, (100, 50), 0.01))


def naive_fit(lam: np.ndarray) -> tuple[float, float, float]:
    """Clauset's scan written as a plain loop over candidate xmin (the reference)."""
    lam = np.sort(lam[lam > 1e-12 * lam.max()])
    best = (math.nan, math.nan, math.inf)
    for i in range(lam.size - 1):
        tail = lam[i:]
        alpha = 1 + tail.size / np.sum(np.log(tail / lam[i]))
        if not np.isfinite(alpha) or alpha <= 1:
            continue
        model = 1 - (tail / lam[i]) ** (1 - alpha)
        ks = np.max(np.abs(model - np.arange(tail.size) / tail.size))
        if ks < best[2]:
            best = (alpha, lam[i], ks)
    return best


@pytest.mark.parametrize("n", [3, 40, 300])
def test_fit_equals_a_naive_loop(n: int) -> None:
    rng = np.random.default_rng(n)
    lam = np.concatenate([rng.pareto(2.0, n) + 1, rng.random(n)])  # a tail above a bulk
    fit = fit_esd_power_law(lam)
    alpha, xmin, ks = naive_fit(lam)
    assert fit.xmin == xmin
    assert fit.alpha == pytest.approx(alpha, rel=1e-12)
    assert fit.ks == pytest.approx(ks, rel=1e-12)


# CI has no GPU: runs where CUDA is (passed on the H200 device machine)
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_fit_on_cuda_equals_cpu() -> None:
    lam = np.random.default_rng(1).pareto(1.7, 3000) + 1
    cpu, gpu = fit_esd_power_law(lam), fit_esd_power_law(lam, device="cuda")
    assert gpu.xmin == cpu.xmin and gpu.n_tail == cpu.n_tail
    assert gpu.alpha == pytest.approx(cpu.alpha, rel=1e-12)
