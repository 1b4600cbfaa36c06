"""Exact moments and distances of large tensors, streamed in float64 chunks.

Float64 accumulation matters: a float32 sum over 10^8 values loses ~4 digits, and the
fourth moment of fp16/bf16 weights overflows in their own dtype.

One pass over the data: each chunk of ``CHUNK`` elements is upcast to float64 once and
centred on its own mean, and its central sums M2, M3, M4 are taken while it sits in the
CPU cache; chunks are then combined exactly (the multi-group form of Chan et al. and
Pébay's update formulas, see :func:`_combine`). Centring per chunk keeps the stability of
a two-pass method without a second pass over memory. Chunks are split between
``devices.cpu_threads()`` Python threads, each running the fused kernel
(``stats/fused.py``) or torch single-threaded: for small in-cache chunks, torch's own
intra-op threads cost more (fork/join and spin) than they save. Every function takes a
torch tensor or a :class:`~ckptscope.sources.host.HostTensor`; the fused kernel reads a
HostTensor without torch, which is imported only for the torch path. Agreement with
NumPy/SciPy in float64 is within 1e-12 relative for mean, std and norm and 1e-10 for
skewness and kurtosis (tests/stats/test_moments.py), for fp32, fp16 and bf16 inputs.
CUDA tensors take the same path with ``DEVICE_CHUNK`` chunks on the calling thread (GPU
figures: not measured yet, see benchmarks/NOTES.md).
"""

from __future__ import annotations

import contextlib
import math
import os
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

import numpy as np

from ckptscope.devices import cpu_threads
from ckptscope.sources.host import HostTensor
from ckptscope.stats import fused

if TYPE_CHECKING:
    import torch

    Tensorish = torch.Tensor | HostTensor

CHUNK = 1 << 16  # elements per float64 chunk: 512 KiB, stays in cache across its passes
#: chunk on accelerators: large, since every chunk costs a host sync (256 MiB of float64)
DEVICE_CHUNK = 1 << 25
#: below this many elements a tensor is processed by the calling thread alone
PARALLEL_MIN = 1 << 20
#: threads per tensor; None: ``devices.cpu_threads()`` (read when a call starts)
WORKERS: int | None = None

#: dtypes the torch path reduces as they are (others are widened to float32 chunk by chunk)
_TORCH_NATIVE = ("torch.float16", "torch.bfloat16", "torch.float32", "torch.float64")

_T = TypeVar("_T")
_pool: ThreadPoolExecutor | None = None  # the span threads, kept: a pool per tensor cost
_pool_lock = threading.Lock()  # 0.5 s of thread starts over a 160m weight sweep
_threads_lock = threading.Lock()
_threads_users = 0
_threads_saved = 1


@dataclass(frozen=True)
class Moments:
    """Norm and standardised moments of all elements of a tensor (population moments)."""

    numel: int
    norm: float
    mean: float
    std: float
    skew: float  # NaN when std == 0
    kurtosis: float  # excess kurtosis; NaN when std == 0
    max_abs: float
    nonfinite: int

    def as_metrics(self) -> dict[str, float]:
        """Metric name -> value, leaving out the undefined ones (moments of a constant)."""
        metrics = {
            "norm": self.norm,
            "mean": self.mean,
            "std": self.std,
            "skew": self.skew,
            "kurtosis": self.kurtosis,
            "max_abs": self.max_abs,
            "numel": float(self.numel),
        }
        return {k: v for k, v in metrics.items() if not math.isnan(v)}


@dataclass(frozen=True)
class _Part:
    """Count, mean and central power sums (not divided by n) of some finite values."""

    n: int
    mean: float
    m2: float
    m3: float
    m4: float


def _on_cpu(t: Tensorish) -> bool:
    return isinstance(t, HostTensor) or t.device.type == "cpu"


def _chunk(t: Tensorish) -> int:
    return CHUNK if _on_cpu(t) else DEVICE_CHUNK


def _flat(t: Tensorish) -> Tensorish:
    """``t`` as one dimension (a HostTensor's data already is)."""
    return t if isinstance(t, HostTensor) else t.reshape(-1)


def _torch(t: Tensorish) -> torch.Tensor:
    """``t`` as a torch tensor (a HostTensor's memory, shared), for the torch path."""
    return t.to_torch() if isinstance(t, HostTensor) else t


@contextmanager
def _single_threaded_torch() -> Iterator[None]:
    """Run torch ops single-threaded while any caller is inside (restored by the last).

    torch has no per-thread setting, so this changes the process-wide thread count for the
    duration of the call only, reference-counted across concurrent callers; it is used
    only on the torch path (no numba, or a dtype the fused kernel does not read).
    """
    global _threads_users, _threads_saved
    import torch

    with _threads_lock:
        if _threads_users == 0:
            _threads_saved = torch.get_num_threads()
            torch.set_num_threads(1)
        _threads_users += 1
    try:
        yield
    finally:
        with _threads_lock:
            _threads_users -= 1
            if _threads_users == 0:
                torch.set_num_threads(_threads_saved)


def _fused(*tensors: Tensorish) -> bool:
    """Whether the fused kernel reads all of ``tensors`` (else the torch path)."""
    return all(fused.supports(x) for x in tensors) and fused.available()


def _map_spans(t: Tensorish, fn: Callable[[int, int], _T], fast: bool | None = None) -> list[_T]:
    """``fn(begin, end)`` over contiguous spans of ``range(t.numel())``, one per thread.

    ``fast``: whether ``fn`` runs the fused kernel (default: whether it reads ``t``);
    ``fn`` never calls this function itself. On an accelerator, one span on the calling
    thread (the device is the parallelism).
    """
    numel = fused._numel(t)
    if not _on_cpu(t):
        return [fn(0, numel)]
    workers = WORKERS or cpu_threads()
    # The fused kernel needs no torch threads; the torch fallback runs its small ops
    # single-threaded (10x faster on 64k-element chunks than with 2 intra-op threads).
    fast = _fused(t) if fast is None else fast
    single = contextlib.nullcontext() if fast else _single_threaded_torch()
    if numel < PARALLEL_MIN or workers <= 1:
        with single:
            return [fn(0, numel)]
    span = -(-numel // workers)
    span = -(-span // CHUNK) * CHUNK  # whole chunks per thread: same result as serial
    bounds = [(b, min(b + span, numel)) for b in range(0, numel, span)]
    if not fast:  # fresh threads: torch's thread setting reaches only threads started now
        with single, ThreadPoolExecutor(len(bounds)) as pool:
            return list(pool.map(lambda be: fn(*be), bounds))
    return list(_span_pool(len(bounds)).map(lambda be: fn(*be), bounds))


def _span_pool(workers: int) -> ThreadPoolExecutor:
    """The fused kernel's span threads, kept (at least ``workers``; spans never wait on
    each other)."""
    global _pool
    with _pool_lock:
        if _pool is None or _pool._max_workers < workers:
            # threads start as work comes; a smaller pool is dropped, never shut down, as a
            # caller may be about to submit to it (its idle threads end when it is freed)
            size = max(workers, os.cpu_count() or 1)
            _pool = ThreadPoolExecutor(size, thread_name_prefix="moments")
        return _pool


def _chunk_part(d: torch.Tensor) -> _Part:
    """Moments of one float64 chunk of finite values; ``d`` is overwritten."""
    import torch

    n = d.numel()
    mean = float(d.sum()) / n
    d.sub_(mean)
    m2 = float(torch.dot(d, d))
    d2 = d.square()
    return _Part(n, mean, m2, float(torch.dot(d2, d)), float(torch.dot(d2, d2)))


def _combine(parts: list[_Part]) -> _Part:
    """Exact moments of the union of disjoint parts.

    With the grand mean ``mu`` and ``e_i = mean_i - mu``, expanding ``(x - mu)^k`` around
    each part's own mean (whose first central sum is zero) gives
    ``M2 = sum M2_i + n_i e_i^2``,
    ``M3 = sum M3_i + 3 e_i M2_i + n_i e_i^3``,
    ``M4 = sum M4_i + 4 e_i M3_i + 6 e_i^2 M2_i + n_i e_i^4``.
    """
    parts = [p for p in parts if p.n]
    n = sum(p.n for p in parts)
    if n == 0:
        return _Part(0, math.nan, math.nan, math.nan, math.nan)
    mu = math.fsum(p.n * p.mean for p in parts) / n
    m2, m3, m4 = [], [], []
    for p in parts:
        e = p.mean - mu
        m2 += [p.m2, p.n * e * e]
        m3 += [p.m3, 3 * e * p.m2, p.n * e**3]
        m4 += [p.m4, 4 * e * p.m3, 6 * e * e * p.m2, p.n * e**4]
    return _Part(n, mu, math.fsum(m2), math.fsum(m3), math.fsum(m4))


def _span_moments(flat: Tensorish, begin: int, end: int) -> tuple[_Part, float, int]:
    """Moments, max |x| and the non-finite count of ``flat[begin:end]``."""
    if _fused(flat):
        rows, max_abs, nonfinite = fused.span_rows(flat, begin, end, CHUNK)
        return _part_of_rows(rows), max_abs, nonfinite
    import torch

    parts: list[_Part] = []
    max_abs = 0.0
    nonfinite = 0
    step = _chunk(flat)
    for i in range(begin, end, step):
        c = flat[i : min(i + step, end)]
        if str(c.dtype) not in _TORCH_NATIVE:  # float8 and the like: no aminmax for them
            c = c.to(torch.float32)
        lo, hi = (float(v) for v in torch.aminmax(c))
        if not (math.isfinite(lo) and math.isfinite(hi)):  # NaN propagates; inf is extreme
            mask = torch.isfinite(c)
            nonfinite += int(c.numel() - int(mask.sum()))
            c = c[mask]
            if not c.numel():
                continue
            lo, hi = (float(v) for v in torch.aminmax(c))
        max_abs = max(max_abs, -lo, hi)
        parts.append(_chunk_part(c.to(torch.float64, copy=True)))
    return _combine(parts), max_abs, nonfinite


def moments(t: Tensorish) -> Moments:
    """Moments over every element of ``t`` (any shape, any float dtype), in float64.

    One pass: per-chunk central sums combined exactly (module docstring). Non-finite
    values are counted and left out.
    """
    flat = _flat(t if _fused(t) else _torch(t))
    return _moments_of(_map_spans(flat, lambda b, e: _span_moments(flat, b, e)))


def moments_and_distances(
    t: Tensorish, refs: tuple[Tensorish, ...]
) -> tuple[Moments, list[tuple[float, float]]]:
    """``moments(t)`` and ``l2_distance_and_norm(t, r)`` for each of ``refs``, same values.

    On the CPU with the fused kernel, one pass over ``t`` (and at most two references):
    each chunk of it is read once for all the sums (``fused.span_rows_and_distances``)
    instead of once per call; the spans, chunks and sums are those of the separate calls.
    """
    fast = len(refs) <= 2 and all(x.shape == t.shape for x in refs) and _fused(t, *refs)
    if not fast:
        return moments(t), [l2_distance_and_norm(t, r) for r in refs]
    flat = _flat(t)
    flat_refs = tuple(_flat(r) for r in refs)

    def span(begin: int, end: int) -> tuple[tuple[_Part, float, int], list[tuple[float, float]]]:
        rows, max_abs, nonfinite, pairs = fused.span_rows_and_distances(
            flat, flat_refs, begin, end, CHUNK
        )
        return (_part_of_rows(rows), max_abs, nonfinite), pairs

    spans = _map_spans(flat, span, fast=True)
    dists = [
        (
            math.sqrt(math.fsum(s[1][k][0] for s in spans)),
            math.sqrt(math.fsum(s[1][k][1] for s in spans)),
        )
        for k in range(len(refs))
    ]
    return _moments_of([s[0] for s in spans]), dists


def _part_of_rows(rows: np.ndarray) -> _Part:
    """The combined part of the fused kernel's per-chunk rows (empty chunks left out)."""
    rows = rows[rows[:, 0] > 0]
    return _combine([_Part(int(r[0]), r[1], r[2], r[3], r[4]) for r in rows.tolist()])


def _moments_of(results: list[tuple[_Part, float, int]]) -> Moments:
    """Moments from each span's (part, max |x|, non-finite count)."""
    total = _combine([r[0] for r in results])
    nonfinite = sum(r[2] for r in results)
    n = total.n
    if n == 0:
        nan = math.nan
        return Moments(0, nan, nan, nan, nan, nan, nan, nonfinite)
    mean = total.mean
    max_abs = max(r[1] for r in results if r[0].n)
    m2, m3, m4 = total.m2 / n, total.m3 / n, total.m4 / n
    # ||t||^2 = n (var + mean^2): exact from the moments, no extra pass.
    norm = math.sqrt(n * (m2 + mean * mean))
    std = math.sqrt(m2)
    if m2 > 0:
        skew = m3 / m2**1.5
        kurt = m4 / (m2 * m2) - 3.0
    else:
        skew = kurt = math.nan
    return Moments(n, norm, mean, std, skew, kurt, max_abs, nonfinite)


def l2_norm(t: Tensorish) -> float:
    """Euclidean (Frobenius) norm of all elements, accumulated in float64."""
    fast = _fused(t)
    flat = _flat(t if fast else _torch(t))
    step = _chunk(flat)

    def span(begin: int, end: int) -> float:
        if fast:
            return fused.span_distance(flat, flat, begin, end, CHUNK)[1]
        import torch

        total = 0.0
        for i in range(begin, end, step):
            d = flat[i : min(i + step, end)].to(torch.float64)
            total += float(torch.dot(d, d))
        return total

    return math.sqrt(math.fsum(_map_spans(flat, span, fast)))


def l2_distance_and_norm(a: Tensorish, b: Tensorish) -> tuple[float, float]:
    """``(||a - b||, ||b||)`` of two same-shaped tensors in one float64 pass.

    The reference's norm comes free with the distance, for relative distances.
    """
    if a.shape != b.shape:
        raise ValueError(f"shapes differ: {tuple(a.shape)} vs {tuple(b.shape)}")
    fast = _fused(a, b)
    fa, fb = (_flat(x if fast else _torch(x)) for x in (a, b))
    step = _chunk(fa)

    def span(begin: int, end: int) -> tuple[float, float]:
        if fast:
            return fused.span_distance(fa, fb, begin, end, CHUNK)
        import torch

        dist = norm = 0.0
        for i in range(begin, end, step):
            j = min(i + step, end)
            db = fb[i:j].to(torch.float64)
            # upcast before subtracting: one rounding at most, never float32 cancellation
            d = fa[i:j].to(torch.float64, copy=True).sub_(db)
            dist += float(torch.dot(d, d))
            norm += float(torch.dot(db, db))
        return dist, norm

    spans = _map_spans(fa, span, fast)
    return math.sqrt(math.fsum(s[0] for s in spans)), math.sqrt(math.fsum(s[1] for s in spans))


def l2_distance(a: Tensorish, b: Tensorish) -> float:
    """Euclidean (Frobenius) distance between two same-shaped tensors, in float64."""
    return l2_distance_and_norm(a, b)[0]
