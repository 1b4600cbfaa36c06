"""Ray executor overhead against the local executor; one Pythia-160m checkpoint's cost.

1. Overhead, measured side by side in one run on this machine: the same plan (every
   checkpoint of a suite, ``--analyses``) through the ``local`` executor and through a
   local Ray, into fresh stores:

   * ``ray start``: ``ray.init`` of a local Ray (nothing on a running cluster);
   * ``ray serial``: each task asks for every CPU, so one runs at a time, as ``local``
     does: the difference is the executor's own overhead (pickling, scheduling, the
     worker's imports);
   * ``ray parallel``: one CPU per task, one task per core: what a node gives a sweep.

   Each configuration runs its sweeps back to back: the first starts Ray's worker processes
   (cold), the median of the following ones is reported as warm. Suites: a tiny synthetic GPT-NeoX suite, and the
   demo suite (trained into the benchmark cache on the first run) unless quick.
2. Cost of one checkpoint for the capacity plan (docs/capacity.md): ``run_checkpoint``
   with the ``weights`` analysis on a Pythia-160m-shaped fp16 checkpoint, which reads the
   current, previous and initial checkpoints (3 x 324 MB), with a cold and a warm page cache.

Run: ``python -m benchmarks.bench_ray`` (``CKPTSCOPE_BENCH_QUICK=1`` for a smoke run).
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from benchmarks.common import (
    REPO,
    BenchResult,
    Ratio,
    cache_dir,
    checkpoint_files,
    evict,
    gb,
    machine,
    make_suite,
    pythia_160m,
    quick,
    repeats,
    tiny,
    warm,
)
from ckptscope.analyses.base import SweepOptions
from ckptscope.engine import make_executor, plan_sweep, run_checkpoint
from ckptscope.engine.executors import Executor
from ckptscope.engine.executors.ray_cluster import RayExecutor
from ckptscope.sources import open_suite
from ckptscope.store import Store


def sweep_once(suite, executor: Executor, analyses: tuple[str, ...], scratch: Path) -> float:
    """Wall seconds to run every checkpoint of ``suite`` through ``executor``, fresh store."""
    out = Path(tempfile.mkdtemp(dir=scratch))
    store = Store(out)
    steps = {m: suite.steps(m) for m in suite.models()}
    tasks, _ = plan_sweep(suite, store, analyses, steps)
    items = [(suite, store, t, SweepOptions()) for t in tasks]
    t0 = time.perf_counter()
    outcomes = list(executor.map_unordered(run_checkpoint, items))
    seconds = time.perf_counter() - t0
    failed = [err for o in outcomes for err in o.failed.values()]
    if failed:
        raise RuntimeError(f"{len(failed)} analyses failed, e.g. {failed[0]}")
    shutil.rmtree(out)
    return seconds


def cold_and_warm(fn: Callable[[], float], n: int) -> tuple[float, float]:
    """The first call's seconds and the median of the next ``n``."""
    first = fn()
    return first, statistics.median(fn() for _ in range(n))


def overhead(
    name: str, suite_dir: Path, analyses: tuple[str, ...], result: BenchResult, scratch: Path
) -> None:
    """Rows and ratios of local vs Ray sweeps of one suite (Ray must be running)."""
    suite = open_suite(str(suite_dir))
    n_ckpt = sum(len(suite.steps(m)) for m in suite.models())
    cores = os.cpu_count() or 1
    local = make_executor("local")
    serial = RayExecutor(cpus_per_task=cores, threads=1)
    parallel = RayExecutor(cpus_per_task=1, threads=1)
    n = repeats()
    # one configuration after another: interleaving them would make Ray stop and restart
    # workers between them (its pool shrinks while a task shape leaves cores idle)
    cold_l, t_l = cold_and_warm(lambda: sweep_once(suite, local, analyses, scratch), n)
    cold_s, t_s = cold_and_warm(lambda: sweep_once(suite, serial, analyses, scratch), n)
    cold_p, t_p = cold_and_warm(lambda: sweep_once(suite, parallel, analyses, scratch), n)
    label = f"{name} ({n_ckpt} checkpoints, {','.join(analyses)})"
    result.rows += [
        (
            f"{label}: local",
            f"{t_l:.2f} s ({1e3 * t_l / n_ckpt:.0f} ms/checkpoint; first {cold_l:.2f} s)",
        ),
        (f"{label}: ray serial, warm", f"{t_s:.2f} s (first, cold workers: {cold_s:.2f} s)"),
        (f"{label}: ray parallel ({cores} x 1 CPU), warm", f"{t_p:.2f} s (first: {cold_p:.2f} s)"),
        (f"{label}: ray serial overhead", f"{1e3 * (t_s - t_l) / n_ckpt:+.0f} ms/checkpoint"),
    ]
    result.ratios += [
        Ratio(f"{name}: ray serial / local (warm)", t_s / t_l),
        Ratio(f"{name}: ray serial / local (cold workers)", cold_s / t_l),
        Ratio(f"{name}: ray parallel / local (warm)", t_p / t_l),
    ]


def demo_suite() -> Path | None:
    """The demo suite: ``runs/demo/suite``, else one trained into the bench cache (once)."""
    for folder in (REPO / "runs" / "demo" / "suite", cache_dir() / "demo-suite"):
        if (folder / "suite.json").is_file():
            return folder  # as it is, even if the preset has changed since
    try:
        from ckptscope.train import train_suite
    except ImportError:
        return None
    return train_suite(cache_dir() / "demo-suite", preset="demo")


def checkpoint_cost(result: BenchResult) -> None:
    """Seconds of ``run_checkpoint(weights)`` on a Pythia-160m-shaped fp16 checkpoint."""
    spec = pythia_160m(3)
    root = make_suite(spec)
    suite = open_suite(str(root))
    model = suite.models()[0]
    first, prev, last = suite.steps(model)
    files = checkpoint_files(root)
    from ckptscope.engine.plan import CheckpointTask

    task = CheckpointTask(suite.name, model, last, ("weights",), first, prev)
    with tempfile.TemporaryDirectory() as tmp:

        def once() -> tuple[float, int]:
            out = Path(tempfile.mkdtemp(dir=tmp))
            t0 = time.perf_counter()
            outcome = run_checkpoint(suite, Store(out), task, SweepOptions())
            assert outcome.written == ["weights"], outcome.failed
            return time.perf_counter() - t0, outcome.bytes_read

        cold = []
        for _ in range(repeats()):
            evict(files)
            cold.append(once()[0])
        warm(files)
        hot, bytes_read = zip(*(once() for _ in range(repeats())), strict=True)
    size = files[0].stat().st_size
    result.rows += [
        ("pythia-160m shapes: checkpoint file (fp16)", gb(size)),
        (
            "weights analysis: bytes read per checkpoint (current+previous+initial)",
            gb(bytes_read[0]),
        ),
        (
            "weights analysis, 1 thread, cold page cache",
            f"{statistics.median(cold):.2f} s/checkpoint",
        ),
        (
            "weights analysis, 1 thread, warm page cache",
            f"{statistics.median(hot):.2f} s/checkpoint",
        ),
    ]


def main() -> BenchResult:
    """Run both measurements and print the table with the Ray/local ratios."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--analyses", default="weights,spectra", help="analyses swept")
    parser.add_argument("--no-demo", action="store_true", help="skip the demo suite")
    parser.add_argument("--no-cost", action="store_true", help="skip the Pythia-160m cost")
    args, _ = parser.parse_known_args()
    analyses = tuple(a for a in args.analyses.split(",") if a)
    try:
        import ray
    except ImportError:
        result = BenchResult("Ray executor overhead", "skipped: Ray is not installed")
        result.notes.append("pip install 'ckptscope[ray]' to run it")
        return result.emit()
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # local computes with one thread, as Ray tasks do; cost: per core
    logging.basicConfig(level=logging.WARNING)
    mach = machine()
    result = BenchResult(
        "Ray executor overhead",
        f"{mach['cpu']}, {mach['cores']} cores, {mach['ram']}, torch {mach['torch']}, "
        f"ray {ray.__version__}; medians of {repeats()} runs after a first (cold) one.",
    )
    with tempfile.TemporaryDirectory() as tmp:
        scratch = Path(tmp)
        suites = [("tiny", make_suite(tiny(4 if quick() else 12)))]
        if not (quick() or args.no_demo):
            demo = demo_suite()
            if demo is not None:
                suites.append(("demo", demo))
        t0 = time.perf_counter()
        ray.init(
            address="local", num_cpus=os.cpu_count(), include_dashboard=False, log_to_driver=False
        )
        result.rows.append(("ray start (local ray.init)", f"{time.perf_counter() - t0:.1f} s"))
        try:
            for name, root in suites:
                overhead(name, root, analyses, result, scratch)
        finally:
            ray.shutdown()
    if not (quick() or args.no_cost):
        checkpoint_cost(result)
    torch.set_num_threads(threads)
    result.notes.append(
        "ray serial: one task at a time, like local (the executor's own cost); "
        "ray parallel: one task per core. Cold: the first sweep starts Ray's worker processes."
    )
    return result.emit()


if __name__ == "__main__":
    main()
