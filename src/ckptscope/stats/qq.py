"""QQ data: sample quantiles against a fitted family's quantiles, in standardised units.

Each QQ array is ``(2, K)``: row 0 the theoretical quantiles of the *standard* family,
row 1 the sample quantiles mapped through the fit (``(q - loc) / scale``, or ``q / xmin``
for the power law), so a perfect fit is the line ``y = x`` at every step and frames of an
animation share their axes.
"""

from __future__ import annotations

import numpy as np
from scipy import special

from ckptscope.stats.fits import Fit, PowerLawFit
from ckptscope.stats.histogram import QUANTILE_PROBS

#: Probabilities *within the tail* ``|x| >= xmin`` for the power-law QQ: logit-uniform
#: from 1e-3 to 1 - 1e-4 (the far tail is where a power law earns or loses its keep).
TAIL_PROBS: np.ndarray = special.expit(
    np.linspace(special.logit(1e-3), special.logit(1 - 1e-4), 99)
)

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


def qq_location_scale(
    fit: Fit, sample_quantiles: np.ndarray, probs: np.ndarray = QUANTILE_PROBS
) -> np.ndarray:
    """``(2, K)`` QQ data of sample quantiles at ``probs`` against a location-scale ``fit``."""
    if fit.family not in _STANDARD_PPF:
        raise ValueError(f"QQ against {fit.family!r} is not supported; use {sorted(_STANDARD_PPF)}")
    sample = (np.asarray(sample_quantiles, dtype=np.float64) - fit.params["loc"]) / fit.params[
        "scale"
    ]
    return np.stack([standard_quantiles(fit.family, probs), sample])


def qq_power_law(
    values: np.ndarray, fit: PowerLawFit, tail_probs: np.ndarray = TAIL_PROBS
) -> np.ndarray:
    """``(2, K)`` QQ data of the tail ``|x| >= xmin`` against the fitted Pareto, over ``xmin``.

    Row 0 is the Pareto quantile ``(1 - p)**(-1 / (alpha - 1))``, row 1 the sample quantile
    of the tail magnitudes at the same within-tail probability ``p``, divided by ``xmin``.
    """
    y = np.abs(np.asarray(values, dtype=np.float64).ravel())
    tail = y[np.isfinite(y) & (y >= fit.xmin)]
    if tail.size == 0:
        raise ValueError(f"no values at or above xmin={fit.xmin!r}")
    p = np.asarray(tail_probs, dtype=np.float64)
    theory = (1 - p) ** (-1 / (fit.alpha - 1))
    return np.stack([theory, np.quantile(tail, p) / fit.xmin])
