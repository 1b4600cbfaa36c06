"""The universal grid, streaming histograms, display rebinning and fixed quantiles."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ckptscope.stats import (
    QUANTILE_PROBS,
    UNIVERSAL_GRID,
    HistogramAccumulator,
    UniversalGrid,
    display_edges,
    histogram,
    pool_histograms,
    quantiles,
    rebin,
    subsample,
)


def test_grid_is_symmetric_with_documented_resolution() -> None:
    g = UNIVERSAL_GRID
    e = g.edges
    assert e.size == g.n_bins + 1
    assert np.all(np.diff(e) > 0)
    np.testing.assert_array_equal(e, -e[::-1])
    assert e[g.n_bins // 2] == 0.0
    assert e[-1] == pytest.approx(1e5)
    assert 0.02 < g.relative_resolution < 0.04  # documented: about 2.9%
    big = e[e > 1e-5]
    np.testing.assert_allclose(big[1:] / big[:-1] - 1, g.relative_resolution, rtol=1e-3)
    assert UniversalGrid.from_json(g.to_json()) == g


@pytest.mark.parametrize("scale", [1e-4, 0.02, 3.0, 500.0])
def test_histogram_matches_numpy_on_the_edges(scale: float) -> None:
    x = np.random.default_rng(1).standard_t(3, size=50_000) * scale
    ours = histogram(x)
    ref, _ = np.histogram(x, UNIVERSAL_GRID.edges)
    assert ours.sum() == x.size
    # asinh-computed bins may differ from searchsorted only for values within rounding of an edge
    assert np.abs(ours - ref).sum() <= 4


def test_out_of_range_values_land_in_the_outer_bins_and_nonfinite_are_dropped() -> None:
    counts = histogram(np.array([-1e9, 1e9, np.nan, np.inf, 0.5]))
    assert counts.sum() == 3
    assert counts[0] == 1 and counts[-1] == 1


def test_accumulator_adds_like_one_histogram() -> None:
    rng = np.random.default_rng(2)
    parts = [rng.normal(size=n) for n in (10, 1000, 5000)]
    acc = HistogramAccumulator()
    for p in parts:
        acc.update(p)
    acc.update(np.array([np.nan, -np.inf]))
    np.testing.assert_array_equal(acc.compute(), histogram(np.concatenate(parts)))
    assert acc.n_nonfinite == 2


def test_rebin_preserves_totals_and_exact_sums_on_aligned_edges() -> None:
    x = np.random.default_rng(3).normal(0, 0.02, size=20_000)
    counts = histogram(x)
    edges = display_edges(counts, n_bins=50)
    assert edges[0] < x.min() and edges[-1] > x.max()
    assert rebin(counts, edges).sum() == pytest.approx(x.size)
    aligned = UNIVERSAL_GRID.edges[900:1101:20]  # every 20th universal edge
    expected = np.add.reduceat(counts[900:1100], np.arange(0, 200, 20))
    np.testing.assert_allclose(rebin(counts, aligned), expected, atol=1e-9)
    with pytest.raises(ValueError, match="increasing"):
        rebin(counts, np.array([1.0, 0.0]))


def test_display_edges_of_empty_histograms_is_an_error() -> None:
    with pytest.raises(ValueError, match="empty"):
        display_edges(np.zeros(UNIVERSAL_GRID.n_bins))


def test_pool_sums_blocks() -> None:
    a, b = histogram(np.ones(3)), histogram(-np.ones(5))
    meta = UNIVERSAL_GRID.to_json()
    frame = pd.DataFrame(
        {
            "model": ["m"] * 3,
            "step": [0, 0, 1],
            "component": ["qkv"] * 3,
            "values": [a, b, a],
            "meta": [meta] * 3,
        }
    )
    pooled = pool_histograms(frame)
    assert list(pooled["step"]) == [0, 1]
    np.testing.assert_array_equal(pooled["values"].iloc[0], a + b)
    assert list(pooled["n_pooled"]) == [2, 1]


def test_quantile_probs_are_symmetric_and_reach_the_tails() -> None:
    p = QUANTILE_PROBS
    assert p.size == 199 and np.all(np.diff(p) > 0)
    np.testing.assert_allclose(p + p[::-1], 1.0, atol=1e-15)
    assert p[0] == pytest.approx(1e-6) and p[99] == 0.5


def test_quantiles_are_exact_and_subsampling_is_seeded() -> None:
    x = np.random.default_rng(4).normal(size=10_001).astype(np.float32)
    np.testing.assert_allclose(quantiles(x), np.quantile(x.astype(np.float64), QUANTILE_PROBS))
    a = quantiles(x, max_samples=1000, seed=5)
    np.testing.assert_array_equal(a, quantiles(x, max_samples=1000, seed=5))
    np.testing.assert_array_equal(subsample(x, 100, 7), subsample(x, 100, 7))
    with pytest.raises(ValueError, match="no finite"):
        quantiles(np.array([np.nan]))


@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "float32", "float64"])
def test_tensor_counts_on_the_device_path_equal_numpy(monkeypatch, dtype: str) -> None:
    """The torch binning (used on accelerators) gives NumPy's counts, chunk edges included."""
    import importlib

    import torch

    mod = importlib.import_module("ckptscope.stats.histogram")  # the module, not the function

    rng = np.random.default_rng(4)
    x = rng.standard_t(3, size=30_011) * np.array([1e-6, 0.02, 3.0, 500.0]).repeat(7503)[:30_011]
    x[[5, 17, 29_999]] = [np.nan, np.inf, -6e4]  # -6e4: finite in float16 too
    t = torch.tensor(x, dtype=getattr(torch, dtype))
    monkeypatch.setattr(mod, "DEVICE_CHUNK", 4096)  # eight chunks and a ragged end
    got, bad = mod.tensor_counts(t, force_device_path=True)
    ref = histogram(t.double().numpy() if dtype == "float64" else t.float().numpy())
    assert bad == 2 and got.sum() == x.size - 2
    assert np.abs(got - ref).sum() <= 2  # asinh of torch and NumPy may differ by an ulp at an edge
    cpu, cpu_bad = mod.tensor_counts(t)  # the CPU path is NumPy's, exactly
    np.testing.assert_array_equal(cpu, ref)
    assert cpu_bad == 2
    acc = HistogramAccumulator()
    acc.update(t)
    np.testing.assert_array_equal(acc.compute(), ref)
    assert acc.n_nonfinite == 2


@pytest.mark.skipif(not __import__("torch").cuda.is_available(), reason="needs a CUDA device")
def test_tensor_counts_on_cuda_equal_numpy() -> None:
    import torch

    x = torch.randn(100_003, dtype=torch.float64) * 0.03
    x[7] = float("nan")
    got = histogram(x.cuda())
    assert np.abs(got - histogram(x.numpy())).sum() <= 2 and got.sum() == x.numel() - 1
