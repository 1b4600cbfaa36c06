"""Spectra at log-spaced ranks: the points kept of a spectrum draw the same panel as all."""

from __future__ import annotations

import math

import numpy as np
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from ckptscope.plots.style import DPI
from ckptscope.views.spectra import (
    RANK_BINS_PER_DECADE,
    log_grid,
    log_meta,
    log_spectrum,
    positive_count,
    ranks_of,
)


def spectrum(n: int, seed: int = 0) -> np.ndarray:
    """A falling spectrum: a power-law bulk, a few outliers, a sharp tail, trailing zeros."""
    rng = np.random.default_rng(seed)
    s = np.arange(1, n + 1, dtype=np.float64) ** -0.6 * (1 + 0.05 * rng.random(n))
    s[:4] *= 8
    k = max(n // 20, 1)
    s[-k:] *= np.linspace(1, 1e-4, k)
    s[-3:] = 0
    return np.sort(s)[::-1].copy()


def naive(s: np.ndarray) -> list[int]:
    """Ranks kept, one bin at a time: the smallest and largest positive rank of each bin."""
    bins: dict[int, list[int]] = {}
    for r, v in enumerate(s, start=1):
        if v > 0:
            bins.setdefault(math.floor(math.log10(r) * RANK_BINS_PER_DECADE), []).append(r)
    return sorted({r for ranks in bins.values() for r in (min(ranks), max(ranks))})


def drawn(s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    values, positive = log_spectrum(s)
    return log_grid(positive), values


@pytest.mark.parametrize("n", [0, 1, 2, 3, 50, 768, 5120])
def test_kept_ranks_equal_a_naive_binning(n: int) -> None:
    s = spectrum(n) if n > 20 else np.linspace(2, 1, n)
    ranks, values = drawn(s)
    assert list(ranks) == naive(s)
    np.testing.assert_array_equal(values, s[ranks - 1])
    if n == 5120:
        assert len(ranks) < n / 4  # a large spectrum is thinned
        assert ranks[0] == 1 and ranks[-1] == n - 3  # the first and last positive value


def test_values_out_of_order_are_sorted_first() -> None:
    s = spectrum(2000)
    shuffled = np.random.default_rng(1).permutation(s)
    np.testing.assert_array_equal(log_spectrum(shuffled)[0], log_spectrum(s)[0])
    assert log_spectrum(shuffled)[1] == 1997  # the zeros left out


def test_a_rows_meta_gives_its_ranks_and_hostile_metas_are_refused() -> None:
    s = spectrum(768)
    values, positive = log_spectrum(s)
    (ranks,) = ranks_of([log_meta(positive)])
    assert len(ranks) == len(values) and positive_count(log_meta(positive)) == positive
    np.testing.assert_array_equal(values, s[ranks - 1])
    for bad in (None, "", "[1]", '{"positive": -1, "rank_bins_per_decade": 256}',
                '{"positive": 2.5, "rank_bins_per_decade": 256}',
                '{"positive": true, "rank_bins_per_decade": 256}',
                '{"positive": 10, "rank_bins_per_decade": 32}',
                '{"positive": 1000000000, "rank_bins_per_decade": 256}'):  # fmt: skip
        with pytest.raises(ValueError, match="singular_values_log meta"):
            ranks_of([bad])


def render(points: list[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
    fig = Figure(figsize=(3.4, 2.8), dpi=DPI)
    ax = fig.add_subplot()
    for x, y in points:
        ax.loglog(x, y, lw=0.8)
    ax.set_xlim(0.8, 5120 * 1.25)
    ax.set_ylim(1e-7, 20)
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., :3].astype(int)


def test_thinned_lines_draw_the_same_panel() -> None:
    spectra = [spectrum(5120, seed) for seed in range(3)]
    whole = render([(np.arange(1, s.size + 1)[s > 0], s[s > 0]) for s in spectra])
    thin = render([drawn(s) for s in spectra])
    differ = np.abs(whole - thin).max(axis=2)
    # antialiasing may shift a few edge pixels by a shade; no line moves
    assert (differ > 0).mean() < 0.004, (differ > 0).mean()
    assert (differ > 96).sum() <= 5, (differ > 96).sum()  # 36 at 32 bins a decade
