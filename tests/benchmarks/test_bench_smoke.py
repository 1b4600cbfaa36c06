"""Smoke test of the weights benchmark: quick mode, tiny shapes, no timing assertions."""

import math

import pytest

from bench_quick import quick_result

pytestmark = pytest.mark.slow


def test_weights_benchmark_quick_mode_produces_ratios(tmp_path):
    result = quick_result("bench_weights", tmp_path / "suites", tmp_path / "result.json",
                          CKPTSCOPE_BENCH_SKIP_COLD="1")  # fmt: skip
    ratios = {label: r["value"] for label, r in result["by_label"].items()}
    for label in (
        "naive / ckptscope full (wall)",
        "naive / ckptscope moments-only (wall)",
        "ckptscope moments-only / floor (wall)",
        "ckptscope full / floor x reads (wall)",
    ):
        assert math.isfinite(ratios[label]) and ratios[label] > 0
    assert (tmp_path / "suites" / "tiny-bench-2" / "tiny-bench" / "step1000").is_dir()


def test_weights_e2e_benchmark_quick_mode_has_its_goal_rows(tmp_path):
    result = quick_result("bench_weights_e2e", tmp_path / "suites", tmp_path / "result.json")
    ratios = result["by_label"]
    goal = ratios["weights sweep vs naive, fresh processes, 2 ckpts"]
    assert goal["target"] == ">= 20" and math.isfinite(goal["value"]) and goal["value"] > 0
    start = ratios["ckptscope: seconds to the first weight file opened"]
    assert 0 < start["value"] < 600  # the audit hook saw a weight file opened
