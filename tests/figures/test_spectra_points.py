"""F15's drawn spectra: the points kept of a falling spectrum draw the same panel."""

from __future__ import annotations

import math

import numpy as np
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from ckptscope.figures.spectra import RANK_BINS_PER_DECADE, drawn_points
from ckptscope.plots.style import DPI


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


@pytest.mark.parametrize("n", [1, 2, 3, 50, 768, 5120])
def test_kept_ranks_equal_a_naive_binning(n: int) -> None:
    s = spectrum(n) if n > 20 else np.linspace(2, 1, n)
    ranks, values = drawn_points(s)
    assert list(ranks) == naive(s)
    np.testing.assert_array_equal(values, s[ranks - 1])
    if n == 5120:
        assert len(ranks) < n / 4  # a large spectrum is thinned
        assert ranks[0] == 1 and ranks[-1] == n - 3  # the first and last positive value


def test_unsorted_values_are_drawn_whole() -> None:
    s = spectrum(2000)
    s[100], s[1500] = s[1500], s[100]
    ranks, values = drawn_points(s)
    np.testing.assert_array_equal(ranks, np.arange(1, 1998))  # only the zeros left out
    np.testing.assert_array_equal(values, s[:1997])


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
    thin = render([drawn_points(s) for s in spectra])
    differ = np.abs(whole - thin).max(axis=2)
    # antialiasing may shift a few edge pixels by a shade; no line moves
    assert (differ > 0).mean() < 0.004, (differ > 0).mean()
    assert (differ > 96).sum() <= 5, (differ > 96).sum()  # 36 at 32 bins a decade
