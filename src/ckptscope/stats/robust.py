"""Robust outliers in a small set of values (heads of one block at one step).

Rule: a value ``x`` is an outlier when ``|x - median| > k * 1.4826 * MAD``, with MAD the
median absolute deviation from the median. The factor 1.4826 makes ``1.4826 * MAD`` the
standard deviation for Gaussian values, so ``k`` reads as "standard deviations", while one
far value moves neither the median nor the MAD (a mean and standard deviation would be
pulled towards it and could hide it). Two-sided: a head far below the others is marked too.
"""

from __future__ import annotations

import numpy as np

#: 1.4826 * MAD estimates the standard deviation of Gaussian values (1 / Phi^-1(3/4))
MAD_TO_SIGMA = 1.482602218505602
#: default threshold in robust standard deviations (Iglewicz and Hoaglin suggest 3.5)
DEFAULT_K = 3.5
#: fewer values than this: no outliers (the median of two is their mean; nothing stands out)
MIN_VALUES = 3
#: a spread below this fraction of the values' magnitude counts as no spread (float noise)
REL_FLOOR = 1e-9


def robust_z(values: np.ndarray) -> np.ndarray:
    """``(x - median) / (1.4826 MAD)`` of each finite value, in float64; NaN where undefined.

    Undefined: a non-finite value, fewer than ``MIN_VALUES`` finite values, or a spread of
    zero (all values equal up to ``REL_FLOOR``), where every equal value gets 0 and any other
    value +-inf.
    """
    x = np.asarray(values, dtype=np.float64)
    out = np.full(x.shape, np.nan)
    ok = np.isfinite(x)
    if ok.sum() < MIN_VALUES:
        return out
    med = np.median(x[ok])
    scale = MAD_TO_SIGMA * np.median(np.abs(x[ok] - med))
    floor = REL_FLOOR * float(np.max(np.abs(x[ok])))
    dev = x[ok] - med
    if scale <= floor:  # most values equal: only the ones that differ stand out
        out[ok] = np.where(np.abs(dev) <= floor, 0.0, np.where(dev > 0, np.inf, -np.inf))
    else:
        out[ok] = dev / scale
    return out


def robust_z_rows(values: np.ndarray) -> np.ndarray:
    """:func:`robust_z` of each row of a 2-D array at once (same values, vectorised).

    For many small sets of one size (the heads of every block at every step): one NumPy
    call per array instead of one per set.
    """
    x = np.asarray(values, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"expected a 2-D array, got shape {x.shape}")
    ok = np.isfinite(x)
    usable = ok.sum(axis=1) >= MIN_VALUES
    xm = np.where(ok & usable[:, None], x, np.nan)
    out = np.full(x.shape, np.nan)
    if not usable.any():
        return out
    xm = xm[usable]
    # every value finite: NumPy's median (nanmedian goes through masked arrays, 3x slower)
    median, largest = (np.nanmedian, np.nanmax) if np.isnan(xm).any() else (np.median, np.max)
    med = median(xm, axis=1, keepdims=True)
    dev = xm - med
    scale = MAD_TO_SIGMA * median(np.abs(dev), axis=1, keepdims=True)
    floor = REL_FLOOR * largest(np.abs(xm), axis=1, keepdims=True)
    flat = scale <= floor  # most values equal: only the ones that differ stand out
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(
            flat,
            np.where(np.abs(dev) <= floor, 0.0, np.where(dev > 0, np.inf, -np.inf)),
            dev / scale,
        )
    out[usable] = np.where(np.isnan(xm), np.nan, z)
    return out


def mad_outliers(values: np.ndarray, k: float = DEFAULT_K) -> np.ndarray:
    """Boolean mask: ``|x - median| > k * 1.4826 * MAD`` (see the module docstring)."""
    if not (np.isfinite(k) and k > 0):
        raise ValueError(f"outlier threshold k must be a positive number, got {k!r}")
    z = robust_z(values)
    return np.abs(np.nan_to_num(z, nan=0.0)) > k
