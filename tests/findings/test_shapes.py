"""Trajectory shapes and the size trend against independent references."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.stats

from ckptscope.findings.common import rank_correlation
from ckptscope.findings.shapes import arc, late_share, monotone_share
from ckptscope.names import model_size


def test_rank_correlation_matches_scipy() -> None:
    rng = np.random.default_rng(0)
    for _ in range(20):
        x = rng.integers(0, 5, 9).astype(float).tolist()  # ties included
        y = rng.normal(size=9).tolist()
        assert rank_correlation(x, y) == pytest.approx(scipy.stats.spearmanr(x, y).statistic)


def test_arc_and_shares() -> None:
    steps = np.array([0, 10, 20, 30, 40])
    values = np.array([1.0, 2.0, 4.0, 3.0, 3.5])
    a = arc(steps, values)
    assert (a.first, a.peak, a.last, a.peak_step) == (1.0, 4.0, 3.5, 20)
    assert a.rise == pytest.approx(3.0) and a.decline == pytest.approx(0.125)
    assert monotone_share(values) == pytest.approx(3 / 4)
    # last quarter of 0..40 is 30..40: 3.0 -> 3.5 of a total 2.5 change
    assert late_share(steps, values) == pytest.approx(0.5 / 2.5)


@pytest.mark.parametrize(
    ("name", "size"),
    [("pythia-160m", 160e6), ("pythia-1.4b-deduped", 1.4e9), ("pythia-70m-seed3", 70e6),
     ("w128", 128.0), ("w64-seed1", 64.0), ("mystery", None)],
)  # fmt: skip
def test_model_size(name: str, size: float | None) -> None:
    assert model_size(name) == size


def test_docs_match_the_checks() -> None:
    from pathlib import Path

    from ckptscope.findings.docs import render

    text = (Path(__file__).resolve().parents[2] / "docs" / "findings.md").read_text()
    assert text == render(), "regenerate: python -m ckptscope.findings.docs > docs/findings.md"
