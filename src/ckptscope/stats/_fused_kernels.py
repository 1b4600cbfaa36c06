"""The numba kernels of :mod:`ckptscope.stats.fused` (imported on first use, not with it).

Kept in their own module so that importing the moments code does not import numba (and,
through it, SciPy): a sweep opens its first weight file before paying for them. ``cache``
keeps the compiled kernels across processes.

:func:`span_stats` walks a span of a tensor chunk by chunk and, per chunk, takes its sum,
its central sums, its max |x| and its squared distance to each reference, with the chunk
held in cache (a 64K-element chunk is 256 KiB as float32) across all of them. Half
precision is read as its raw 16 bits (``uint16``) and widened to float32 in the kernel,
chunk by chunk, exactly (every value but a NaN bit for bit as NumPy and torch widen it; a
NaN stays a NaN, quietened), so a checkpoint's fp16/bf16 tensors are never converted in
memory-sized blocks.
"""

from __future__ import annotations

import math
import platform

import numba
import numpy as np
from llvmlite import ir
from numba import types
from numba.extending import intrinsic, overload

_FASTMATH = {"reassoc", "contract", "nsz", "arcp"}
#: kinds of the inputs, as passed to ``span_stats``: a float32/float64 array, or the
#: uint16 bits of fp16 or bf16 values
NATIVE, FLOAT16, BFLOAT16 = 0, 1, 2


@intrinsic
def _f32(typingctx, bits):  # pragma: no cover - compiled
    """The float32 whose bits are the uint32 ``bits``."""

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.FloatType())

    return types.float32(types.uint32), codegen


@intrinsic
def _f64(typingctx, bits):  # pragma: no cover - compiled
    """The float64 whose bits are the uint64 ``bits``."""

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.DoubleType())

    return types.float64(types.uint64), codegen


@intrinsic
def _half(typingctx, bits):  # pragma: no cover - compiled
    """The fp16 value whose bits are the uint16 ``bits``, as float32 (LLVM's ``fpext``:
    the CPU's conversion instruction where it has one; exact, NaN quietened)."""

    def codegen(context, builder, signature, args):
        return builder.fpext(builder.bitcast(args[0], ir.HalfType()), ir.FloatType())

    return types.float32(types.uint16), codegen


@numba.njit(nogil=True, cache=True, inline="always")
def _decode_half(h):  # pragma: no cover - compiled
    """The fp16 value whose bits are ``h``, as float32, by integer arithmetic (no F16C).

    Sign, exponent and mantissa move to float32's places and the result is scaled by
    2^112, which also normalises fp16's subnormals; inf and NaN (exponent 31) keep float32's
    all-ones exponent and their mantissa.
    """
    b = np.uint32(h)
    sign = (b & np.uint32(0x8000)) << np.uint32(16)
    em = b & np.uint32(0x7FFF)
    if em >= np.uint32(0x7C00):
        return _f32(sign | np.uint32(0x7F800000) | ((em & np.uint32(0x3FF)) << np.uint32(13)))
    return _f32(sign | (em << np.uint32(13))) * np.float32(2.0**112)


def has_half_instructions() -> bool:
    """Whether the code numba generates here converts fp16 natively.

    On x86 that needs F16C in the target numba compiles for (the host, unless
    ``NUMBA_CPU_NAME``/``NUMBA_CPU_FEATURES`` say otherwise): without it LLVM calls a
    runtime helper the JIT may not resolve, a crash rather than an error. ARM64 converts
    natively. Elsewhere the integer decoder is used.
    """
    machine = platform.machine().lower()
    if machine in ("aarch64", "arm64"):
        return True
    if machine not in ("x86_64", "amd64", "i386", "i686"):
        return False
    if numba.config.CPU_NAME not in (None, "host") or numba.config.CPU_FEATURES:
        return "+f16c" in (numba.config.CPU_FEATURES or "")
    from llvmlite import binding

    return bool(binding.get_host_cpu_features().get("f16c", False))


#: how fp16 is widened in the kernels: the CPU's instruction, else integer arithmetic
_widen_half = _half if has_half_instructions() else _decode_half


def _widen(h, kind):  # pragma: no cover - replaced by the overload
    raise NotImplementedError


@overload(_widen, inline="always")
def _widen_impl(h, kind):  # pragma: no cover - compiled
    """One element as a float: fp16/bf16 bits (``kind``) widened, or a float as it is."""
    if isinstance(h, types.Integer):

        def bits(h, kind):
            if kind == FLOAT16:
                return _widen_half(h)
            return _f32(np.uint32(h) << np.uint32(16))  # bf16: float32's high half

        return bits
    return lambda h, kind: h


def _values(x, kind, lo, hi, buf):  # pragma: no cover - replaced by the overload
    raise NotImplementedError


@overload(_values, jit_options={"nogil": True})
def _values_impl(x, kind, lo, hi, buf):  # pragma: no cover - compiled
    """``x[lo:hi]`` as floats: the array itself, or 16-bit values widened into ``buf``."""
    if isinstance(x.dtype, types.Integer):

        def widen(x, kind, lo, hi, buf):
            src = x[lo:hi]  # indexing from 0 lets the loop vectorise (no wrap-around)
            for i in range(src.size):
                buf[i] = _widen(src[i], kind)
            return buf[: src.size]

        return widen

    return lambda x, kind, lo, hi, buf: x[lo:hi]


@numba.njit(nogil=True, cache=True, fastmath=_FASTMATH)
def _pass_sum(x):  # pragma: no cover - compiled
    s = 0.0
    for i in range(x.size):
        s += np.float64(x[i])
    return s


@numba.njit(nogil=True, cache=True, fastmath=_FASTMATH)
def _pass_central(x, mean):  # pragma: no cover - compiled
    m2 = 0.0
    m3 = 0.0
    m4 = 0.0
    for i in range(x.size):
        d = np.float64(x[i]) - mean
        d2 = d * d
        m2 += d2
        m3 += d2 * d
        m4 += d2 * d2
    return m2, m3, m4


def _pass_max_abs(x):  # pragma: no cover - replaced by the overload
    raise NotImplementedError


@overload(_pass_max_abs, jit_options={"nogil": True})
def _pass_max_abs_impl(x):  # pragma: no cover - compiled
    """max |x| of finite values, taken on their bits with the sign cleared.

    Non-negative finite floats order as their bits do, and an integer max vectorises
    where a float one (NaN rules) does not. Callers check that ``x`` is finite first.
    """
    # the unsigned type of the float's width, its sign bit cleared, and back to a float
    if x.dtype.bitwidth == 32:
        uint, magnitude, to_float = np.uint32, np.uint32(0x7FFFFFFF), _f32
    else:
        uint, magnitude, to_float = np.uint64, np.uint64(0x7FFFFFFFFFFFFFFF), _f64

    def max_bits(x):
        bits = x.view(uint)
        m = uint(0)
        for i in range(bits.size):
            a = bits[i] & magnitude
            m = a if a > m else m
        return np.float64(to_float(m))

    return max_bits


@numba.njit(nogil=True, cache=True, fastmath=_FASTMATH)
def _dist_sums(x, y, ky):  # pragma: no cover - compiled
    """``(Σ (x-y)², Σ y²)`` in float64; ``y`` read as it is stored (``ky``)."""
    d2 = 0.0
    n2 = 0.0
    for i in range(x.size):
        b = np.float64(_widen(y[i], ky))
        d = np.float64(x[i]) - b  # upcast before subtracting, as the torch path
        d2 += d * d
        n2 += b * b
    return d2, n2


@numba.njit(nogil=True, cache=True)
def _row(v, rows, c):  # pragma: no cover - compiled
    """Row ``c``: ``(n, mean, m2, m3, m4, max |x|)`` of ``v``; n = -1: redo it masked."""
    s = _pass_sum(v)
    if not math.isfinite(s):  # a NaN or inf in the chunk (a finite sum has none)
        rows[c, 0] = -1.0
        return
    n = v.size
    mean = s / n
    m2, m3, m4 = _pass_central(v, mean)
    rows[c, 0] = n
    rows[c, 1] = mean
    rows[c, 2] = m2
    rows[c, 3] = m3
    rows[c, 4] = m4
    rows[c, 5] = _pass_max_abs(v)


@numba.njit(nogil=True, cache=True)
def span_stats(x, kind, r0, k0, r1, k1, nrefs, chunk, stats, rows, dists):  # pragma: no cover
    """Per chunk of ``x``: its moments row (when ``stats``) and distances to ``nrefs`` refs.

    ``x``, ``r0``, ``r1``: 1-D arrays of equal size, float32/float64 or the uint16 bits of
    fp16/bf16 (``kind``, ``k0``, ``k1``: NATIVE, FLOAT16 or BFLOAT16); unused refs are
    any array. ``rows``: (chunks, 6), see :func:`_row`; ``dists``: (2, chunks, 2), the
    ``(Σ (x-r)², Σ r²)`` of each chunk for each ref.
    """
    n_chunks = (x.size + chunk - 1) // chunk
    buf = np.empty(chunk, np.float32)
    for c in range(n_chunks):
        lo = c * chunk
        hi = min(lo + chunk, x.size)
        v = _values(x, kind, lo, hi, buf)
        if stats:
            _row(v, rows, c)
        # one loop per reference (the chunk stays in cache): the sums of a distance are
        # those of ``span_distance`` bit for bit, whatever the other reference
        if nrefs > 0:
            dists[0, c, 0], dists[0, c, 1] = _dist_sums(v, r0[lo:hi], k0)
        if nrefs > 1:
            dists[1, c, 0], dists[1, c, 1] = _dist_sums(v, r1[lo:hi], k1)


@numba.njit(nogil=True, cache=True)
def chunk_rows(x, chunk, rows):  # pragma: no cover - compiled
    """``rows`` (see :func:`_row`) of each chunk of a float array (the masked redo)."""
    for c in range((x.size + chunk - 1) // chunk):
        _row(x[c * chunk : min((c + 1) * chunk, x.size)], rows, c)


@numba.njit(nogil=True, cache=True)
def widen(x, kind, out):  # pragma: no cover - compiled
    """``out`` = the values of ``x`` (16-bit bits or floats) as float32 (for the tests)."""
    if out.size < x.size:
        raise ValueError("out is smaller than x")
    return _values(x, kind, 0, x.size, out).copy()
