"""QQ data: sample quantiles against a fitted family's quantiles, in standardised units.

Each QQ array is ``(2, K)``: row 0 the theoretical quantiles of the *standard* family,
row 1 the sample quantiles mapped through the fit (``(q - loc) / scale``, or ``q / xmin``
for the power law), so a perfect fit is the line ``y = x`` at every step and frames of an
animation share their axes.
"""

from __future__ import annotations

import numpy as np
from scipy import special

from ckptscope.stats.fits import Fit, TailPowerLawFit
from ckptscope.stats.histogram import QUANTILE_PROBS

#: Probabilities *within the tail* ``|x| >= xmin`` for the power-law QQ: logit-uniform
#: from 1e-3 to 1 - 1e-4 (the far tail is where a power law earns or loses its keep).
TAIL_PROBS: np.ndarray = special.expit(
    np.linspace(special.logit(1e-3), special.logit(1 - 1e-4), 99)
)
TAIL_PROBS.setflags(write=False)

_STANDARD_PPF = {
    "gaussian": special.ndtri,
    "logistic": special.logit,
}


def standard_quantiles(family: str, probs: np.ndarray = QUANTILE_PROBS) -> np.ndarray:
    """Quantiles of the standard (loc 0, scale 1) Gaussian or logistic at ``probs``."""
    try:
        return _STANDARD_PPF[family](np.asarray(probs, dtype=np.float64))
    except KeyError:
        raise ValueError(
            f"no standard QQ family {family!r}; known: {sorted(_STANDARD_PPF)}"
        ) from None


def resolved(probs: np.ndarray, n: int) -> np.ndarray:
    """Mask of ``probs`` a sample of ``n`` values resolves: ``1/n <= p <= 1 - 1/n``.

    Beyond these, sample quantiles only interpolate towards the extreme value and would
    draw a flat, meaningless end on a QQ plot.
    """
    p = np.asarray(probs, dtype=np.float64)
    return (p >= 1.0 / n) & (p <= 1.0 - 1.0 / n)


def qq_location_scale(
    fit: Fit,
    sample_quantiles: np.ndarray,
    probs: np.ndarray = QUANTILE_PROBS,
    n: int | None = None,
) -> np.ndarray:
    """``(2, K)`` QQ data of sample quantiles at ``probs`` against a location-scale ``fit``.

    With ``n`` (the number of values the quantiles came from), only the probabilities that
    sample resolves are kept (see :func:`resolved`), so ``K <= len(probs)``.
    """
    if fit.family not in _STANDARD_PPF:
        raise ValueError(f"QQ against {fit.family!r} is not supported; use {sorted(_STANDARD_PPF)}")
    probs = np.asarray(probs, dtype=np.float64)
    sample = np.asarray(sample_quantiles, dtype=np.float64)
    sample = (sample - fit.params["loc"]) / fit.params["scale"]
    qq = np.stack([standard_quantiles(fit.family, probs), sample])
    return qq if n is None else qq[:, resolved(probs, n)]


def qq_power_law(
    values: np.ndarray, fit: TailPowerLawFit, tail_probs: np.ndarray = TAIL_PROBS
) -> np.ndarray:
    """``(2, K)`` QQ data of the tail ``|x| >= xmin`` against the fitted Pareto, over ``xmin``.

    Row 0 is the Pareto quantile ``(1 - p)**(-1 / (alpha - 1))``, row 1 the sample quantile
    of the tail magnitudes at the same within-tail probability ``p``, divided by ``xmin``; only the probabilities
    the tail resolves are kept (see :func:`resolved`).
    """
    y = np.abs(np.asarray(values, dtype=np.float64).ravel())
    tail = y[np.isfinite(y) & (y >= fit.xmin)]
    if tail.size == 0:
        raise ValueError(f"no values at or above xmin={fit.xmin!r}")
    p = np.asarray(tail_probs, dtype=np.float64)
    p = p[resolved(p, tail.size)]
    theory = (1 - p) ** (-1 / (fit.alpha - 1))
    return np.stack([theory, np.quantile(tail, p) / fit.xmin])
