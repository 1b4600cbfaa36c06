"""The example notebook-scripts in ``examples/`` run as written, from a fresh process."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("script", sorted((REPO / "examples").glob("*.py")), ids=lambda p: p.name)
def test_example_runs(script: Path, tmp_path: Path) -> None:
    env = {**os.environ, "CKPTSCOPE_CACHE_DIR": str(tmp_path / "cache"), "MPLBACKEND": "agg"}
    done = subprocess.run(
        [sys.executable, str(script), str(tmp_path / "work")],
        capture_output=True, text=True, cwd=tmp_path, env=env, timeout=900, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Traceback" not in done.stderr
    assert " 0 failed" in done.stdout
