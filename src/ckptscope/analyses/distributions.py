"""Weight distributions: universal-grid histograms, quantiles, ML fits and QQ data.

:func:`describe_distribution` is the pure function every tensor kind goes through (the
activation and gradient analyses call it with component names of their own); the
registered analysis applies it to every weight matrix of a checkpoint.

Records written per tensor (``component, block, param``):

* arrays ``hist`` (counts on :data:`~ckptscope.stats.UNIVERSAL_GRID`, meta = the grid),
  ``quantiles`` (at :data:`~ckptscope.stats.QUANTILE_PROBS`), ``qq_gaussian``,
  ``qq_logistic`` and ``qq_power_law`` (each ``(2, K)``: standard-family quantiles, then
  standardised sample quantiles, at the probabilities the sample resolves, so ``K`` may
  be below 199; see :mod:`ckptscope.stats.qq`);
* scalars ``n_nonfinite`` (only when some values are NaN/Inf), and unless degenerate
  ``fit_<family>_<param>``, ``fit_<family>_{loglik,aic,bic,ks}`` for each of
  :data:`~ckptscope.stats.FAMILIES`, with the shape parameters under their short names
  only: ``t_nu`` (not ``fit_student_t_nu``), ``gennorm_beta``, ``quartic_g``; and
  ``fit_power_law_{alpha,alpha_se,xmin,n_tail,ks,loglik}`` when a tail was found;
* the label ``fit_winner`` (:class:`~ckptscope.records.Label`: the family name of lowest
  BIC, in the ``label`` column of ``scalars``);
* bookkeeping ``n_values``, ``n_fit``, ``degenerate`` (0/1) in the task's meta
  (``meta["bookkeeping"]``, see ``store/schema.py``), not in ``scalars``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

from ckptscope.adapters.base import MATRIX_COMPONENTS
from ckptscope.analyses.base import (
    Analysis,
    Array,
    CheckpointContext,
    Label,
    Record,
    metric_records,
    register_analysis,
)
from ckptscope.analyses.options import require_int
from ckptscope.stats import (
    FAMILIES,
    MAX_FIT_SAMPLES,
    QUANTILE_PROBS,
    UNIVERSAL_GRID,
    FitReport,
    UniversalGrid,
    fit_all,
    histogram,
    qq_location_scale,
    qq_power_law,
    quantiles,
    subsample,
)
from ckptscope.stats.histogram import MAX_QUANTILE_SAMPLES

log = logging.getLogger(__name__)

#: Fit parameters stored under a short name only (no ``fit_student_t_nu`` beside ``t_nu``).
_SHORT_NAMES = frozenset({("student_t", "nu"), ("gennorm", "beta"), ("quartic", "g")})
#: Families the QQ arrays compare against (besides the power-law tail).
QQ_FAMILIES: tuple[str, ...] = ("gaussian", "logistic")


@dataclass(frozen=True)
class DistributionSummary:
    """Everything :func:`describe_distribution` finds for one tensor."""

    n_values: int
    n_nonfinite: int
    counts: np.ndarray = field(repr=False)  # (grid.n_bins,) on ``grid``
    grid: UniversalGrid
    quantiles: np.ndarray | None = field(
        repr=False
    )  # (len(QUANTILE_PROBS),) or None if no finite value
    fits: FitReport
    qq: dict[str, np.ndarray] = field(hash=False, repr=False)  # kind -> (2, K)
    seed: int = 0
    max_samples: int | None = MAX_FIT_SAMPLES

    @property
    def degenerate(self) -> bool:
        """Whether no fit was possible (too few finite values, or constant)."""
        return self.fits.degenerate is not None

    def metrics(self) -> dict[str, float]:
        """Scalar metrics by name (see the module docstring)."""
        out: dict[str, float] = {
            "n_values": self.n_values,
            "n_fit": self.fits.n_fit,
            "degenerate": float(self.degenerate),
        }
        if self.n_nonfinite:
            out["n_nonfinite"] = self.n_nonfinite
        for fit in self.fits.fits:
            for name, value in fit.params.items():
                if (fit.family, name) not in _SHORT_NAMES:
                    out[f"fit_{fit.family}_{name}"] = value
            for name in ("loglik", "aic", "bic", "ks"):
                out[f"fit_{fit.family}_{name}"] = getattr(fit, name)
        if self.fits.fits:
            out["t_nu"] = self.fits.get("student_t").params["nu"]
            out["gennorm_beta"] = self.fits.get("gennorm").params["beta"]
            out["quartic_g"] = self.fits.get("quartic").params["g"]
        pl = self.fits.power_law
        if pl is not None:
            out.update(
                {
                    "fit_power_law_alpha": pl.alpha,
                    "fit_power_law_alpha_se": pl.alpha_se,
                    "fit_power_law_xmin": pl.xmin,
                    "fit_power_law_n_tail": pl.n_tail,
                    "fit_power_law_ks": pl.ks,
                    "fit_power_law_loglik": pl.loglik,
                }
            )
        return out

    def records(self, component: str, block: int | None, param: str) -> list[Record]:
        """Scalar and Array records for one tensor, ready for the store."""
        recs: list[Record] = [*metric_records(component, block, param, self.metrics())]
        if self.fits.winner_index is not None:
            winner = FAMILIES[self.fits.winner_index]
            recs.append(Label(component, block, param, "fit_winner", winner))
        recs.append(Array(component, block, param, "hist", self.counts, meta=self.grid.to_json()))
        sampling = {"seed": self.seed, "max_samples": self.max_samples, "n_fit": self.fits.n_fit}
        if self.quantiles is not None:
            meta = {
                "probs": "logit-uniform",
                "n": len(QUANTILE_PROBS),
                "p_min": 1e-6,
                "max_samples": MAX_QUANTILE_SAMPLES,
                "seed": self.seed,
            }
            recs.append(
                Array(
                    component,
                    block,
                    param,
                    "quantiles",
                    self.quantiles,
                    meta=json.dumps(meta, sort_keys=True),
                )
            )
        for kind, data in self.qq.items():
            recs.append(
                Array(
                    component, block, param, kind, data, meta=json.dumps(sampling, sort_keys=True)
                )
            )
        return recs


def describe_distribution(
    values: np.ndarray,
    *,
    seed: int = 0,
    max_samples: int | None = MAX_FIT_SAMPLES,
    grid: UniversalGrid = UNIVERSAL_GRID,
) -> DistributionSummary:
    """Histogram, quantiles, fits and QQ data of one tensor (any shape; all entries pooled).

    The histogram counts every finite entry; quantiles are exact up to ``2**22`` finite
    entries; fits and the power-law QQ use a uniform subsample of at most ``max_samples``
    drawn with ``seed`` (the same positions at every step for tensors of the same size).
    NaN and Inf are dropped and counted in ``n_nonfinite``.
    """
    flat = np.asarray(values).ravel()
    finite = np.isfinite(flat)
    n_nonfinite = int(flat.size - np.count_nonzero(finite))
    x = flat[finite] if n_nonfinite else flat
    if n_nonfinite:
        log.debug("dropped %d non-finite of %d values", n_nonfinite, flat.size)
    counts = histogram(x, grid)
    q = quantiles(x, seed=seed) if x.size else None
    sample = subsample(x, max_samples, seed) if max_samples is not None else x
    report = fit_all(sample, seed=seed, max_samples=None)
    report = FitReport(
        report.fits, report.power_law, report.n_fit, int(x.size), n_nonfinite, report.degenerate
    )
    qq: dict[str, np.ndarray] = {}
    if report.fits and q is not None:
        for family in QQ_FAMILIES:
            qq[f"qq_{family}"] = qq_location_scale(report.get(family), q, n=int(x.size))
        if report.power_law is not None:
            qq["qq_power_law"] = qq_power_law(sample, report.power_law)
    return DistributionSummary(
        int(flat.size), n_nonfinite, counts, grid, q, report, qq, seed, max_samples
    )


@dataclass(frozen=True)
class DistributionsOptions:
    """``distribution_max_samples``: values the fits subsample to (None: all of them)."""

    distribution_max_samples: int | None = MAX_FIT_SAMPLES

    def __post_init__(self) -> None:
        require_int("distribution_max_samples", self.distribution_max_samples, 16, none=True)


@register_analysis
class Distributions(Analysis):
    """Histograms, quantiles, ML fits and QQ data of every weight matrix."""

    name = "distributions"
    Options = DistributionsOptions
    version = 2  # 2: adds the per-component hist_pooled rows

    def run(self, ctx: CheckpointContext) -> Iterator[Record]:
        max_samples = self.parse_options(ctx.options.extra).distribution_max_samples
        per_block: list[Array] = []
        for comp in ctx.components():
            if comp.component not in MATRIX_COMPONENTS or comp.param != "weight":
                continue
            values = ctx.read(comp).numpy()  # (out, in) float32; every entry pooled
            summary = describe_distribution(values, seed=ctx.options.seed, max_samples=max_samples)
            records = summary.records(comp.component, comp.block, comp.param)
            per_block += [r for r in records if isinstance(r, Array) and r.kind == "hist"]
            yield from records
        yield from pooled_histograms(per_block)


def pooled_histograms(hists: list[Array]) -> list[Array]:
    """Per component, the sum of its blocks' ``hist`` rows: ``hist_pooled``, block None (F1).

    Stored, so that figures only select rows. Components without blocks (embed, unembed)
    are their own pooled histogram.
    """
    totals: dict[str, Array] = {}
    for h in hists:
        seen = totals.get(h.component)
        if seen is not None and seen.meta != h.meta:
            raise ValueError(f"{h.component}: histograms on different grids cannot be pooled")
        counts = h.values if seen is None else seen.values + h.values
        totals[h.component] = Array(h.component, None, h.param, "hist_pooled", counts, meta=h.meta)
    return list(totals.values())
