"""Norm extrapolation: a planted curve of the family is predicted; a late turn-down is not."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ckptscope.errors import UsageError
from ckptscope.stats.curves import rise_decay
from ckptscope.views.extrapolation import TABLE, extrapolate_norms

STEPS = np.array([0, 1, 2, 4, 8, 16, 32, 64, 100, 150, 200, 250, 300, 400, 500, 600, 800, 1000])
PLANTED = (10.0, 4.0, 1.2, 300.0)  # a, b, p, c: peak at 360, inside the fit range (<= 500)


def _rows(curves: dict[tuple[str, str, int | None], np.ndarray], suite: str = "s") -> pd.DataFrame:
    out = []
    for (model, comp, block), values in curves.items():
        for s, v in zip(STEPS, values, strict=True):
            out.append({"suite": suite, "model": model, "step": int(s), "component": comp, "block": block,
                        "param": "weight", "metric": "norm", "value": float(v)})  # fmt: skip
    return pd.DataFrame(out)


def test_planted_curve_is_predicted_and_turn_down_is_reported() -> None:
    t = STEPS.astype(np.float64)
    # rises and saturates over the fit range, then falls by half: no curve fitted on the
    # first half can know
    turn = np.where(t <= 500, 12 - 4 * np.exp(-t / 100), 12 - 4 * np.exp(-5) - 0.012 * (t - 500))
    rows = _rows({("m", "mlp_in", 0): rise_decay(t, *PLANTED), ("m", "embed", None): turn})
    table, curves = extrapolate_norms(rows, 0.5)
    assert list(table.columns) == TABLE and len(table) == 2
    good = table[table.component == "mlp_in"].iloc[0]
    assert good.status == "ok" and good.fit_end_step == 500 and good.n_fit == 15
    assert good.n_points == len(STEPS)
    np.testing.assert_allclose([good.a, good.b, good.p, good.c], PLANTED, rtol=1e-5)
    assert good.peak_step == pytest.approx(1.2 * 300, rel=1e-5)
    assert good.rel_error_last < 1e-6 and good.max_rel_error < 1e-6
    pred = curves[curves.component == "mlp_in"].predicted.to_numpy()
    np.testing.assert_allclose(pred, rise_decay(t, *PLANTED), rtol=1e-6)

    bad = table[table.component == "embed"].iloc[0]
    assert bad.status == "ok" and pd.isna(bad.block)
    measured, predicted = turn[-1], bad.predicted_last
    assert bad.rel_error_last == pytest.approx(abs(predicted - measured) / measured, rel=1e-12)
    assert bad.rel_error_last > 0.4  # measured ~6, predicted ~12
    in_fit = curves[curves.component == "embed"].in_fit.to_numpy()
    assert in_fit.tolist() == (STEPS <= 500).tolist()


def test_failures_are_rows_not_exceptions() -> None:
    few = pd.DataFrame({"suite": "s", "model": "m", "step": [0, 10, 20, 30, 40, 500], "component": "qkv",
                        "block": 1, "param": "weight", "metric": "norm",
                        "value": [1.0, 2, 3, 4, 5, 6]})  # fmt: skip
    table, _ = extrapolate_norms(few, 0.5)
    assert table.iloc[0].n_fit == 5 and table.iloc[0].status == "ok"  # 5 points: enough
    table, _ = extrapolate_norms(few, 0.05)  # only steps <= 25: 3 points
    row = table.iloc[0]
    assert row.status == "fit failed: 3 finite points in the fit range, need 5"
    assert np.isnan(row.rel_error_last) and np.isnan(row.a)


@pytest.mark.parametrize("bad", [0, 1, 1.5, -0.2, "half", True, float("nan")])
def test_fit_fraction_refused(bad: object) -> None:
    with pytest.raises(UsageError, match="option fit_fraction"):
        extrapolate_norms(pd.DataFrame(columns=["model"]), bad)  # type: ignore[arg-type]


def test_two_suites_sharing_a_model_name_are_fitted_apart() -> None:
    """Suites demo and demoB both hold w64 mlp_in 0: each trajectory is fitted on its own."""
    t = STEPS.astype(np.float64)
    other = (6.0, 2.0, 0.8, 150.0)
    rows = pd.concat([_rows({("w64", "mlp_in", 0): rise_decay(t, *PLANTED)}, "demo"),
                      _rows({("w64", "mlp_in", 0): rise_decay(t, *other)}, "demoB")])  # fmt: skip
    rows = rows.sample(frac=1.0, random_state=2)  # the two runs' rows interleaved
    table, curves = extrapolate_norms(rows, 0.5)
    assert list(table.columns) == TABLE and table.suite.tolist() == ["demo", "demoB"]
    for suite, params in (("demo", PLANTED), ("demoB", other)):
        row = table[table.suite == suite].iloc[0]
        assert row.model == "w64" and row.status == "ok" and row.n_fit == 15
        np.testing.assert_allclose([row.a, row.b, row.p, row.c], params, rtol=1e-5)
        assert row.rel_error_last < 1e-6
        mine = curves[curves.suite == suite]
        assert mine.step.tolist() == STEPS.tolist()
        np.testing.assert_allclose(mine.value, rise_decay(t, *params), rtol=1e-12)
