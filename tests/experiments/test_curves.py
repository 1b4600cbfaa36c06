"""Seed bands, trailing means, steps to a target and seed spreads against naive loops."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ckptscope.experiments.curves import (
    compare,
    seed_bands,
    spread,
    steps_to_target,
    trailing_mean,
)


def test_seed_bands_match_a_naive_loop() -> None:
    gen = np.random.default_rng(0)
    rows = pd.DataFrame(
        [{"init": i, "seed": s, "step": t, "value": float(gen.normal())}
         for i in ("a", "b") for s in (0, 1, 2) for t in (0, 5, 10) if not (i == "b" and s == 2 and t == 10)]
    )  # fmt: skip
    bands = seed_bands(rows)
    assert list(bands.columns) == ["init", "step", "mean", "lo", "hi", "n"]
    for _, b in bands.iterrows():
        vals = [r.value for r in rows.itertuples() if r.init == b.init and r.step == b.step]
        assert b["mean"] == pytest.approx(sum(vals) / len(vals))
        assert (b.lo, b.hi, b.n) == (min(vals), max(vals), len(vals))
    assert bands[(bands.init == "b") & (bands.step == 10)].n.item() == 2
    assert seed_bands(rows.iloc[:0]).empty


def test_trailing_mean_matches_a_naive_window() -> None:
    x = np.random.default_rng(1).normal(size=57)
    for w in (1, 4, 20, 100):
        ref = [float(np.mean(x[max(0, i - w + 1) : i + 1])) for i in range(len(x))]
        np.testing.assert_allclose(trailing_mean(x, w), ref, rtol=1e-12)
    with pytest.raises(ValueError, match="window"):
        trailing_mean(x, 0)


def test_steps_to_target() -> None:
    steps, loss = [0, 1, 2, 4, 8, 16], [9.0, 8.0, 7.0, 6.5, 7.2, 6.0]
    assert steps_to_target(steps, loss, 6.5) == 4  # at or below, the first in step order
    assert steps_to_target(steps[::-1], loss[::-1], 6.5) == 4  # unsorted input
    assert steps_to_target(steps, loss, 5.0) is None
    assert steps_to_target(steps, loss, 9.0) == 0


def test_spread_and_compare() -> None:
    s = spread([100, 140, None])
    assert (s.mean, s.lo, s.hi, s.reached, s.seeds) == (120, 100, 140, 2, 3)
    assert s.text() == "120 (100-140); 1 of 3 seeds never"
    assert spread([None, None]).text() == "not reached (2 seeds)"
    fast, slow, mid = spread([10, 20]), spread([30, 40]), spread([15, 35])
    assert compare(fast, slow) == "lower" and compare(slow, fast) == "higher"
    assert compare(mid, fast) == "overlap" and compare(mid, slow) == "overlap"
    assert compare(spread([None, None]), fast) == "higher"
    assert compare(spread([10, None]), slow) == "overlap"  # one seed never reached
