"""Peak RSS of a weight sweep, in a child process, against the largest checkpoint file.

Target: peak RSS <= largest checkpoint file + 0.5 GB. The child's peak is its own
(:func:`benchmarks.common.run_measured`: ``wait4``, or its ``VmHWM`` where this process,
which may have just generated the suite, is larger). A second
child that only imports the same modules gives the interpreter + torch baseline.
Sized by the env vars of :mod:`benchmarks.common`.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from benchmarks.common import (
    BenchResult,
    Ratio,
    checkpoint_files,
    gb,
    make_suite,
    python,
    run_measured,
    spec_from_env,
    warm,
)

ALLOWANCE = 0.5e9  # bytes above the largest checkpoint file

_SWEEP = """
import sys
from pathlib import Path
from ckptscope.engine import SweepConfig, run_sweep
res = run_sweep(SweepConfig(suite=sys.argv[1], out=Path(sys.argv[2]), analyses=("weights",)))
assert not res.failed, res.failed
print("written", res.written)
"""
_IMPORTS = "import torch, ckptscope.engine, ckptscope.analyses.weights"


def main() -> BenchResult:
    """Measure the peak RSS of a weights sweep over the benchmark suite."""
    spec = spec_from_env()
    root = make_suite(spec)
    files = checkpoint_files(root)
    largest = max(f.stat().st_size for f in files)
    warm(files)
    with tempfile.TemporaryDirectory(prefix="ckptscope-mem-") as tmp:
        wall, peak, _ = run_measured([python(), "-c", _SWEEP, str(root), str(Path(tmp) / "store")])
    _, base, _ = run_measured([python(), "-c", _IMPORTS])
    limit = largest + ALLOWANCE
    return BenchResult(
        name="bench_memory: peak RSS of a weights sweep",
        setup=(
            f"`run_sweep(analyses=('weights',))`, executor local, in a child process, over "
            f"{len(files)} fp16 checkpoints of {spec.name} (largest file {gb(largest)})."
        ),
        rows=[
            ("peak RSS, weights sweep", gb(peak)),
            ("peak RSS, imports only (interpreter + torch + ckptscope)", gb(base)),
            ("largest checkpoint file", gb(largest)),
            ("limit: largest file + 0.5 GB", gb(limit)),
            ("sweep wall time", f"{wall:.1f} s"),
        ],
        ratios=[
            Ratio(
                "peak RSS / (largest file + 0.5 GB)",
                peak / limit,
                "<= 1",
                peak <= limit,
            ),
            Ratio("(peak RSS - imports) / largest file", (peak - base) / largest),
        ],
    ).emit()


if __name__ == "__main__":
    main()
