"""Residual-stream activations on a fixed evaluation batch (FIGURES.md F3, F5, F6).

Records, per checkpoint (``param`` is ``""`` throughout):

* component ``resid``, block ``i``: the residual after block ``i`` (its raw output, before
  any final LayerNorm). Scalars ``mean, std, skew, kurtosis`` (excess), ``max_abs``,
  ``numel``; arrays ``hist`` (counts on the stats module's universal grid) and
  ``outlier_dims`` (shape (2, k): row 0 the k residual dimensions with the largest
  max |activation| over the batch, row 1 those maxima, largest first).
* component ``resid``, block None: all blocks pooled (``hist``, moments, ``max_abs``,
  ``quantiles`` and distribution fits ``fit_<family>_bic``, ``student_t_nu``, ...).
* component ``resid_embed``, block None: the residual entering block 0 (the embedding
  output), same records as one block. A separate component, not block -1, so ``block``
  keeps meaning "block index" everywhere.
* component ``model``, block None: scalar ``loss`` (mean next-token cross-entropy on the
  batch) and array ``eval_batch_info`` (values: the batch shape; meta: its provenance).

The derivation ``resid_outliers`` adds, per block and step: ``outlier_jaccard`` (overlap of
the top-k outlier dimensions with the previous stored step's), ``max_abs_ever`` (running
max over steps up to this one of ``max_abs``; F6 reads the last step's).

Activations and gradients share one forward+backward pass per checkpoint (see
:func:`evaluate`). Options (``SweepOptions.extra``): ``data``, ``n_seqs``, ``seq_len``,
``micro_batch``, ``data_seed``, ``dtype``, ``outlier_k``, ``analyses``.
"""

from __future__ import annotations

import json
import logging
import math
import weakref
from collections.abc import Iterator
from dataclasses import dataclass, field

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
    register_analysis,
    register_derivation,
)
from ckptscope.models.batch import BatchConfig, EvalBatch, NoEvalData, eval_batch
from ckptscope.models.forward import forward_backward
from ckptscope.models.swap import parse_dtype, swapped_model
from ckptscope.sources.base import Checkpoint
from ckptscope.stats import UNIVERSAL_GRID, HistogramAccumulator, fit_all, quantiles

log = logging.getLogger(__name__)

OUTLIER_K = 8
SAMPLES_PER_UPDATE = 1 << 13  # residual values kept per block and micro-batch, for fits
FIT_SAMPLES = 20_000


class ResidualStats:
    """Streaming statistics of one residual position: ``update`` per micro-batch."""

    def __init__(self, seed: int = 0) -> None:
        self.hist = HistogramAccumulator()
        self.n = 0
        self.mean = 0.0
        self.m2 = self.m3 = self.m4 = 0.0  # central power sums (not divided by n)
        self.dim_max: torch.Tensor | None = None  # (d_model,) max |h| per dimension
        self.samples: list[np.ndarray] = []
        self._gen = torch.Generator().manual_seed(seed)

    def update(self, h: torch.Tensor) -> None:
        """Add a residual ``(batch, seq, d_model)``."""
        # float64: fourth powers of outliers in the hundreds overflow float16 and
        # lose the bulk's contribution in float32.
        x = h.detach().reshape(-1, h.shape[-1]).to(torch.float64)  # (tokens, d_model)
        dim_max = x.abs().amax(dim=0).cpu()
        self.dim_max = dim_max if self.dim_max is None else torch.maximum(self.dim_max, dim_max)
        flat = x.reshape(-1)
        self._merge(flat)
        cpu = flat.cpu().numpy()
        self.hist.update(cpu)
        idx = torch.randint(cpu.size, (min(SAMPLES_PER_UPDATE, cpu.size),), generator=self._gen)
        self.samples.append(cpu[idx.numpy()])

    def _merge(self, flat: torch.Tensor) -> None:
        # Pébay's pairwise update of central moments: exact, one pass per micro-batch.
        nb = flat.numel()
        mb = float(flat.mean())
        d = flat - mb
        d2 = d * d
        m2b, m3b, m4b = float(d2.sum()), float((d2 * d).sum()), float((d2 * d2).sum())
        na, n = self.n, self.n + nb
        delta = mb - self.mean
        m4 = (
            self.m4
            + m4b
            + delta**4 * na * nb * (na * na - na * nb + nb * nb) / n**3
            + 6 * delta**2 * (na * na * m2b + nb * nb * self.m2) / n**2
            + 4 * delta * (na * m3b - nb * self.m3) / n
        )
        m3 = self.m3 + m3b + delta**3 * na * nb * (na - nb) / n**2
        m3 += 3 * delta * (na * m2b - nb * self.m2) / n
        self.m2 += m2b + delta**2 * na * nb / n
        self.m3, self.m4 = m3, m4
        self.mean += delta * nb / n
        self.n = n

    def combine(self, other: ResidualStats) -> None:
        """Pool another position's statistics into this one (all blocks together)."""
        na, nb = self.n, other.n
        if nb == 0:
            return
        if na == 0:
            self.n, self.mean, self.m2, self.m3, self.m4 = (
                other.n, other.mean, other.m2, other.m3, other.m4,
            )  # fmt: skip
        else:
            n = na + nb
            delta = other.mean - self.mean
            m4 = (
                self.m4 + other.m4
                + delta**4 * na * nb * (na * na - na * nb + nb * nb) / n**3
                + 6 * delta**2 * (na * na * other.m2 + nb * nb * self.m2) / n**2
                + 4 * delta * (na * other.m3 - nb * self.m3) / n
            )  # fmt: skip
            m3 = self.m3 + other.m3 + delta**3 * na * nb * (na - nb) / n**2
            m3 += 3 * delta * (na * other.m2 - nb * self.m2) / n
            self.m2 += other.m2 + delta**2 * na * nb / n
            self.m3, self.m4 = m3, m4
            self.mean += delta * nb / n
            self.n = n
        self.hist.counts += other.hist.counts
        self.samples += other.samples
        if other.dim_max is not None:
            self.dim_max = (
                other.dim_max.clone()
                if self.dim_max is None
                else torch.maximum(self.dim_max, other.dim_max)
            )

    def metrics(self) -> dict[str, float]:
        """Population moments (excess kurtosis) and max |h|; NaN-free."""
        out = {"numel": float(self.n), "mean": self.mean}
        var = self.m2 / self.n
        out["std"] = math.sqrt(var)
        if var > 0:
            out["skew"] = (self.m3 / self.n) / var**1.5
            out["kurtosis"] = (self.m4 / self.n) / var**2 - 3.0
        assert self.dim_max is not None
        out["max_abs"] = float(self.dim_max.max())
        return out

    def outlier_dims(self, k: int) -> np.ndarray:
        """(2, k): the k dimensions with the largest max |h|, and those maxima."""
        assert self.dim_max is not None
        top = torch.topk(self.dim_max, min(k, self.dim_max.numel()))
        return np.stack([top.indices.numpy().astype(np.float64), top.values.numpy()])

    def sample(self) -> np.ndarray:
        return np.concatenate(self.samples) if self.samples else np.zeros(0)


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
    key = (batch.sha256, str(dtype), device)
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
    result = Evaluation(activations=residual_records(stats, loss, batch, _k(ctx), ctx.options.seed))
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
    return int(ctx.options.extra.get("outlier_k", OUTLIER_K))


def _info(batch: EvalBatch, analysis: str) -> Array:
    return Array("model", None, analysis, "eval_batch_info",
                 np.asarray(batch.ids.shape, dtype=np.float64), meta=batch.info_json())  # fmt: skip


def hist_meta(batch_sha: str) -> str:
    """The ``meta`` of a histogram: its grid plus the batch it counts."""
    return json.dumps({**json.loads(UNIVERSAL_GRID.to_json()), "tokens_sha256": batch_sha})


def residual_records(
    stats: dict[int | None, ResidualStats], loss: float, batch: EvalBatch, k: int, seed: int
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
        out += fit_scalars("resid", None, "", sample, seed)
    return out


_OUTLIER_META = json.dumps({"rows": ["dim", "max_abs"], "order": "max_abs descending"})


def fit_scalars(
    component: str, block: int | None, param: str, sample: np.ndarray, seed: int
) -> list[Scalar]:
    """Distribution fits of a sample as scalars: BIC per family, Student-t nu, power-law alpha."""
    report = fit_all(sample, seed=seed, max_samples=FIT_SAMPLES)
    out = [Scalar(component, block, param, f"fit_{f.family}_bic", f.bic) for f in report.fits]
    for f in report.fits:
        if f.family == "student_t" and "nu" in f.params:
            out.append(Scalar(component, block, param, "student_t_nu", f.params["nu"]))
    if report.winner_index is not None:
        out.append(Scalar(component, block, param, "fit_winner", float(report.winner_index)))
    if report.power_law is not None:
        out.append(Scalar(component, block, param, "power_law_alpha", report.power_law.alpha))
    return [s for s in out if math.isfinite(s.value)]


@register_analysis
class Activations(Analysis):
    """Residual-stream statistics, outlier dimensions and loss on the evaluation batch."""

    name = "activations"
    requires = frozenset({"data"})

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
