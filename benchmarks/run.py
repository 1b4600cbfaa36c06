"""``make bench``: run every benchmark's ``main()``, print the ratios, append to RESULTS.md.

Each module of :data:`MODULES` that exists and has a ``main()`` runs in a child process of
its own (isolated memory, threads and registries; one failure does not stop the rest).
A ``main()`` returning a :class:`~benchmarks.common.BenchResult` contributes its tables;
any other benchmark contributes the tail of what it printed. The run appends one dated
section, naming the machine, to ``benchmarks/RESULTS.md``.

    python -m benchmarks.run                      # everything, full size
    CKPTSCOPE_BENCH_QUICK=1 python -m benchmarks.run --no-write   # smoke run
    python -m benchmarks.run --only bench_weights,bench_memory
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from benchmarks.common import REPO, RESULT_ENV, BenchResult, Ratio, machine

MODULES: tuple[str, ...] = (
    "bench_weights",
    "bench_weights_e2e",
    "bench_spectra",
    "bench_spectra_gpu",
    "bench_swap",
    "bench_memory",
    "bench_demo",
    "bench_ray",
    "bench_store_scale",
    "bench_startup",
)
RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
NO_MAIN = 3  # child exit code: the module has no main()
TAIL_LINES = 40
_PROGRESS = re.compile(r"\d+/\d+ \[|it/s\]")  # progress bars: not results
KNOBS = (
    "CKPTSCOPE_BENCH_QUICK",
    "CKPTSCOPE_BENCH_SHAPES",
    "CKPTSCOPE_BENCH_CHECKPOINTS",
    "CKPTSCOPE_BENCH_REPEATS",
    "CKPTSCOPE_BENCH_E2E_REPEATS",
    "CKPTSCOPE_BENCH_SKIP_NAIVE",
    "CKPTSCOPE_BENCH_SKIP_COLD",
    "CKPTSCOPE_BENCH_DEMO_PRESET",
    "CKPTSCOPE_BENCH_SCALE_MODELS",
    "CKPTSCOPE_BENCH_SCALE_STEPS",
    "CKPTSCOPE_BENCH_SCALE_ANIMATIONS",
    "CKPTSCOPE_BENCH_SCALE_FIGURES",
)


@dataclass
class Outcome:
    """One benchmark module's run."""

    module: str
    status: str  # ok, failed, skipped
    seconds: float = 0.0
    result: BenchResult | None = None
    text: str = ""  # the tail of its output (non-BenchResult benchmarks, failures)

    def markdown(self) -> str:
        """Its part of the RESULTS.md section."""
        if self.result is not None:
            return self.result.markdown() + f"\n_{self.module}: {self.seconds:.0f} s_\n"
        head = f"### {self.module}: {self.status}"
        if self.status == "skipped":
            return f"{head} ({self.text})\n"
        body = self.text.rstrip() or "(no output)"
        return f"{head} ({self.seconds:.0f} s)\n\n```\n{body}\n```\n"


def _child(module: str) -> int:
    """Run one module's main() in this process (the child side)."""
    mod = importlib.import_module(f"benchmarks.{module}")
    main = getattr(mod, "main", None)
    if main is None:
        return NO_MAIN
    sys.argv = [f"benchmarks/{module}.py"]  # benchmarks with argparse get their defaults
    value = main()
    path = os.environ.get(RESULT_ENV)
    if path and isinstance(value, BenchResult) and not Path(path).stat().st_size:
        value.emit()  # returned without emitting: hand it over now
    elif path and value is not None and not isinstance(value, BenchResult | int):
        Path(path).write_text(json.dumps({"kind": "other", "text": str(value)}))
    return int(value) if isinstance(value, int) and not isinstance(value, bool) else 0


def _load(path: Path) -> tuple[BenchResult | None, str]:
    if not path.stat().st_size:
        return None, ""
    data = json.loads(path.read_text())
    if data.pop("kind", None) != "BenchResult":
        return None, str(data.get("text", ""))
    ratios = [Ratio(**r) for r in data.pop("ratios", [])]
    rows = [tuple(r) for r in data.pop("rows", [])]
    return BenchResult(ratios=ratios, rows=rows, **data), ""


def run_module(module: str) -> Outcome:
    """Run one benchmark in a child process, echoing and keeping its output."""
    if not (REPO / "benchmarks" / f"{module}.py").is_file():
        return Outcome(module, "skipped", text="not in this checkout")
    print(f"\n=== {module} ===", flush=True)
    with tempfile.NamedTemporaryFile(prefix=f"{module}-", suffix=".json") as handoff:
        env = {**os.environ, RESULT_ENV: handoff.name, "PYTHONUNBUFFERED": "1"}
        t0 = time.perf_counter()
        proc = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.run", "--child", module],
            cwd=REPO,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
        )
        lines: list[str] = []
        assert proc.stdout is not None
        try:
            for line in proc.stdout:
                sys.stdout.write(line)
                if line.strip() and not _PROGRESS.search(line):
                    lines.append(line)
        except KeyboardInterrupt:  # stop this benchmark; the finished ones are still written
            proc.terminate()
            proc.wait()
            raise
        code = proc.wait()
        seconds = time.perf_counter() - t0
        result, text = _load(Path(handoff.name))
    tail = "".join(lines[-TAIL_LINES:])
    if code == NO_MAIN:
        return Outcome(module, "skipped", seconds, text="no main()")
    if code != 0:
        return Outcome(module, "failed", seconds, text=f"exit code {code}\n{tail}")
    return Outcome(module, "ok", seconds, result, text or (tail if result is None else ""))


def section(outcomes: list[Outcome]) -> str:
    """The dated RESULTS.md section for one run."""
    m = machine()
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    knobs = ", ".join(f"{k}={os.environ[k]}" for k in KNOBS if os.environ.get(k)) or "defaults"
    load = os.getloadavg()
    head = [
        f"## {now}: {m['cpu']}, {m['cores']} cores, {m['ram']} RAM",
        "",
        f"torch {m['torch']}, Python {m['python']}, GPU: {m['gpu']}; settings: {knobs}; "
        f"load average at the end {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} (1/5/15 min).",
        "",
    ]
    return "\n".join(head) + "\n" + "\n".join(o.markdown() for o in outcomes) + "\n"


def summary(outcomes: list[Outcome]) -> str:
    """Every ratio of the run, one per line."""
    out = ["", "=== summary ==="]
    for o in outcomes:
        if o.result is None:
            out.append(f"{o.module}: {o.status} ({o.seconds:.0f} s)")
            continue
        for r in o.result.ratios:
            met = "" if r.met is None else ("  [met]" if r.met else "  [MISSED]")
            target = f" (target {r.target})" if r.target else ""
            out.append(f"{o.module}: {r.label} = {r.value:.2f}{target}{met}")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmarks; 1 if any failed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", help="comma-separated modules (default: all)")
    parser.add_argument("--no-write", action="store_true", help="do not append to RESULTS.md")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return _child(args.child)
    modules = [m.strip() for m in args.only.split(",")] if args.only else list(MODULES)
    unknown = [m for m in modules if m not in MODULES]
    if unknown:
        parser.error(f"unknown benchmark {unknown[0]!r}; known: {', '.join(MODULES)}")
    outcomes: list[Outcome] = []
    for module in modules:
        try:
            outcomes.append(run_module(module))
        except KeyboardInterrupt:
            outcomes.append(Outcome(module, "failed", text="interrupted"))
            rest = modules[len(outcomes) :]
            outcomes += [Outcome(m, "skipped", text="run interrupted") for m in rest]
            break
    print(summary(outcomes))
    if not args.no_write:
        text = section(outcomes)
        if not RESULTS.exists():
            RESULTS.write_text("# Benchmark results\n\nAppended by `make bench`.\n\n")
        with RESULTS.open("a") as f:
            f.write(text)
        print(f"\nappended to {RESULTS}")
    return 1 if any(o.status == "failed" for o in outcomes) else 0


if __name__ == "__main__":
    sys.exit(main())
