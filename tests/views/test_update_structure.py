"""Update-size correlations per window against numpy.corrcoef in float64."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ckptscope.errors import UsageError
from ckptscope.views.update_structure import COLUMNS, pearson, update_correlations, windows

STEPS = [1, 2, 4, 8, 16, 32, 64, 100, 200, 300]
SERIES = [("embed", None), ("qkv", 0), ("qkv", 1), ("mlp_in", 0), ("unembed", None)]


def _planted(seed: int = 0, runs=(("s", "m"), ("s", "n"))) -> tuple[pd.DataFrame, np.ndarray]:
    """Rows of two runs (suite, model) and the first run's values as (steps, series) in
    SERIES order."""
    rng = np.random.default_rng(seed)
    rows, values = [], {}
    for suite, model in runs:
        trend = np.exp(-np.arange(len(STEPS)) / 3.0)
        vals = trend[:, None] * np.exp(rng.normal(0, 0.3, (len(STEPS), len(SERIES))))
        values[suite, model] = vals
        for i, step in enumerate(STEPS):
            for j, (comp, block) in enumerate(SERIES):
                rows.append({"suite": suite, "model": model, "step": step, "component": comp, "block": block,
                             "param": "weight", "metric": "rel_dist_prev_per_step",
                             "value": vals[i, j]})  # fmt: skip
    df = pd.DataFrame(rows).sample(frac=1.0, random_state=1)  # store order is not step order
    df["block"] = df["block"].astype("Int32")
    return df, values[runs[0]]


def _matrix(out: pd.DataFrame, model: str, window: str, suite: str = "s") -> np.ndarray:
    part = out[(out.suite == suite) & (out.model == model) & (out.window == window)]
    return part.r.to_numpy().reshape(len(SERIES), len(SERIES))


@pytest.mark.parametrize("log", [True, False])
def test_against_corrcoef(log: bool) -> None:
    rows, vals = _planted()
    out = update_correlations(rows, log=log, window=4)
    assert list(out.columns) == COLUMNS
    x = np.log(vals) if log else vals
    half = len(STEPS) // 2
    for window, picked in (("whole run", x), ("early half", x[:half]), ("late half", x[half:]),
                           ("steps 1-8", x[:4]), ("steps 16-100", x[4:8])):  # fmt: skip
        np.testing.assert_allclose(_matrix(out, "m", window),
                                   np.corrcoef(picked.astype(np.float64), rowvar=False),
                                   rtol=1e-10, atol=1e-12)  # fmt: skip
    # the last window (steps 200, 300) has 2 checkpoints: too few for a correlation
    assert "steps 200-300" not in set(out.window)
    # the order is the drawing order: embed first, unembed last, blocks ascending
    first = out[(out.model == "m") & (out.window == "whole run")].head(len(SERIES))
    blocks = [None if pd.isna(b) else int(b) for b in first.col_block]
    assert list(zip(first.col_component, blocks, strict=True)) == SERIES
    whole = out[out.window == "whole run"].iloc[0]
    assert (whole.start_step, whole.end_step, whole.n_points) == (1, 300, len(STEPS))


def test_detrend_removes_each_steps_mean() -> None:
    rows, vals = _planted(3)
    out = update_correlations(rows, detrend=True)
    x = np.log(vals)
    x = x - x.mean(axis=1, keepdims=True)
    np.testing.assert_allclose(_matrix(out, "m", "whole run"), np.corrcoef(x, rowvar=False),
                               rtol=1e-10, atol=1e-12)  # fmt: skip


def test_missing_and_flat_series() -> None:
    rows, vals = _planted()
    drop = (rows.model == "m") & (rows.step == 4) & (rows.component == "qkv") & (rows.block == 1)
    out = update_correlations(rows[~drop], log=False)
    keep = [i for i, s in enumerate(STEPS) if s != 4]  # step 4 leaves every series' window
    np.testing.assert_allclose(_matrix(out, "m", "whole run"),
                               np.corrcoef(vals[keep], rowvar=False), rtol=1e-10)  # fmt: skip
    x = np.column_stack([np.arange(5.0), np.full(5, 2.0)])
    r = pearson(x)
    assert r[0, 0] == pytest.approx(1.0) and np.isnan(r[0, 1]) and np.isnan(r[1, 1])


def test_windows_and_bad_window() -> None:
    assert [w for w, _ in windows([5, 1, 3])] == ["whole run", "early half", "late half"]
    assert windows([1, 2, 3, 4, 5])[1][1] == [1, 2, 3]
    for bad in (2, 0, 2.5, "4", True):
        with pytest.raises(UsageError, match="option window"):
            update_correlations(_planted()[0], window=bad)  # type: ignore[arg-type]


def test_two_suites_sharing_a_model_name_are_two_runs() -> None:
    """Suites demo and demoB both hold model w64: a correlation matrix each, of its own rows."""
    runs = (("demo", "w64"), ("demoB", "w64"))
    rows, _ = _planted(5, runs)
    x = {}
    for suite, _ in runs:
        part = rows[rows.suite == suite]
        wide = part.assign(b=part.block.fillna(-1)).pivot_table(
            index="step", columns=["component", "b"], values="value"
        )
        x[suite] = np.log(wide[[(c, -1 if b is None else b) for c, b in SERIES]].to_numpy())
    assert not np.allclose(x["demo"], x["demoB"])
    out = update_correlations(rows)
    assert list(out.columns) == COLUMNS
    whole = out[out.window == "whole run"]
    assert sorted(set(zip(whole.suite, whole.model, strict=True))) == list(runs)
    assert len(whole) == 2 * len(SERIES) ** 2
    for suite in ("demo", "demoB"):
        np.testing.assert_allclose(_matrix(out, "w64", "whole run", suite),
                                   np.corrcoef(x[suite], rowvar=False), rtol=1e-10)  # fmt: skip
