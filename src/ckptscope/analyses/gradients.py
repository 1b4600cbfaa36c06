"""Weight gradients on the fixed evaluation batch (figure F4, docs/figures.md).

The loss is the mean next-token cross-entropy over every token of the batch. Records are
keyed like the weight statistics (the same canonical component, block and param as the
weight, via ``ctx.adapter.canonical``), with ``grad_``-prefixed metrics:
``grad_norm, grad_mean, grad_std, grad_skew, grad_kurtosis`` (excess), ``grad_max_abs``,
``grad_numel``, and arrays of kind ``grad_hist`` (universal grid). Block None of a
per-block component (e.g. ``mlp_out``) holds its ``grad_hist`` pooled over all blocks;
component ``model`` holds ``grad_norm`` of all parameters together and the batch info.
"""

from __future__ import annotations

from collections.abc import Iterator

from ckptscope.analyses.base import Analysis, CheckpointContext, Record, register_analysis
from ckptscope.analyses.evaluation import EvaluationOptions, evaluate


@register_analysis
class Gradients(Analysis):
    """Gradient norms, moments and histograms of every weight on the evaluation batch."""

    name = "gradients"
    Options = EvaluationOptions
    requires = frozenset({"data"})

    def run(self, ctx: CheckpointContext) -> Iterator[Record]:
        records = evaluate(ctx, gradients=True).gradients
        assert records is not None  # gradients=True always runs the backward
        yield from records
