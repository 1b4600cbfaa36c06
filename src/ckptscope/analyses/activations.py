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

The derivation ``resid_outliers`` (``resid_outliers.py``) adds, per block and step,
``outlier_jaccard`` and ``max_abs_ever`` from these records.

Activations and gradients share one forward+backward pass per checkpoint
(``evaluation.py``). Options (``--set``): ``data``, ``n_seqs``, ``seq_len``,
``micro_batch``, ``data_seed``, ``dtype``, ``outlier_k``, ``fit_samples`` (0: no fits).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

from ckptscope.analyses.base import (
    Analysis,
    CheckpointContext,
    Record,
    register_analysis,
)
from ckptscope.analyses.evaluation import EvaluationOptions, evaluate
from ckptscope.analyses.resid_outliers import ResidOutliers as ResidOutliers  # moved there

log = logging.getLogger(__name__)


@register_analysis
class Activations(Analysis):
    """Residual-stream statistics, outlier dimensions and loss on the evaluation batch."""

    name = "activations"
    Options = EvaluationOptions
    requires = frozenset({"data"})

    def run(self, ctx: CheckpointContext) -> Iterator[Record]:
        yield from evaluate(ctx, gradients=False).activations
