"""The README's "Watching your own training run" blocks run, at a toy size, from a fresh
process on the shipped corpus (``tests/test_readme.py`` runs them as written, with the rest)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import ckptscope as cs
from ckptscope.watch import watch_steps

README = Path(__file__).resolve().parents[2] / "README.md"
#: the blocks' size line, and what the test runs instead
SIZES = "STEPS, WIDTH, SEQ = 200, 64, 64"
TOY_SIZES = "STEPS, WIDTH, SEQ = 12, 32, 16"

pytestmark = pytest.mark.slow


def section_blocks() -> list[str]:
    text = README.read_text(encoding="utf-8")
    section = text.split("### Watching your own training run", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", section, flags=re.S)


def test_watch_blocks_run_at_a_toy_size(tmp_path: Path) -> None:
    blocks = section_blocks()
    assert len(blocks) == 2 and SIZES in blocks[0]
    script = tmp_path / "watch.py"
    script.write_text("\n".join(blocks).replace(SIZES, TOY_SIZES), encoding="utf-8")
    env = {**os.environ, "CKPTSCOPE_CACHE_DIR": str(tmp_path / "cache"), "HF_HUB_OFFLINE": "1"}
    done = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=900, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert "WatchSummary(" in done.stdout
    store = cs.Store(tmp_path / "runs" / "watched")
    steps = store.query("select model, count(distinct step) as n from tasks group by model")
    expected = len(watch_steps(12))  # both watched every scheduled step's weights
    assert dict(zip(steps.model, steps.n, strict=True)) == {"loop": expected, "hf-run": expected}
