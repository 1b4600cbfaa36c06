"""The evaluation pass that activations and gradients share, and the records it yields.

One forward pass over the sweep's fixed evaluation batch (and a backward when the
checkpoint's analyses include ``gradients``) runs once per checkpoint; its result is kept
on the :class:`~ckptscope.analyses.base.CheckpointContext` (``ctx.shared``) for the other
analysis. The model comes from the sweep's :class:`~ckptscope.models.cache.WorkerCache`
(built once per architecture, each checkpoint's weights swapped in).
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from ckptscope.adapters.base import Adapter
from ckptscope.analyses.base import (
    AnalysisSkipped,
    Array,
    CheckpointContext,
    Label,
    Record,
    Scalar,
    metric_records,
)
from ckptscope.analyses.options import parse, require_int
from ckptscope.models.batch import BatchConfig, EvalBatch, NoEvalData, eval_batch
from ckptscope.models.forward import forward_backward
from ckptscope.models.resid_stats import ResidualStats
from ckptscope.models.swap import parse_dtype
from ckptscope.names import FAMILIES
from ckptscope.stats import UNIVERSAL_GRID, histogram, quantiles
from ckptscope.stats.moments import moments

log = logging.getLogger(__name__)

OUTLIER_K = 8
FIT_SAMPLES = 20_000


@dataclass(frozen=True)
class EvaluationOptions:
    """The evaluation pass's options (activations and gradients share them).

    ``n_seqs`` x ``seq_len`` tokens per batch, ``micro_batch`` sequences per forward,
    ``data_seed`` (None: the sweep's seed), ``dtype`` of the model (None: float32),
    ``outlier_k`` dimensions per block, ``fit_samples`` for the pooled fits (0: none).
    """

    n_seqs: int = 16
    seq_len: int = 128
    micro_batch: int = 4
    data_seed: int | None = None
    dtype: str | None = None
    outlier_k: int = OUTLIER_K
    fit_samples: int = FIT_SAMPLES

    def __post_init__(self) -> None:
        for name in ("n_seqs", "micro_batch", "outlier_k"):
            require_int(name, getattr(self, name), 1)
        require_int("seq_len", self.seq_len, 2)
        require_int("data_seed", self.data_seed, 0, none=True)
        require_int("fit_samples", self.fit_samples, 0)
        parse_dtype(self.dtype)

    def batch(self, data: str | None, seed: int) -> BatchConfig:
        """The evaluation batch these options describe."""
        seed = seed if self.data_seed is None else self.data_seed
        return BatchConfig(data, self.n_seqs, self.seq_len, self.micro_batch, seed)


def eval_options(ctx: CheckpointContext) -> EvaluationOptions:
    return parse(EvaluationOptions, ctx.options.extra)


@dataclass
class Evaluation:
    """Everything one shared pass produced, as records for each analysis."""

    activations: list[Record] = field(default_factory=list)
    gradients: list[Record] | None = None  # None: the pass ran without backward


def batch_for(ctx: CheckpointContext) -> EvalBatch:
    """The sweep's evaluation batch, or AnalysisSkipped when the suite has no data."""
    try:
        return eval_batch(
            ctx.checkpoint,
            eval_options(ctx).batch(ctx.options.extra.get("data"), ctx.options.seed),
            ctx.cache,
        )
    except NoEvalData as why:
        raise AnalysisSkipped(str(why)) from None


def evaluate(ctx: CheckpointContext, gradients: bool) -> Evaluation:
    """The shared pass of this checkpoint: computed once, kept on the context.

    One forward (and backward, when the checkpoint's analyses include ``gradients``)
    serves both analyses; ``gradients=True`` forces the backward.
    """
    batch = batch_for(ctx)
    opts = eval_options(ctx)
    dtype = parse_dtype(opts.dtype)
    key = ("evaluation", batch.sha256, str(dtype), ctx.options.device)
    hit = ctx.shared.get(key)
    if hit is not None and (hit.gradients is not None or not gradients):
        return hit
    backward = gradients or "gradients" in ctx.analyses
    swapped = ctx.cache.model(ctx.checkpoint, dtype=dtype, device=ctx.options.device)
    model = swapped.model
    stats: dict[int | None, ResidualStats] = {}

    def on_resid(index: int | None, h: torch.Tensor) -> None:
        seed = ctx.options.seed * 7919 + (0 if index is None else index + 1)
        stats.setdefault(index, ResidualStats(seed)).update(h)

    loss = forward_backward(
        model, batch.ids, micro_batch=batch.micro_batch, on_resid=on_resid, backward=backward
    )
    records = residual_records(stats, loss, batch, opts.outlier_k, ctx.options.seed,
                               opts.fit_samples)  # fmt: skip
    result = Evaluation(activations=records)
    if backward:
        result.gradients = [
            *gradient_records(model, swapped.raw_names, ctx.adapter, batch.sha256),
            _info(batch, "gradients"),
        ]
        model.zero_grad(set_to_none=True)
    ctx.shared[key] = result
    return result


def _info(batch: EvalBatch, analysis: str) -> Array:
    return Array("model", None, analysis, "eval_batch_info",
                 np.asarray(batch.ids.shape, dtype=np.float64), meta=batch.info_json())  # fmt: skip


def hist_meta(batch_sha: str) -> str:
    """The ``meta`` of a histogram: its grid plus the batch it counts."""
    return json.dumps({**json.loads(UNIVERSAL_GRID.to_json()), "tokens_sha256": batch_sha})


def residual_records(
    stats: dict[int | None, ResidualStats],
    loss: float,
    batch: EvalBatch,
    k: int,
    seed: int,
    fit_samples: int = FIT_SAMPLES,
) -> list[Record]:
    """Records of every residual position, the pooled blocks, the loss and the batch."""
    meta = hist_meta(batch.sha256)
    out: list[Record] = [Scalar("model", None, "", "loss", loss), _info(batch, "activations")]
    pooled = ResidualStats()
    for index in sorted(stats, key=lambda i: -1 if i is None else i):
        s = stats[index]
        comp, block = ("resid_embed", None) if index is None else ("resid", index)
        out += metric_records(comp, block, "", s.metrics())
        out.append(Array(comp, block, "", "hist", s.hist.compute(), meta=meta))
        out.append(Array(comp, block, "", "outlier_dims", s.outlier_dims(k), meta=_OUTLIER_META))
        if index is not None:
            pooled.combine(s)
    if pooled.n:
        out += metric_records("resid", None, "", pooled.metrics())
        out.append(Array("resid", None, "", "hist", pooled.hist.compute(), meta=meta))
        sample = pooled.sample()
        out.append(Array("resid", None, "", "quantiles", quantiles(sample, seed=seed), meta=meta))
        if fit_samples > 0:  # fits cost ~1 s per checkpoint on 20k values; 0 skips them
            out += fit_scalars("resid", None, "", sample, seed, fit_samples)
    return out


_OUTLIER_META = json.dumps({"rows": ["dim", "max_abs"], "order": "max_abs descending"})


def fit_scalars(
    component: str,
    block: int | None,
    param: str,
    sample: np.ndarray,
    seed: int,
    max_samples: int = FIT_SAMPLES,
) -> list[Scalar | Label]:
    """Distribution fits of a sample: BIC per family, Student-t nu, power-law alpha, the winner."""
    from ckptscope.stats import fit_all  # SciPy: imported when a fit runs, not with the module

    report = fit_all(sample, seed=seed, max_samples=max_samples)
    out: list[Scalar] = [
        Scalar(component, block, param, f"fit_{f.family}_bic", f.bic) for f in report.fits
    ]
    for f in report.fits:
        if f.family == "student_t" and "nu" in f.params:
            out.append(Scalar(component, block, param, "t_nu", f.params["nu"]))
    if report.power_law is not None:
        out.append(Scalar(component, block, param, "power_law_alpha", report.power_law.alpha))
    found: list[Scalar | Label] = [s for s in out if math.isfinite(s.value)]
    if report.winner_index is not None:
        found.append(Label(component, block, param, "fit_winner", FAMILIES[report.winner_index]))
    return found


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
        out += metric_records(
            comp.component, comp.block, comp.param, m.as_metrics(), prefix="grad_"
        )
        counts = histogram(p.grad)  # binned on the gradient's device
        out.append(Array(comp.component, comp.block, comp.param, "grad_hist", counts, meta=meta))
        if comp.block is not None:
            key = (comp.component, comp.param)
            pooled[key] = pooled[key] + counts if key in pooled else counts
    for (component, param), counts in sorted(pooled.items()):
        out.append(Array(component, None, param, "grad_hist", counts, meta=meta))
    out.append(Scalar("model", None, "", "grad_norm", math.sqrt(total_sq)))
    return out
