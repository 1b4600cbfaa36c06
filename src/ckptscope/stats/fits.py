"""Every family's maximum-likelihood fit of one sample, the BIC winner, the power-law tail.

The per-family fitters live in :mod:`ckptscope.stats.families`, the power-law tail in
:mod:`ckptscope.stats.powerlaw`; this module ties them together. Fits run on the values
given; :func:`fit_all` drops non-finite values and takes a seeded subsample of at most
``max_samples`` values first (see :func:`ckptscope.stats.histogram.subsample`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ckptscope.names import FAMILIES as NAMED_FAMILIES
from ckptscope.stats._mle import MIN_VALUES, Fit
from ckptscope.stats.families import (
    BETA_MAX,
    BETA_MIN,
    KAPPA_MAX,
    KAPPA_MIN,
    NU_MAX,
    NU_MIN,
    fit_gaussian,
    fit_gennorm,
    fit_laplace,
    fit_logistic,
    fit_quartic,
    fit_student_t,
    quartic_cdf,
    quartic_normaliser,
)
from ckptscope.stats.histogram import subsample
from ckptscope.stats.powerlaw import MIN_TAIL, TailPowerLawFit, fit_tail_power_law

__all__ = [
    "BETA_MAX",
    "BETA_MIN",
    "FAMILIES",
    "FITTERS",
    "KAPPA_MAX",
    "KAPPA_MIN",
    "MAX_FIT_SAMPLES",
    "MIN_TAIL",
    "MIN_VALUES",
    "NU_MAX",
    "NU_MIN",
    "Fit",
    "FitReport",
    "TailPowerLawFit",
    "fit_all",
    "fit_gaussian",
    "fit_gennorm",
    "fit_laplace",
    "fit_logistic",
    "fit_quartic",
    "fit_student_t",
    "fit_tail_power_law",
    "quartic_cdf",
    "quartic_normaliser",
]

#: Full-support families in the order ``fit_winner`` indexes them (defined in names.py)
FAMILIES = NAMED_FAMILIES
MAX_FIT_SAMPLES = 65_536  # 2**16: nu and beta to ~1%, fits ~0.1 s per tensor


@dataclass(frozen=True)
class FitReport:
    """Every family's fit on one sample, the BIC winner, and the power-law tail."""

    fits: tuple[Fit, ...]
    power_law: TailPowerLawFit | None
    n_fit: int  # values the fits used (after dropping non-finite and subsampling)
    n_finite: int
    n_nonfinite: int
    degenerate: str | None = None  # why no fit was possible, else None

    @property
    def winner(self) -> str | None:
        """The family with the lowest BIC, or None when degenerate."""
        if not self.fits:
            return None
        return min(self.fits, key=lambda f: f.bic).family

    @property
    def winner_index(self) -> int | None:
        """Index of :attr:`winner` in :data:`FAMILIES`."""
        w = self.winner
        return None if w is None else FAMILIES.index(w)

    def get(self, family: str) -> Fit:
        """The fit of ``family``."""
        for f in self.fits:
            if f.family == family:
                return f
        raise KeyError(f"no fit of {family!r}; fitted: {[f.family for f in self.fits]}")


FITTERS: dict[str, Callable[[np.ndarray], Fit]] = {
    "gaussian": fit_gaussian,
    "logistic": fit_logistic,
    "laplace": fit_laplace,
    "student_t": fit_student_t,
    "gennorm": fit_gennorm,
    "quartic": fit_quartic,
}


def fit_all(
    values: np.ndarray, *, seed: int = 0, max_samples: int | None = MAX_FIT_SAMPLES
) -> FitReport:
    """Fit every family in :data:`FAMILIES` and the power-law tail on one sample.

    Non-finite values are dropped and counted; above ``max_samples`` finite values the fits
    use a seeded uniform subsample. Degenerate input (fewer than MIN_VALUES finite values,
    or all equal) gives a report with no fits and ``degenerate`` saying why.
    """
    flat = np.asarray(values).ravel()
    finite = np.isfinite(flat)
    x = flat[finite]
    n_finite, n_nonfinite = int(x.size), int(flat.size - x.size)
    if max_samples is not None:
        x = subsample(x, max_samples, seed)
    reason = None
    if x.size < MIN_VALUES:
        reason = f"{x.size} finite values (< {MIN_VALUES})"
    elif np.ptp(x) == 0:
        reason = f"constant ({float(x[0])!r})"
    if reason is not None:
        return FitReport((), None, int(x.size), n_finite, n_nonfinite, reason)
    fits = tuple(FITTERS[name](x) for name in FAMILIES)
    try:
        power = fit_tail_power_law(x)
    except ValueError:
        power = None  # too few distinct non-zero magnitudes for a tail
    return FitReport(fits, power, int(x.size), n_finite, n_nonfinite)
