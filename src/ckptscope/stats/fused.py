"""Fused CPU kernels for :mod:`ckptscope.stats.moments`: moments and distances in one pass.

The torch path of ``moments`` spends ~3.4 ns per element on eight small ops per chunk (each
a dispatch and a pass over the chunk). The numba kernel (``_fused_kernels.span_stats``)
walks a span once, chunk by chunk; per chunk of ``chunk`` elements held in cache it takes
the sum, then the central sums ``Σd², Σd³, Σd⁴`` (``d = x - mean``), max |x|, and the
squared distance to each reference, in float64, and returns one row per chunk that
``moments._combine`` merges exactly, as before. fp16 and bf16 tensors are read as their
raw bits and widened to float32 inside the kernel, one chunk at a time, to the values
torch gives; nothing is converted in memory-sized blocks. Same algorithm and accuracy as
the torch path (tests run both); the reductions are reassociated for SIMD (``fastmath``
without ``nnan``/``ninf``: a NaN or inf still propagates into the sum, and such a chunk is
redone with its non-finite values masked out).

Used when numba is importable (``pip install ckptscope[fast]``) and the tensor is a CPU
float16/bfloat16/float32/float64 one (:func:`supports`): a torch tensor or a
:class:`~ckptscope.sources.host.HostTensor` (read without torch: a HostTensor never makes
this module import it); ``CKPTSCOPE_MOMENTS=torch`` forces the torch path.
"""

from __future__ import annotations

import functools
import importlib.util
import logging
import math
import os
from types import ModuleType
from typing import TYPE_CHECKING

import numpy as np

from ckptscope.sources.host import HostTensor

if TYPE_CHECKING:
    import torch

    Tensorish = torch.Tensor | HostTensor

log = logging.getLogger(__name__)


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


#: the kernels' kind for each dtype they read as is (16-bit floats as their raw bits)
_KINDS = {"float32": 0, "float64": 0, "float16": 1, "bfloat16": 2}


def _dtype(t: Tensorish) -> str:
    return t.dtype if isinstance(t, HostTensor) else str(t.dtype).removeprefix("torch.")


def supports(t: Tensorish) -> bool:
    """Whether the kernels read ``t``: a HostTensor or CPU tensor of float16/bfloat16/
    float32/float64."""
    on_cpu = isinstance(t, HostTensor) or t.device.type == "cpu"
    return on_cpu and _dtype(t) in _KINDS


def _array(t: Tensorish, begin: int, end: int) -> tuple[np.ndarray, int]:
    """``t[begin:end]`` of a flat tensor as a NumPy view the kernels read, and its kind."""
    kind = _KINDS[_dtype(t)]
    if isinstance(t, HostTensor):
        part = t.data[begin:end]
        return (part.view(np.uint16) if kind else part), kind
    import torch

    part = t.detach()[begin:end]
    if kind:  # NumPy has no bfloat16: both 16-bit floats go as their bits
        return part.view(torch.int16).numpy().view(np.uint16), kind
    return part.numpy(), kind


def _float64(x: np.ndarray, kind: int) -> np.ndarray:
    """The values of an ``_array`` as float64 (a copy)."""
    if kind == 1:
        return x.view(np.float16).astype(np.float64)
    if kind == 2:  # bf16: the high half of a float32
        return (x.astype(np.uint32) << 16).view(np.float32).astype(np.float64)
    return x.astype(np.float64)


def _numel(t: Tensorish) -> int:
    return t.numel if isinstance(t, HostTensor) else t.numel()


def _run(
    flat: Tensorish,
    refs: tuple[Tensorish, ...],
    begin: int,
    end: int,
    chunk: int,
    stats: bool,
) -> tuple[np.ndarray, np.ndarray]:
    """The kernel over ``[begin, end)``: per-chunk rows and per-chunk distance sums."""
    if len(refs) > 2:
        raise ValueError(f"at most 2 references per pass, got {len(refs)}")
    short = [_numel(r) for r in refs if _numel(r) < end]
    if _numel(flat) < end or short:  # the kernel reads without bounds checks
        raise ValueError(f"span [{begin}, {end}) beyond a tensor of {min([_numel(flat), *short])}")
    x, kind = _array(flat, begin, end)
    arrays = [_array(r, begin, end) for r in refs]
    (r0, k0), (r1, k1) = (arrays + [(x, kind)] * 2)[:2]
    n_chunks = -(-(end - begin) // chunk)
    rows = np.zeros((n_chunks if stats else 0, 6))
    dists = np.zeros((2, n_chunks, 2))
    _kernels().span_stats(x, kind, r0, k0, r1, k1, len(refs), chunk, stats, rows, dists)
    return rows, dists


def _pairs(dists: np.ndarray, n: int) -> list[tuple[float, float]]:
    return [(math.fsum(dists[k, :, 0]), math.fsum(dists[k, :, 1])) for k in range(n)]


def span_distance(
    a: Tensorish, b: Tensorish, begin: int, end: int, chunk: int
) -> tuple[float, float]:
    """``(Σ (a-b)², Σ b²)`` over ``[begin, end)`` of two flat CPU tensors, in float64."""
    _, dists = _run(a, (b,), begin, end, chunk, stats=False)
    return _pairs(dists, 1)[0]


def _finish(
    flat: Tensorish, rows: np.ndarray, begin: int, end: int, chunk: int
) -> tuple[np.ndarray, float, int]:
    """Rows ``(n, mean, m2, m3, m4)``, max |x| and the non-finite count from the kernel's.

    A chunk holding NaN or inf (n = -1) is redone on its finite values (within the span).
    """
    nonfinite = 0
    for c in np.flatnonzero(rows[:, 0] < 0):
        lo = begin + c * chunk
        v = _float64(*_array(flat, lo, min(lo + chunk, end)))
        finite = v[np.isfinite(v)]
        nonfinite += v.size - finite.size
        rows[c] = 0.0
        if finite.size:
            _kernels().chunk_rows(finite, finite.size, rows[c : c + 1])
    done = rows[:, 0] > 0
    max_abs = float(rows[done, 5].max()) if done.any() else 0.0
    return rows[:, :5], max_abs, nonfinite


def span_rows(flat: Tensorish, begin: int, end: int, chunk: int) -> tuple[np.ndarray, float, int]:
    """Per-chunk rows of ``flat[begin:end]`` (CPU), its max |x|, and its non-finite count.

    Rows are ``(n, mean, m2, m3, m4)`` of each chunk's finite values.
    """
    rows, _ = _run(flat, (), begin, end, chunk, stats=True)
    return _finish(flat, rows, begin, end, chunk)


def span_rows_and_distances(
    flat: Tensorish, refs: tuple[Tensorish, ...], begin: int, end: int, chunk: int
) -> tuple[np.ndarray, float, int, list[tuple[float, float]]]:
    """``span_rows(flat, ...)`` and ``span_distance(flat, r, ...)`` for each ref, together.

    One pass: each chunk of ``flat`` is widened once and stays in cache for the moments
    and every distance. The chunks and sums are those of the two functions, so the values
    are theirs exactly. At most 2 references.
    """
    rows, dists = _run(flat, refs, begin, end, chunk, stats=True)
    return (*_finish(flat, rows, begin, end, chunk), _pairs(dists, len(refs)))
