"""The experiment's table and verdicts from synthetic curves with known answers."""

from __future__ import annotations

import pandas as pd
import pytest

from ckptscope.experiments.results import analyse, verdicts


def curves(held: dict[tuple[str, int], list[float]], steps: list[int]) -> pd.DataFrame:
    return pd.DataFrame(
        [{"init": i, "seed": s, "step": t, "value": v}
         for (i, s), vals in held.items() for t, v in zip(steps, vals, strict=True)]
    )  # fmt: skip


STEPS = [0, 10, 20, 30]
HELD = {
    ("standard", 0): [9.0, 6.0, 5.0, 4.0],
    ("standard", 1): [9.0, 7.0, 5.5, 4.2],
    ("sampled", 0): [10.0, 5.0, 4.2, 3.8],
    ("sampled", 1): [10.0, 4.0, 3.9, 3.7],
    ("permuted", 0): [10.0, 8.0, 7.0, 6.0],
    ("permuted", 1): [10.0, 8.0, 4.0, 3.9],
}


def test_target_steps_and_verdicts() -> None:
    held = curves(HELD, STEPS)
    train = held[held.step > 0].copy()  # stands in for per-step train losses
    target, rule, rows = analyse(train, held, None, 1.05, window=1)
    assert target == pytest.approx(1.05 * 4.1)
    assert "1.05 x the standard init's final held-out loss" in rule
    by = {r.init: r for r in rows}
    assert [r.init for r in rows] == ["standard", "sampled", "permuted"]
    # standard: 5.0 <= 4.305? no; 4.0 at 30 and 4.2 at 30 -> 30, 30
    assert by["standard"].per_seed == {0: 30, 1: 30}
    assert by["sampled"].per_seed == {0: 20, 1: 10}
    assert by["permuted"].per_seed == {0: None, 1: 20}
    assert by["sampled"].heldout_steps.mean == 15 and by["sampled"].train_steps.mean == 15
    assert by["permuted"].heldout_steps.text() == "20 (20-20); 1 of 2 seeds never"
    assert by["sampled"].final_heldout.lo == 3.7 and by["standard"].initial_heldout.mean == 9.0
    v = verdicts(rows)
    assert v["sampled"].startswith("reached the target faster than standard (every seed)")
    assert "final held-out loss lower than standard" in v["sampled"]
    assert v["permuted"].startswith("steps to target not distinguishable")


def test_a_given_target_is_used_as_given() -> None:
    held = curves(HELD, STEPS)
    target, rule, rows = analyse(held, held, 6.5, 1.05, window=1)
    assert target == 6.5 and rule == "given (--target)"
    assert {r.init: r.per_seed for r in rows}["standard"] == {0: 10, 1: 20}
