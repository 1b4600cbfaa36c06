"""Residual-stream activations on a fixed evaluation batch (figures F3, F5, F6; docs/figures.md).

Records, per checkpoint (``param`` is ``""`` except on ``eval_batch_info``):

* component ``resid``, block ``i``: the residual after block ``i`` (its raw output, before
  any final LayerNorm). Scalars ``mean, std, skew, kurtosis`` (excess), ``max_abs``,
  ``numel``; arrays ``hist`` (counts on the stats module's universal grid) and
  ``outlier_dims`` (shape (2, k): row 0 the k residual dimensions with the largest
  max |activation| over the batch, row 1 those maxima, largest first).
* component ``resid``, block None: all blocks pooled (``hist``, moments, ``max_abs``,
  ``quantiles`` and distribution fits ``fit_<family>_bic``, ``t_nu``, ...).
* component ``resid_embed``, block None: the residual entering block 0 (the embedding
  output), same records as one block. A separate component, not block -1, so ``block``
  keeps meaning "block index" everywhere.
* component ``model``, block None: scalar ``loss`` (mean next-token cross-entropy on the
  batch) and array ``eval_batch_info`` (param: the analysis that wrote it; values: the
  batch shape; meta: JSON provenance: source, tokenizer sha256, tokens_sha256, seed).

The derivation ``resid_outliers`` adds, per block and step: ``outlier_jaccard`` (overlap of
the top-k outlier dimensions with the previous stored step's), ``max_abs_ever`` (running
max over steps up to this one of ``max_abs``; F6 reads the last step's).

Activations and gradients share one forward+backward pass per checkpoint
(``evaluation.py``). Options (``--set``): ``data``, ``n_seqs``, ``seq_len``,
``micro_batch``, ``data_seed``, ``dtype``, ``outlier_k``, ``fit_samples`` (0: no fits).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

import numpy as np
import pandas as pd

from ckptscope.analyses.base import (
    Analysis,
    CheckpointContext,
    Derivation,
    Derived,
    DerivedScalar,
    Record,
    Scalar,
    StoreReader,
    register_analysis,
    register_derivation,
)
from ckptscope.analyses.evaluation import EvaluationOptions, evaluate

log = logging.getLogger(__name__)


@register_analysis
class Activations(Analysis):
    """Residual-stream statistics, outlier dimensions and loss on the evaluation batch."""

    name = "activations"
    Options = EvaluationOptions
    requires = frozenset({"data"})

    def run(self, ctx: CheckpointContext) -> Iterator[Record]:
        yield from evaluate(ctx, gradients=False).activations


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
