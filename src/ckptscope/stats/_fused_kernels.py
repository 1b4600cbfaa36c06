"""The numba kernels of :mod:`ckptscope.stats.fused` (imported on first use, not with it).

Kept in their own module so that importing the moments code does not import numba (and,
through it, SciPy): a sweep opens its first weight file before paying for them. ``cache``
keeps the compiled kernels across processes.
"""

from __future__ import annotations

import math

import numba
import numpy as np

_FASTMATH = {"reassoc", "contract", "nsz", "arcp"}


@numba.njit(nogil=True, cache=True, fastmath=_FASTMATH)
def _pass_sum(x, lo, hi):  # pragma: no cover - compiled
    s = 0.0
    for i in range(lo, hi):
        s += np.float64(x[i])
    return s


@numba.njit(nogil=True, cache=True, fastmath=_FASTMATH)
def _pass_central(x, lo, hi, mean):  # pragma: no cover - compiled
    m2 = 0.0
    m3 = 0.0
    m4 = 0.0
    for i in range(lo, hi):
        d = np.float64(x[i]) - mean
        d2 = d * d
        m2 += d2
        m3 += d2 * d
        m4 += d2 * d2
    return m2, m3, m4


@numba.njit(nogil=True, cache=True)
def _chunks(x, chunk, out):  # pragma: no cover - compiled
    """Rows ``(n, mean, m2, m3, m4)`` per chunk of ``x``; n = -1: redo it masked."""
    n_chunks = (x.size + chunk - 1) // chunk
    for c in range(n_chunks):
        lo = c * chunk
        hi = min(lo + chunk, x.size)
        s = _pass_sum(x, lo, hi)
        if not math.isfinite(s):  # a NaN or inf in the chunk
            out[c, 0] = -1.0
            continue
        n = hi - lo
        mean = s / n
        m2, m3, m4 = _pass_central(x, lo, hi, mean)
        out[c, 0] = n
        out[c, 1] = mean
        out[c, 2] = m2
        out[c, 3] = m3
        out[c, 4] = m4


@numba.njit(nogil=True, cache=True, fastmath=_FASTMATH)
def _dist_sums(x, y):  # pragma: no cover - compiled
    d2 = 0.0
    n2 = 0.0
    for i in range(x.size):
        b = np.float64(y[i])
        d = np.float64(x[i]) - b  # upcast before subtracting, as the torch path
        d2 += d * d
        n2 += b * b
    return d2, n2
