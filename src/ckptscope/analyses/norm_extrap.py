"""The derivation ``norm_extrap``: each weight-norm trajectory fitted once, after the sweep.

The norm-extrapolation figure and ``ckptscope extrapolate`` fit every weight matrix's norm
trajectory on its early steps (``views/extrapolation.py``); at Pythia scale that is
hundreds of fits, seconds of a report. This derivation fits them with the default share
of the training steps (``DEFAULT_FRACTION``) when the sweep ends and writes, per
trajectory:

* ``norm_predicted`` at every step: the fitted curve (none where the fit failed);
* at the trajectory's last step, ``norm_fitted``: ``FIT_VERSION`` when it was fitted, minus
  it when not (too few checkpoints in the fit range, or the fit failed), and
  ``norm_fit_points``: the number of checkpoints the trajectory had.

The figure reads them instead of fitting when its ``fit_fraction`` is the default and they
match the store's trajectories (``views.extrapolation.stored_curves``; else it fits, as
before).
"""

from __future__ import annotations

import math

import pandas as pd

from ckptscope.analyses.base import (
    Derivation,
    Derived,
    DerivedScalar,
    Scalar,
    StoreReader,
    register_derivation,
)
from ckptscope.views.extrapolation import (
    DEFAULT_FRACTION,
    FIT_VERSION,
    FITTED,
    POINTS,
    PREDICTED,
    extrapolate_norms,
    norm_rows,
)


@register_derivation
class NormExtrapolation(Derivation):
    """Weight-norm trajectories fitted on their first ``DEFAULT_FRACTION`` of training."""

    name = "norm_extrap"

    def derive(self, store: StoreReader) -> Derived:
        out = Derived()
        rows = norm_rows(store)
        if rows.empty:
            return out
        table, curves = extrapolate_norms(rows, DEFAULT_FRACTION)
        for r in curves.itertuples(index=False):
            if math.isfinite(r.predicted):
                rec = Scalar(r.component, _block(r.block), r.param, PREDICTED, float(r.predicted))
                out.scalars.append(DerivedScalar(r.model, int(r.step), rec))
        for r in table.itertuples(index=False):
            fitted = FIT_VERSION if not math.isnan(r.predicted_last) else -FIT_VERSION
            for metric, value in ((FITTED, fitted), (POINTS, r.n_points)):
                rec = Scalar(r.component, _block(r.block), r.param, metric, float(value))
                out.scalars.append(DerivedScalar(r.model, int(r.last_step), rec))
        return out


def _block(block: object) -> int | None:
    return None if pd.isna(block) else int(block)
