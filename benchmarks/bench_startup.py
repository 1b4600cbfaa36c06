"""Start-up as a user sees it: whole commands from a fresh process, imports included.

Each command runs ``CKPTSCOPE_BENCH_REPEATS`` times (default 3) as a child process; the
median wall time is reported. The commands, on a demo store (``ckptscope demo``, generated
once into the bench cache; the tiny preset in quick mode):

- ``ckptscope --help``, ``ckptscope query --store STORE SQL`` and ``ckptscope report --help``;
- which heavy modules each command imports (``ckptscope --help``, ``query``, ``suites`` and
  ``report`` of one figure: none of torch and numba; the report needs matplotlib).

Goals (2 cores): ``query`` on the demo store <= 1 s; ``--help``, ``query``, ``suites`` and
``report`` import neither torch nor numba. A weights sweep's start-up (to its first weight
file) is measured by ``bench_weights_e2e.py``.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common import BenchResult, Ratio, cache_dir, env_int, quick

QUERY_BUDGET_S = 1.0
HEAVY = ("torch", "numba", "scipy", "matplotlib")

#: runs the CLI in-process with argv, then prints which heavy modules it imported
_IMPORTS = """
import sys
from ckptscope.cli.app import app
try:
    app(sys.argv[1:], standalone_mode=False)
except SystemExit:
    pass
heavy = sorted(m for m in {heavy!r} if m in sys.modules)
print("IMPORTED " + ",".join(heavy))
"""


def _cli() -> list[str]:
    """The ``ckptscope`` entry point beside this interpreter, else ``python -m ckptscope``."""
    exe = Path(sys.executable).with_name("ckptscope")
    return [str(exe)] if exe.is_file() else [sys.executable, "-m", "ckptscope"]


def _wall(cmd: list[str], repeats: int) -> float:
    """Median wall seconds of ``cmd`` as a fresh process (it must succeed)."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _imported(args: list[str]) -> list[str]:
    code = _IMPORTS.format(heavy=HEAVY)
    out = subprocess.run(
        [sys.executable, "-c", code, *args], check=True, capture_output=True, text=True
    ).stdout
    line = next(x for x in out.splitlines() if x.startswith("IMPORTED"))
    return [m for m in line.removeprefix("IMPORTED ").split(",") if m]


def _demo(preset: str) -> Path:
    """The demo's output folder (suite and store), made once per preset in the cache."""
    root = cache_dir() / f"startup-{preset}"
    if not (root / "store").is_dir():
        shutil.rmtree(root, ignore_errors=True)
        subprocess.run(
            [*_cli(), "demo", "--out", str(root), "--preset", preset],
            check=True,
            capture_output=True,
        )
    return root


def main() -> BenchResult:
    """Time the start-up of the light commands and what they import."""
    preset = os.environ.get("CKPTSCOPE_BENCH_DEMO_PRESET") or ("tiny" if quick() else "demo")
    repeats = env_int("CKPTSCOPE_BENCH_REPEATS", 3, quick_default=1)
    root = _demo(preset)
    store = root / "store"
    sql = "SELECT model, count(*) AS n FROM scalars GROUP BY model"
    help_s = _wall([*_cli(), "--help"], repeats)
    query_s = _wall([*_cli(), "query", "--store", str(store), sql], repeats)
    report_help_s = _wall([*_cli(), "report", "--help"], repeats)
    with tempfile.TemporaryDirectory(prefix="ckptscope-startup-") as tmp:
        imports = {
            "--help": _imported(["--help"]),
            "query": _imported(["query", "--store", str(store), sql]),
            "suites": _imported(["suites", "--help"]),
            "report (F7, one process)": _imported(
                [
                    "report",
                    str(store),
                    "--out",
                    tmp,
                    "--figures",
                    "F7",
                    "--no-animations",
                    "--workers",
                    "1",
                    "--no-progress",
                ]
            ),
        }
    light = all("torch" not in m and "numba" not in m for m in imports.values())
    rows = [
        ("`ckptscope --help`", f"{help_s:.2f} s"),
        ("`ckptscope query` on the demo store", f"{query_s:.2f} s"),
        ("`ckptscope report --help`", f"{report_help_s:.2f} s"),
        *((f"heavy modules imported by {k}", ", ".join(v) or "none") for k, v in imports.items()),
    ]
    ratios = [
        Ratio(
            "query on the demo store / 1 s",
            query_s / QUERY_BUDGET_S,
            "<= 1",
            query_s <= QUERY_BUDGET_S,
        ),
        Ratio("light commands importing torch or numba", float(not light), "0", light),
    ]
    return BenchResult(
        name="bench_startup: whole commands from a fresh process",
        setup=(
            f"`ckptscope demo --preset {preset}` store and suite (cached in {root}); "
            f"medians of {repeats} fresh processes; imports: {json.dumps(HEAVY)}"
        ),
        rows=rows,
        ratios=ratios,
    ).emit()


if __name__ == "__main__":
    main()
