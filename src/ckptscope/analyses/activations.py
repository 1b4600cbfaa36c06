"""Residual-stream activations on a fixed evaluation batch (FIGURES.md F3, F5, F6).

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

Activations and gradients share one forward+backward pass per checkpoint (see
:func:`evaluate`). Options (``SweepOptions.extra``): ``data``, ``n_seqs``, ``seq_len``,
``micro_batch``, ``data_seed``, ``dtype``, ``outlier_k``, ``fit_samples`` (0: no fits),
``analyses`` (the sweep's list: no backward unless it holds ``gradients``).
"""

from __future__ import annotations

import json
import logging
import math
import weakref
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import torch

from ckptscope.analyses.base import (
    Analysis,
    AnalysisSkipped,
    Array,
    CheckpointContext,
    Derivation,
    Derived,
    Record,
    Scalar,
    int_option,
    register_analysis,
    register_derivation,
)
from ckptscope.models.batch import BatchConfig, EvalBatch, NoEvalData, eval_batch
from ckptscope.models.forward import forward_backward
from ckptscope.models.resid_stats import ResidualStats
from ckptscope.models.swap import parse_dtype, swapped_model
from ckptscope.sources.base import Checkpoint
from ckptscope.stats import UNIVERSAL_GRID, fit_all, quantiles

log = logging.getLogger(__name__)

OUTLIER_K = 8
FIT_SAMPLES = 20_000


@dataclass
class Evaluation:
    """Everything one shared pass produced, as records for each analysis."""

    activations: list[Record] = field(default_factory=list)
    gradients: list[Record] | None = None  # None: the pass ran without backward


_LAST: tuple[tuple, weakref.ref[Checkpoint], Evaluation] | None = None


def batch_for(ctx: CheckpointContext) -> EvalBatch:
    """The sweep's evaluation batch, or AnalysisSkipped when the suite has no data."""
    try:
        return eval_batch(
            ctx.checkpoint, BatchConfig.from_options(ctx.options.extra, ctx.options.seed)
        )
    except NoEvalData as why:
        raise AnalysisSkipped(str(why)) from None


def _wants_gradients(ctx: CheckpointContext) -> bool:
    # One pass serves both analyses; a backward is wasted only when the sweep says
    # (extra["analyses"]) that gradients are not wanted.
    analyses = ctx.options.extra.get("analyses")
    return analyses is None or "gradients" in analyses


def evaluate(ctx: CheckpointContext, gradients: bool) -> Evaluation:
    """The shared pass for this checkpoint, computed once per process (the latest is kept)."""
    global _LAST
    batch = batch_for(ctx)
    dtype = parse_dtype(ctx.options.extra.get("dtype"))
    device = ctx.options.device
    key = (
        batch.sha256,
        str(dtype),
        device,
        _k(ctx),
        ctx.options.seed,
        ctx.options.extra.get("fit_samples"),
    )
    hit = _LAST if _LAST is not None and _LAST[0] == key and _LAST[1]() is ctx.checkpoint else None
    if hit is not None and (hit[2].gradients is not None or not gradients):
        return hit[2]
    _LAST = None
    backward = gradients or _wants_gradients(ctx)
    swapped = swapped_model(ctx.checkpoint, dtype=dtype, device=device)
    model = swapped.model
    stats: dict[int | None, ResidualStats] = {}

    def on_resid(index: int | None, h: torch.Tensor) -> None:
        seed = ctx.options.seed * 7919 + (0 if index is None else index + 1)
        stats.setdefault(index, ResidualStats(seed)).update(h)

    loss = forward_backward(
        model, batch.ids, micro_batch=batch.micro_batch, on_resid=on_resid, backward=backward
    )
    fit_samples = int_option(ctx.options.extra, "fit_samples", FIT_SAMPLES, 0)
    records = residual_records(stats, loss, batch, _k(ctx), ctx.options.seed, fit_samples)
    result = Evaluation(activations=records)
    if backward:
        from ckptscope.analyses.gradients import gradient_records

        result.gradients = [
            *gradient_records(model, swapped.raw_names, ctx.adapter, batch.sha256),
            _info(batch, "gradients"),
        ]
        model.zero_grad(set_to_none=True)
    _LAST = (key, weakref.ref(ctx.checkpoint), result)
    return result


def _k(ctx: CheckpointContext) -> int:
    return int_option(ctx.options.extra, "outlier_k", OUTLIER_K, 1)


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
        out += [Scalar(comp, block, "", m, v) for m, v in s.metrics().items()]
        out.append(Array(comp, block, "", "hist", s.hist.compute(), meta=meta))
        out.append(Array(comp, block, "", "outlier_dims", s.outlier_dims(k), meta=_OUTLIER_META))
        if index is not None:
            pooled.combine(s)
    if pooled.n:
        out += [Scalar("resid", None, "", m, v) for m, v in pooled.metrics().items()]
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
) -> list[Scalar]:
    """Distribution fits of a sample as scalars: BIC per family, Student-t nu, power-law alpha."""
    report = fit_all(sample, seed=seed, max_samples=max_samples)
    out = [Scalar(component, block, param, f"fit_{f.family}_bic", f.bic) for f in report.fits]
    for f in report.fits:
        if f.family == "student_t" and "nu" in f.params:
            out.append(Scalar(component, block, param, "t_nu", f.params["nu"]))
    if report.winner_index is not None:
        out.append(Scalar(component, block, param, "fit_winner", float(report.winner_index)))
    if report.power_law is not None:
        out.append(Scalar(component, block, param, "power_law_alpha", report.power_law.alpha))
    return [s for s in out if math.isfinite(s.value)]


def check_eval_options(extra: Mapping[str, Any]) -> None:
    """Validate the evaluation-batch options (shared with ``gradients``) as ``evaluate`` reads them."""
    for key in ("n_seqs", "seq_len", "micro_batch", "data_seed"):
        int_option(extra, key, 2, 0 if key == "data_seed" else 1)
    BatchConfig.from_options(dict(extra))
    parse_dtype(extra.get("dtype"))


@register_analysis
class Activations(Analysis):
    """Residual-stream statistics, outlier dimensions and loss on the evaluation batch."""

    name = "activations"
    options = frozenset(
        {"n_seqs", "seq_len", "micro_batch", "data_seed", "dtype", "outlier_k", "fit_samples"}
    )
    requires = frozenset({"data"})

    def check_options(self, extra: Mapping[str, Any]) -> None:
        check_eval_options(extra)
        int_option(extra, "outlier_k", OUTLIER_K, 1)
        int_option(extra, "fit_samples", FIT_SAMPLES, 0)

    def run(self, ctx: CheckpointContext) -> Iterator[Record]:
        yield from evaluate(ctx, gradients=False).activations


@register_derivation
class ResidOutliers(Derivation):
    """Persistence of outlier dimensions between steps, and the running max of max |resid|."""

    name = "resid_outliers"

    def derive(self, store) -> Derived:
        derived = Derived()
        maxes = store.scalars(component="resid", metric="max_abs")
        for (model, block), g in maxes.dropna(subset=["block"]).groupby(["model", "block"]):
            g = g.sort_values("step")
            for step, running in zip(
                g["step"], np.maximum.accumulate(g["value"].to_numpy()), strict=True
            ):
                derived.scalars.append(
                    (
                        model,
                        int(step),
                        Scalar("resid", int(block), "", "max_abs_ever", float(running)),
                    )
                )
        dims = store.arrays(component="resid", kind="outlier_dims")
        for (model, block), g in _by_block(dims):
            g = g.sort_values("step")
            prev: set[int] | None = None
            for step, values in zip(g["step"], g["values"], strict=True):
                top = {int(d) for d in np.asarray(values)[0]}
                if prev is not None:
                    jac = len(top & prev) / len(top | prev)
                    derived.scalars.append(
                        (model, int(step), Scalar("resid", int(block), "", "outlier_jaccard", jac))
                    )
                prev = top
        return derived


def _by_block(frame: pd.DataFrame):
    if frame.empty:
        return iter(())
    return frame.dropna(subset=["block"]).groupby(["model", "block"])
