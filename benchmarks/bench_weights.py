"""Weight statistics: ckptscope against the naive sweep and the I/O floor, side by side.

Measured in one run over the same generated suite (fp16, Pythia-160m's shapes by default):

* **naive** (:mod:`benchmarks.naive`): ``from_pretrained`` + NumPy/SciPy per parameter;
* **ckptscope full**: ``run_sweep(analyses=("weights",))``, executor local: moments plus the
  distances to step 0 and to the previous checkpoint, so it reads up to 3 tensors per
  parameter; store writes and derivations included;
* **ckptscope moments-only**: the same sweep and analysis code without references (no
  distances): what the naive sweep computes, less its histogram, reading each tensor once;
* **I/O floor**: every tensor through ``safetensors.safe_open(..., framework="pt")`` and
  copied into process memory (``get_tensor`` alone returns a lazy memory map in
  safetensors >= 0.6 and reads nothing); ``floor x reads`` reads exactly the tensors the
  full analysis reads (current, initial, previous).

Warm: files in the page cache (each measurement the median of ``CKPTSCOPE_BENCH_REPEATS``).
Cold: the files dropped from the page cache (``POSIX_FADV_DONTNEED``) before each run.
CPU seconds (all threads of this process) are reported beside wall seconds: on a shared
machine they are the steadier figure.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from benchmarks.common import (
    BenchResult,
    Ratio,
    checkpoint_files,
    env_flag,
    evict,
    make_suite,
    repeats,
    spec_from_env,
    warm,
)
from benchmarks.naive import naive_sweep
from ckptscope.analyses.base import Analysis, CheckpointContext, Record, register_analysis
from ckptscope.analyses.weights import WeightStats

SPEED_TARGET = 20.0  # naive / ckptscope
FLOOR_TARGET = 1.5  # ckptscope / I/O floor


@register_analysis
class MomentsOnly(Analysis):
    """Benchmark-only: the weights analysis with no references, so no distances."""

    name = "bench_moments"

    def run(self, ctx: CheckpointContext) -> Iterable[Record]:
        alone = CheckpointContext(ctx.suite, ctx.checkpoint, ctx.adapter, options=ctx.options)
        return WeightStats().run(alone)


def _measure(
    fn: Callable[[], Any], n: int, before: Callable[[], Any] | None = None
) -> tuple[float, float]:
    """Median (wall, CPU) seconds of ``n`` calls; ``before`` runs untimed first."""
    walls, cpus = [], []
    for _ in range(n):
        if before is not None:
            before()
        w0, c0 = time.perf_counter(), time.process_time()
        fn()
        walls.append(time.perf_counter() - w0)
        cpus.append(time.process_time() - c0)
    return statistics.median(walls), statistics.median(cpus)


def _read_all(paths: list[Path]) -> int:
    """Copy every tensor of each file into memory through ``safe_open``; bytes read."""
    from safetensors import safe_open

    total = 0
    for path in paths:
        with safe_open(str(path), framework="pt", device="cpu") as f:
            for key in f.keys():  # noqa: SIM118 (safe_open is not a mapping)
                t = f.get_tensor(key).clone()  # the clone is the read: get_tensor maps lazily
                total += t.numel() * t.element_size()
    return total


def _analysis_reads(files: list[Path]) -> list[Path]:
    """The files the full weights analysis reads, in order: current, initial, previous."""
    reads: list[Path] = []
    for i, f in enumerate(files):
        reads.append(f)
        refs = {files[0], files[i - 1]} - {f} if i else set()
        reads += sorted(refs)
    return reads


def _sweep(root: Path, analysis: str, device: str = "cpu") -> None:
    from ckptscope.engine import SweepConfig, run_sweep

    with tempfile.TemporaryDirectory(prefix="ckptscope-bench-") as tmp:
        config = SweepConfig(
            suite=str(root), out=Path(tmp) / "store", analyses=(analysis,), device=device
        )
        result = run_sweep(config)
    if result.failed:
        raise RuntimeError(f"sweep failed: {next(iter(result.failed.values()))}")


def main() -> BenchResult:
    """Run the naive sweep, ckptscope and the I/O floor over one suite; report ratios."""
    import torch

    spec = spec_from_env()
    root = make_suite(spec)
    files = checkpoint_files(root)
    n = repeats()
    reads = _analysis_reads(files)
    size = sum(f.stat().st_size for f in files)

    warm(files)
    t: dict[str, tuple[float, float]] = {}
    t["floor"] = _measure(lambda: _read_all(files), n)
    t["floor_reads"] = _measure(lambda: _read_all(reads), n)
    t["full"] = _measure(lambda: _sweep(root, "weights"), n)
    t["moments"] = _measure(lambda: _sweep(root, "bench_moments"), n)
    gpu = torch.cuda.is_available() and not env_flag("CKPTSCOPE_BENCH_SKIP_GPU")
    if gpu:
        t["full_gpu"] = _measure(lambda: _sweep(root, "weights", "cuda"), n)
        t["moments_gpu"] = _measure(lambda: _sweep(root, "bench_moments", "cuda"), n)
    naive = None
    if not env_flag("CKPTSCOPE_BENCH_SKIP_NAIVE"):
        from transformers import GPTNeoXForCausalLM  # noqa: F401  (import time not counted)

        w0, c0 = time.perf_counter(), time.process_time()
        naive = naive_sweep([f.parent for f in files])
        t["naive"] = (time.perf_counter() - w0, time.process_time() - c0)
    cold = not env_flag("CKPTSCOPE_BENCH_SKIP_COLD")
    if cold:
        drop = lambda: evict(files)  # noqa: E731
        t["floor_cold"] = _measure(lambda: _read_all(files), 1, drop)
        t["full_cold"] = _measure(lambda: _sweep(root, "weights"), 1, drop)
        t["moments_cold"] = _measure(lambda: _sweep(root, "bench_moments"), 1, drop)
        warm(files)

    def row(key: str, label: str) -> tuple[str, str]:
        wall, cpu = t[key]
        return (label, f"{wall:.2f} s wall, {cpu:.2f} s CPU")

    rows = [
        row("floor", "I/O floor, each file once (warm)"),
        row("floor_reads", f"I/O floor, the full analysis's {len(reads)} file reads (warm)"),
        row("full", "ckptscope weights, full: moments + 2 distances (warm)"),
        row("moments", "ckptscope weights, moments only (warm)"),
    ]
    ratios: list[Ratio] = []
    if naive is not None:
        rows.append(row("naive", "naive sweep (warm)"))
        rows.append(
            (
                "naive phases",
                f"load {naive.load:.1f} s, moments {naive.moments:.1f} s, "
                f"histogram {naive.histogram:.1f} s",
            )
        )
        nw = t["naive"][0]
        no_hist = nw - naive.histogram
        ratios += [
            Ratio(
                "naive / ckptscope full (wall)",
                nw / t["full"][0],
                f">= {SPEED_TARGET:g}",
                nw / t["full"][0] >= SPEED_TARGET,
            ),
            Ratio(
                "naive / ckptscope moments-only (wall)",
                nw / t["moments"][0],
                f">= {SPEED_TARGET:g}",
                nw / t["moments"][0] >= SPEED_TARGET,
            ),
            Ratio(
                "naive without histogram / ckptscope moments-only (wall)", no_hist / t["moments"][0]
            ),
            Ratio("naive / ckptscope full (CPU)", t["naive"][1] / t["full"][1]),
        ]
    ratios += [
        Ratio(
            "ckptscope moments-only / floor (wall)",
            t["moments"][0] / t["floor"][0],
            f"<= {FLOOR_TARGET:g}",
            t["moments"][0] / t["floor"][0] <= FLOOR_TARGET,
        ),
        Ratio(
            "ckptscope full / floor x reads (wall)",
            t["full"][0] / t["floor_reads"][0],
            f"<= {FLOOR_TARGET:g}",
            t["full"][0] / t["floor_reads"][0] <= FLOOR_TARGET,
        ),
        Ratio("ckptscope full / floor, each file once (wall)", t["full"][0] / t["floor"][0]),
        Ratio("ckptscope moments-only / floor (CPU)", t["moments"][1] / t["floor"][1]),
    ]
    if gpu:
        rows += [
            row("full_gpu", f"ckptscope weights, full, on {torch.cuda.get_device_name(0)}"),
            row("moments_gpu", "ckptscope weights, moments only, on the GPU"),
        ]
        ratios += [
            Ratio("ckptscope full CPU / GPU (wall)", t["full"][0] / t["full_gpu"][0]),
            Ratio("ckptscope moments-only GPU / floor (wall)", t["moments_gpu"][0] / t["floor"][0]),
        ]
    if cold:
        rows += [
            row("floor_cold", "I/O floor, each file once (cold)"),
            row("full_cold", "ckptscope weights, full (cold)"),
            row("moments_cold", "ckptscope weights, moments only (cold)"),
        ]
        ratios += [
            Ratio(
                "ckptscope moments-only / floor (cold, wall)",
                t["moments_cold"][0] / t["floor_cold"][0],
            ),
            Ratio(
                "ckptscope full / floor, each file once (cold, wall)",
                t["full_cold"][0] / t["floor_cold"][0],
            ),
        ]
    return BenchResult(
        name="bench_weights: weight statistics vs the naive sweep and the I/O floor",
        setup=(
            f"{len(files)} fp16 checkpoints of {spec.name} ({spec.layers} layers, d "
            f"{spec.d_model}, vocab {spec.vocab}; {size / len(files) / 1e6:.0f} MB each), "
            f"generated in {root}; torch threads {torch.get_num_threads()}, "
            f"load average at start {os.getloadavg()[0]:.1f}; medians of {n} "
            f"(naive and cold: 1 run)."
        ),
        rows=rows,
        ratios=ratios,
        notes=[
            "ckptscope times are whole `run_sweep` calls: planning, store writes and "
            "derivations included.",
            "The naive sweep also draws a 100-bin histogram per tensor; the ratio without "
            "it is given. It computes no distances; 'ckptscope full' does (3 reads/param).",
            *(
                []
                if gpu
                else [
                    "GPU: none on this machine, not measured (a CUDA machine runs the same "
                    "sweeps with device='cuda' and adds rows)."
                ]
            ),
        ],
    ).emit()


if __name__ == "__main__":
    main()
