"""Where the batched tridiagonal reduction (linalg/tridiag.py) spends its GPU time, 1.4b shapes.

98 float32 Gram matrices of 2048 x 2048 on one GPU: the bandwidth of the batched
matrix-vector product the reduction is built on, an eager reduction, a torch profile of a
small one, the graphed reduction (first call and replay), and the peak GPU memory. Run on a
CUDA machine: ``PYTHONPATH=src python -m benchmarks.probe_tridiag_gpu``; it exits without one.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable

import torch
from torch.profiler import ProfilerActivity, profile

from ckptscope.linalg import tridiag

B, N = 98, 2048


def best(fn: Callable[[], object], reps: int = 3) -> float:
    """The fastest of ``reps`` synchronised runs, seconds."""
    times = []
    for _ in range(reps):
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        fn()
        torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    if not torch.cuda.is_available():
        sys.exit("no CUDA device: nothing to probe")
    torch.manual_seed(0)
    x = torch.randn(B, N + 64, N, device="cuda")
    g = x.mT @ x
    del x
    v = torch.randn(B, N, 1, device="cuda")
    full = best(lambda: torch.bmm(g, v))
    print(f"batched gemv, contiguous {N}: {full:.6f} s, {B * N * N * 4 / full / 1e12:.2f} TB/s")
    print(f"batched gemv, strided {N - 1}: {best(lambda: torch.bmm(g[:, 1:, 1:], v[:, 1:])):.6f} s")
    half = N // 2
    print(
        f"batched gemv, strided {half}: {best(lambda: torch.bmm(g[:, half:, half:], v[:, half:])):.6f} s"
    )
    print(f"gemv as (g * vT).sum: {best(lambda: (g * v.mT).sum(-1)):.6f} s")
    print(f"copy of the batch: {best(lambda: g.clone()):.6f} s")
    print(f"eager reduction, block 32: {best(lambda: tridiag.tridiagonalize(g, 32), 1):.3f} s")
    with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
        tridiag.tridiagonalize(g[:, :512, :512].contiguous(), 32)
        torch.cuda.synchronize()
    print(prof.key_averages().table(sort_by="cuda_time_total", row_limit=25))
    for block in (32, 64):
        tridiag.clear_graphs()
        first = best(lambda b=block: tridiag.tridiagonalize_graphed(g, b), 1)
        replay = best(lambda b=block: tridiag.tridiagonalize_graphed(g, b))
        print(f"graphed reduction, block {block}: first {first:.3f} s, replay {replay:.3f} s")
    print(f"peak GPU memory: {torch.cuda.max_memory_allocated() / 1e9:.2f} GB")


if __name__ == "__main__":
    main()
