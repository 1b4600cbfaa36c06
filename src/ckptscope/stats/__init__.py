"""Pure statistics on tensors and trajectories: histograms, fits, QQ data, change points.

Names are imported on first use (PEP 562): importing one submodule (``moments``,
``fused``) does not import SciPy or transformers with the rest.
"""

from __future__ import annotations

from ckptscope._lazy import lazy_names

# eager: light (NumPy, pandas), and its function ``histogram`` shares the submodule's name
# (a lazy name would be shadowed by the submodule once imported)
from ckptscope.stats.histogram import (
    QUANTILE_PROBS,
    UNIVERSAL_GRID,
    HistogramAccumulator,
    UniversalGrid,
    display_edges,
    histogram,
    pool_histograms,
    quantiles,
    rebin,
    subsample,
)

#: public name -> the module that defines it (imported on first use)
_LAZY = {
    "Change": "ckptscope.stats.changepoint",
    "MetricSpec": "ckptscope.stats.changepoint",
    "detect_changes": "ckptscope.stats.changepoint",
    "pelt": "ckptscope.stats.changepoint",
    "FAMILIES": "ckptscope.stats.fits",
    "FITTERS": "ckptscope.stats.fits",
    "MAX_FIT_SAMPLES": "ckptscope.stats.fits",
    "Fit": "ckptscope.stats.fits",
    "FitReport": "ckptscope.stats.fits",
    "TailPowerLawFit": "ckptscope.stats.fits",
    "fit_all": "ckptscope.stats.fits",
    "fit_gaussian": "ckptscope.stats.fits",
    "fit_gennorm": "ckptscope.stats.fits",
    "fit_laplace": "ckptscope.stats.fits",
    "fit_logistic": "ckptscope.stats.fits",
    "fit_quartic": "ckptscope.stats.fits",
    "fit_student_t": "ckptscope.stats.fits",
    "fit_tail_power_law": "ckptscope.stats.fits",
    "TAIL_PROBS": "ckptscope.stats.qq",
    "qq_location_scale": "ckptscope.stats.qq",
    "qq_power_law": "ckptscope.stats.qq",
    "standard_quantiles": "ckptscope.stats.qq",
}


__getattr__, __dir__ = lazy_names(__name__, _LAZY)


__all__ = [
    "FAMILIES",
    "FITTERS",
    "MAX_FIT_SAMPLES",
    "QUANTILE_PROBS",
    "TAIL_PROBS",
    "UNIVERSAL_GRID",
    "Change",
    "Fit",
    "FitReport",
    "HistogramAccumulator",
    "MetricSpec",
    "TailPowerLawFit",
    "UniversalGrid",
    "detect_changes",
    "display_edges",
    "fit_all",
    "fit_gaussian",
    "fit_gennorm",
    "fit_laplace",
    "fit_logistic",
    "fit_quartic",
    "fit_student_t",
    "fit_tail_power_law",
    "histogram",
    "pelt",
    "pool_histograms",
    "qq_location_scale",
    "qq_power_law",
    "quantiles",
    "rebin",
    "standard_quantiles",
    "subsample",
]
