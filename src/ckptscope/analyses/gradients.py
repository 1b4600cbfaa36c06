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

from collections.abc import Iterator, Mapping
from typing import Any

from ckptscope.analyses.base import Analysis, CheckpointContext, Record, register_analysis
from ckptscope.analyses.evaluation import check_eval_options, evaluate


@register_analysis
class Gradients(Analysis):
    """Gradient norms, moments and histograms of every weight on the evaluation batch."""

    name = "gradients"
    options = frozenset({"n_seqs", "seq_len", "micro_batch", "data_seed", "dtype"})
    requires = frozenset({"data"})

    def check_options(self, extra: Mapping[str, Any]) -> None:
        check_eval_options(extra)

    def run(self, ctx: CheckpointContext) -> Iterator[Record]:
        records = evaluate(ctx, gradients=True).gradients
        assert records is not None  # gradients=True always runs the backward
        yield from records
