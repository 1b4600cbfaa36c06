"""Fused CPU kernel for :mod:`ckptscope.stats.moments`: one chunk's moments in two cached passes.

The torch path of ``moments`` spends ~3.4 ns per element on eight small ops per chunk (each
a dispatch and a pass over the chunk). This numba kernel does, per chunk of ``chunk``
elements held in cache: a pass for the sum, then one for the central sums
``Σd², Σd³, Σd⁴`` (``d = x - mean``), in float64, and returns one row per chunk that
``moments._combine`` merges exactly, as before. Same algorithm and accuracy as the torch
path (tests run both); the reductions are reassociated for SIMD (``fastmath`` without
``nnan``/``ninf``: a NaN or inf still propagates into the sum, and such a chunk is redone
with its non-finite values masked out).

Used when numba is importable (``pip install ckptscope[fast]``) and the tensor is on the
CPU; ``CKPTSCOPE_MOMENTS=torch`` forces the torch path.
"""

from __future__ import annotations

import functools
import importlib.util
import logging
import math
import os
from collections.abc import Iterator
from types import ModuleType

import numpy as np
import torch

log = logging.getLogger(__name__)

#: elements converted to float32 at a time before the kernel (fp16/bf16 inputs)
BLOCK = 1 << 20


def available() -> bool:
    """Whether the fused kernel can be used (numba importable, not switched off).

    numba and the kernels (``_fused_kernels``) are imported by the first call, which the
    moments code makes only when it has a tensor to reduce, not when it is imported.
    """
    return os.environ.get("CKPTSCOPE_MOMENTS", "") != "torch" and _load() is not None


@functools.cache
def _load() -> ModuleType | None:
    """The kernels module, or None where numba is missing or fails to import."""
    if importlib.util.find_spec("numba") is None:
        return None
    try:
        from ckptscope.stats import _fused_kernels
    except ImportError as err:  # e.g. a numba built for another NumPy: the torch path
        log.warning("numba is installed but does not import (%s); moments use torch", err)
        return None
    return _fused_kernels


def _kernels() -> ModuleType:
    kernels = _load()
    if kernels is None:  # callers check available() first
        raise RuntimeError("the fused moments kernels need numba")
    return kernels


def _blocks(
    tensors: tuple[torch.Tensor, ...], begin: int, end: int, block: int
) -> Iterator[tuple[np.ndarray, ...]]:
    """NumPy float32/float64 views of ``t[b:b+block]`` for each tensor, block by block.

    fp16/bf16 go through one reused float32 buffer per tensor (fresh buffers would
    page-fault on every block).
    """
    bufs = [
        torch.empty(min(block, end - begin), dtype=torch.float32)
        if t.dtype not in (torch.float32, torch.float64)
        else None
        for t in tensors
    ]
    for b in range(begin, end, block):
        out = []
        for t, buf in zip(tensors, bufs, strict=True):
            part = t[b : min(b + block, end)]
            if buf is not None:
                part = buf[: part.numel()].copy_(part)
            out.append(part.numpy())
        yield tuple(out)


def span_distance(a: torch.Tensor, b: torch.Tensor, begin: int, end: int) -> tuple[float, float]:
    """``(Σ (a-b)², Σ b²)`` over ``[begin, end)`` of two flat CPU tensors, in float64."""
    dist, norm = [], []
    for x, y in _blocks((a, b), begin, end, BLOCK):
        d2, n2 = _kernels()._dist_sums(x, y)
        dist.append(d2)
        norm.append(n2)
    return math.fsum(dist), math.fsum(norm)


def _block_rows(x: np.ndarray, chunk: int) -> tuple[np.ndarray, float, int]:
    """Per-chunk rows of one float32/float64 block, its max |x| and non-finite count."""
    nonfinite = 0
    max_abs = 0.0
    out = np.zeros((-(-x.size // chunk), 5))
    _kernels()._chunks(x, chunk, out)
    bad = np.flatnonzero(out[:, 0] < 0)
    if not bad.size:  # (a max in the sum pass was measured slower: it stops its SIMD)
        max_abs = max(float(x.max()), -float(x.min()))
    for c in bad:  # chunks holding NaN or inf: the same kernel on their finite values
        v = x[c * chunk : (c + 1) * chunk]
        v = v[np.isfinite(v)]
        nonfinite += min(chunk, x.size - c * chunk) - v.size
        out[c] = 0.0
        if v.size:
            _kernels()._chunks(v, v.size, out[c : c + 1])
    if bad.size:
        finite = x[np.isfinite(x)]
        if finite.size:
            max_abs = float(np.abs(finite).max())
    return out, max_abs, nonfinite


def _rows_block(chunk: int) -> int:
    """Elements per converted block for chunks of ``chunk``: whole chunks, about BLOCK."""
    return max(chunk, BLOCK // chunk * chunk)


def span_rows(
    flat: torch.Tensor, begin: int, end: int, chunk: int
) -> tuple[np.ndarray, float, int]:
    """Per-chunk rows of ``flat[begin:end]`` (CPU), its max |x|, and its non-finite count.

    Rows are ``(n, mean, m2, m3, m4)`` of each chunk's finite values.
    """
    rows = []
    nonfinite = 0
    max_abs = 0.0
    for (x,) in _blocks((flat,), begin, end, _rows_block(chunk)):
        out, block_max, bad = _block_rows(x, chunk)
        max_abs = max(max_abs, block_max)
        nonfinite += bad
        rows.append(out)
    return (np.concatenate(rows) if rows else np.zeros((0, 5))), max_abs, nonfinite


def span_rows_and_distances(
    flat: torch.Tensor, refs: tuple[torch.Tensor, ...], begin: int, end: int, chunk: int
) -> tuple[np.ndarray, float, int, list[tuple[float, float]]]:
    """``span_rows(flat, ...)`` and ``span_distance(flat, r, ...)`` for each ref, together.

    Each block of ``flat`` is converted once and stays in cache for all the kernels,
    instead of once for the moments and again for every distance. The blocks, kernels
    and sums are those of the two functions, so the values are theirs exactly; this
    needs ``_rows_block(chunk) == BLOCK`` (true for the default 64K-element chunk).
    """
    if _rows_block(chunk) != BLOCK:
        raise ValueError(f"chunk {chunk} does not divide the block {BLOCK}")
    rows = []
    nonfinite = 0
    max_abs = 0.0
    dist: list[list[float]] = [[] for _ in refs]
    norm: list[list[float]] = [[] for _ in refs]
    for x, *ys in _blocks((flat, *refs), begin, end, BLOCK):
        out, block_max, bad = _block_rows(x, chunk)
        max_abs = max(max_abs, block_max)
        nonfinite += bad
        rows.append(out)
        for k, y in enumerate(ys):
            d2, n2 = _kernels()._dist_sums(x, y)
            dist[k].append(d2)
            norm[k].append(n2)
    pairs = [(math.fsum(d), math.fsum(n)) for d, n in zip(dist, norm, strict=True)]
    return (np.concatenate(rows) if rows else np.zeros((0, 5))), max_abs, nonfinite, pairs
