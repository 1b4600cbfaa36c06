"""The derivation ``resid_outliers``: how outlier dimensions persist over training (F6).

From the rows of the ``activations`` analysis (``activations.py``), per block and step:
``outlier_jaccard`` (overlap of the top-k outlier dimensions with the previous stored
step's) and ``max_abs_ever`` (running max over steps up to this one of ``max_abs``; F6
reads the last step's). A module of its own, without torch: every sweep runs the
derivations, a weights-only one included.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ckptscope.analyses.base import (
    Derivation,
    Derived,
    DerivedScalar,
    Scalar,
    StoreReader,
    register_derivation,
)


@register_derivation
class ResidOutliers(Derivation):
    """Persistence of outlier dimensions between steps, and the running max of max |resid|."""

    name = "resid_outliers"

    def derive(self, store: StoreReader) -> Derived:
        derived = Derived()
        maxes = store.scalars(component="resid", metric="max_abs")
        for (model, block), g in maxes.dropna(subset=["block"]).groupby(["model", "block"]):
            g = g.sort_values("step")
            for step, running in zip(
                g["step"], np.maximum.accumulate(g["value"].to_numpy()), strict=True
            ):
                rec = Scalar("resid", int(block), "", "max_abs_ever", float(running))
                derived.scalars.append(DerivedScalar(model, int(step), rec))
        dims = store.arrays(component="resid", kind="outlier_dims")
        for (model, block), g in _by_block(dims):
            g = g.sort_values("step")
            prev: set[int] | None = None
            for step, values in zip(g["step"], g["values"], strict=True):
                top = {int(d) for d in np.asarray(values)[0]}
                if prev is not None:
                    jac = len(top & prev) / len(top | prev)
                    rec = Scalar("resid", int(block), "", "outlier_jaccard", jac)
                    derived.scalars.append(DerivedScalar(model, int(step), rec))
                prev = top
        return derived


def _by_block(frame: pd.DataFrame):
    if frame.empty:
        return iter(())
    return frame.dropna(subset=["block"]).groupby(["model", "block"])
