"""Wall time and peak RSS of ``ckptscope demo --out <tmp>`` (train, sweep, report).

Runs the installed CLI in a child process; its peak RSS comes from ``os.wait4``. The
preset is ``CKPTSCOPE_BENCH_DEMO_PRESET`` (default ``demo``; ``tiny`` in quick mode).
"""

from __future__ import annotations

import os
import re
import shutil
import sys
import tempfile
from pathlib import Path

from benchmarks.common import BenchResult, gb, quick, run_measured


def _cli() -> list[str]:
    """The ``ckptscope`` entry point beside this interpreter, else ``python -m ckptscope``."""
    exe = Path(sys.executable).with_name("ckptscope")
    return [str(exe)] if exe.is_file() else [sys.executable, "-m", "ckptscope"]


def main() -> BenchResult:
    """Time the demo end to end and measure its peak memory."""
    preset = os.environ.get("CKPTSCOPE_BENCH_DEMO_PRESET") or ("tiny" if quick() else "demo")
    with tempfile.TemporaryDirectory(prefix="ckptscope-demo-") as tmp:
        out = Path(tmp) / "demo"
        cmd = [*_cli(), "demo", "--out", str(out), "--preset", preset]
        wall, peak, text = run_measured(cmd)
        figures = re.search(r"(\d+) figures", text)
        disk = sum(f.stat().st_size for f in out.rglob("*") if f.is_file())
        shutil.rmtree(out, ignore_errors=True)
    return BenchResult(
        name="bench_demo: `ckptscope demo` end to end",
        setup=f"`ckptscope demo --out <tmp> --preset {preset}` in a child process.",
        rows=[
            ("wall time (train + sweep + report)", f"{wall:.1f} s"),
            ("peak RSS", gb(peak)),
            ("output on disk", gb(disk)),
            ("figures drawn", figures.group(1) if figures else "?"),
        ],
    ).emit()


if __name__ == "__main__":
    main()
