"""Smoke test of the weights benchmark: quick mode, tiny shapes, no timing assertions."""

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]


def test_weights_benchmark_quick_mode_produces_ratios(tmp_path):
    out = tmp_path / "result.json"
    env = {
        **os.environ,
        "CKPTSCOPE_BENCH_QUICK": "1",
        "CKPTSCOPE_BENCH_DIR": str(tmp_path / "suites"),
        "CKPTSCOPE_BENCH_SKIP_COLD": "1",
        "CKPTSCOPE_BENCH_RESULT": str(out),
    }
    # a child process: the benchmark registers an analysis of its own
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.bench_weights"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    result = json.loads(out.read_text())
    ratios = {r["label"]: r["value"] for r in result["ratios"]}
    for label in (
        "naive / ckptscope full (wall)",
        "naive / ckptscope moments-only (wall)",
        "ckptscope moments-only / floor (wall)",
        "ckptscope full / floor x reads (wall)",
    ):
        assert math.isfinite(ratios[label]) and ratios[label] > 0
    assert (tmp_path / "suites" / "tiny-bench-2" / "tiny-bench" / "step1000").is_dir()


def test_weights_e2e_benchmark_quick_mode_has_its_goal_rows(tmp_path):
    out = tmp_path / "result.json"
    env = {
        **os.environ,
        "CKPTSCOPE_BENCH_QUICK": "1",
        "CKPTSCOPE_BENCH_DIR": str(tmp_path / "suites"),
        "CKPTSCOPE_BENCH_RESULT": str(out),
    }
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.bench_weights_e2e"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    result = json.loads(out.read_text())
    ratios = {r["label"]: r for r in result["ratios"]}
    goal = ratios["weights sweep vs naive, fresh processes, 2 ckpts"]
    assert goal["target"] == ">= 20" and math.isfinite(goal["value"]) and goal["value"] > 0
    start = ratios["ckptscope: seconds to the first weight file opened"]
    assert 0 < start["value"] < 600  # the audit hook saw a weight file opened
