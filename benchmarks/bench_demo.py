"""Wall time and peak RSS of ``ckptscope demo --out <tmp>`` (train, sweep, report).

Runs the installed CLI in a child process; its peak RSS comes from ``os.wait4``. The
preset is ``CKPTSCOPE_BENCH_DEMO_PRESET`` (default ``demo``; ``tiny`` in quick mode).
Goals (the demo preset): the whole demo within 5 minutes on 2 idle cores, and its report
no slower than its sweep.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
import tempfile
from pathlib import Path

from benchmarks.common import BenchResult, Ratio, gb, quick, run_measured

DEMO_BUDGET_S = 300.0


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
        phases = re.search(r"train (\d+) s, sweep (\d+) s, report (\d+) s", text)
        disk = sum(f.stat().st_size for f in out.rglob("*") if f.is_file())
        shutil.rmtree(out, ignore_errors=True)
    ratios = []
    if phases:
        _, sweep_s, report_s = (float(x) for x in phases.groups())
        ratios.append(Ratio("report time / sweep time", report_s / max(sweep_s, 1.0), "<= 1",
                            report_s <= sweep_s))  # fmt: skip
    if preset == "demo":
        ratios.append(Ratio("demo wall time / 5 minutes", wall / DEMO_BUDGET_S, "<= 1",
                            wall <= DEMO_BUDGET_S))  # fmt: skip
    return BenchResult(
        name="bench_demo: `ckptscope demo` end to end",
        setup=f"`ckptscope demo --out <tmp> --preset {preset}` in a child process.",
        rows=[
            ("wall time (train + sweep + report)", f"{wall:.1f} s"),
            ("peak RSS", gb(peak)),
            ("output on disk", gb(disk)),
            ("figures drawn", figures.group(1) if figures else "?"),
            (
                "train, sweep, report",
                "{} s, {} s, {} s".format(*phases.groups()) if phases else "?",
            ),
        ],
        ratios=ratios,
    ).emit()


if __name__ == "__main__":
    main()
