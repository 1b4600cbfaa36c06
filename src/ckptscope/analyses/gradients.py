"""Weight gradients on the fixed evaluation batch (FIGURES.md F4).

The loss is the mean next-token cross-entropy over every token of the batch. Records are
keyed like the weight statistics (the same canonical component, block and param as the
weight, via ``ctx.adapter.canonical``), with ``grad_``-prefixed metrics:
``grad_norm, grad_mean, grad_std, grad_skew, grad_kurtosis`` (excess), ``grad_max_abs``,
``grad_numel``, and arrays of kind ``grad_hist`` (universal grid). Block None of a
per-block component (e.g. ``mlp_out``) holds its ``grad_hist`` pooled over all blocks;
component ``model`` holds ``grad_norm`` of all parameters together and the batch info.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np
from torch import nn

from ckptscope.adapters.base import Adapter
from ckptscope.analyses.activations import check_eval_options, evaluate, hist_meta
from ckptscope.analyses.base import (
    Analysis,
    Array,
    CheckpointContext,
    Record,
    Scalar,
    register_analysis,
)
from ckptscope.stats import histogram
from ckptscope.stats.moments import moments

log = logging.getLogger(__name__)


def gradient_records(
    model: nn.Module, raw_names: dict[str, str], adapter: Adapter, batch_sha: str
) -> list[Record]:
    """Records of every parameter's ``.grad`` (after a backward), canonically keyed.

    ``raw_names`` maps the model's parameter names to the checkpoint's tensor names, which
    the adapter knows (they differ where transformers renames, e.g. embed_out/lm_head).
    """
    meta = hist_meta(batch_sha)
    out: list[Record] = []
    pooled: dict[tuple[str, str], np.ndarray] = {}
    total_sq = 0.0
    for raw, p in model.named_parameters():  # tied parameters appear once
        comp = adapter.canonical(raw_names.get(raw, raw))
        if p.grad is None or comp is None:
            log.debug("no gradient record for %s", raw)
            continue
        m = moments(p.grad)
        total_sq += m.norm**2
        out += [
            Scalar(comp.component, comp.block, comp.param, f"grad_{k}", v)
            for k, v in m.as_metrics().items()
        ]
        counts = histogram(p.grad.detach().float().cpu().numpy())
        out.append(Array(comp.component, comp.block, comp.param, "grad_hist", counts, meta=meta))
        if comp.block is not None:
            key = (comp.component, comp.param)
            pooled[key] = pooled[key] + counts if key in pooled else counts
    for (component, param), counts in sorted(pooled.items()):
        out.append(Array(component, None, param, "grad_hist", counts, meta=meta))
    out.append(Scalar("model", None, "", "grad_norm", math.sqrt(total_sq)))
    return out


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
        assert records is not None
        yield from records
