"""Run a benchmark in quick mode as a child process and read back the ratios it reports."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]


def quick_result(
    module: str, bench_dir: Path, out: Path, timeout: int = 600, **env: str
) -> dict[str, Any]:
    """``python -m benchmarks.<module>`` with ``CKPTSCOPE_BENCH_QUICK=1`` (a child process:
    a benchmark may register analyses of its own); its result, with ``by_label``: the ratios
    by label. Fails the test with the child's output when it exits non-zero."""
    env = {
        **os.environ,
        "CKPTSCOPE_BENCH_QUICK": "1",
        "CKPTSCOPE_BENCH_DIR": str(bench_dir),
        "CKPTSCOPE_BENCH_RESULT": str(out),
        **env,
    }
    proc = subprocess.run([sys.executable, "-m", f"benchmarks.{module}"], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=timeout)  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    result = json.loads(out.read_text())
    return {**result, "by_label": {r["label"]: r for r in result["ratios"]}}
