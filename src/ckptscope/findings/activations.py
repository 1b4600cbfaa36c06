"""The post's findings about weight tails and residual-stream outliers (F1, F5, F6)."""

from __future__ import annotations

import numpy as np

from ckptscope.findings.base import Finding, Outcome, Thresholds, Verdict, register_finding
from ckptscope.findings.common import labelled_curves, no_data, shape_verdict, size_trend, too_short
from ckptscope.findings.data import Curve, FindingData
from ckptscope.findings.shapes import arc, first_crossing

#: the scalar metrics these checks read (``FindingData`` reads them in one scan)
METRICS = ("kurtosis", "max_abs", "max_abs_ever")


def _mean_curve(curves: dict[int | None, Curve]) -> Curve | None:
    """The mean over blocks of per-block trajectories, on the steps they share."""
    if not curves:
        return None
    steps = sorted(set.intersection(*(set(s.tolist()) for s, _ in curves.values())))
    if not steps:
        return None
    values = np.mean([np.interp(steps, s, v) for s, v in curves.values()], axis=0)
    return np.asarray(steps, dtype=np.int64), values


#: the weight groups of F1: name -> the components averaged
TAIL_GROUPS = {
    "qkv": ("qkv", "q", "k", "v"),
    "mlp": ("mlp_in", "mlp_out"),
    "attn_out": ("attn_out",),
}


def _kurtosis_means(data: FindingData, model: str) -> dict[str, Curve]:
    """Per weight group of :data:`TAIL_GROUPS`, the excess kurtosis averaged over blocks."""
    means = {}
    for name, comps in TAIL_GROUPS.items():
        per = {}
        for comp in comps:
            for block, curve in data.curves(model, comp, "weight", "kurtosis").items():
                per[(comp, block)] = curve
        mean = _mean_curve(per)  # type: ignore[arg-type]
        if mean is not None:
            means[name] = mean
    return means


def _tails(
    finding: Finding, data: FindingData, th: Thresholds, groups: tuple[str, ...], heavy: str,
    light: str | None,
) -> list[Outcome]:  # fmt: skip
    """Reproduced when group ``heavy`` ends at or above `heavy_kurtosis` (and ``light``, if
    given, ends below it); the evidence lists each group's final value and crossing step."""
    out = []
    for model in data.models("kurtosis"):
        means = _kurtosis_means(data, model)
        if not set(groups) <= set(means):
            what = " and ".join(g.replace("attn_out", "attention dense") for g in groups)
            out.append(no_data(finding, model, f"{what} kurtosis", data))
            continue
        used = th.only("min_checkpoints", "heavy_kurtosis")
        n = len(means[heavy][0])
        if n < th.min_checkpoints:
            why = f"only {n} checkpoints (a shape needs {th.min_checkpoints})"
            out.append(finding.outcome(model, Verdict.INCONCLUSIVE, why, **used))
            continue
        final = {k: float(means[k][1][-1]) for k in groups}
        shift = {k: first_crossing(*means[k], th.heavy_kurtosis) for k in groups}
        ok = final[heavy] >= th.heavy_kurtosis and (
            light is None or final[light] < th.heavy_kurtosis
        )
        listing = ", ".join(
            f"{k} {final[k]:.2f}"
            + (
                f" (above {th.heavy_kurtosis:g} from step {shift[k]})"
                if shift[k] is not None
                else ""
            )
            for k in groups
        )
        verdict = Verdict.REPRODUCED if ok else Verdict.NOT_REPRODUCED
        evidence = f"final excess kurtosis, mean over blocks: {listing}"
        out.append(finding.outcome(model, verdict, evidence, **used))
    return out


@register_finding(
    "F1", "F1", "weights",
    "QKV weights turn heavy-tailed (suddenly, near 20k steps); attention dense stays near "
    "Gaussian.",
)  # fmt: skip
def heavy_tails(data: FindingData, th: Thresholds) -> list[Outcome]:
    """Per model, the excess kurtosis of the weights averaged over blocks, for attention qkv
    (or q, k, v) and attention dense: reproduced when qkv ends at or above `heavy_kurtosis`
    and attention dense ends below it. The evidence gives the first step each crosses it.
    """
    return _tails(heavy_tails, data, th, ("qkv", "attn_out"), "qkv", "attn_out")


@register_finding(
    "F1-mlp", "F1", "weights",
    "MLP weights turn heavy-tailed too, within the first few thousand steps.",
)  # fmt: skip
def heavy_mlp_tails(data: FindingData, th: Thresholds) -> list[Outcome]:
    """Per model, the excess kurtosis of the MLP weights (in and out) averaged over blocks:
    reproduced when it ends at or above `heavy_kurtosis`; the evidence gives the step it
    crosses it, beside qkv's.
    """
    return _tails(heavy_mlp_tails, data, th, ("mlp", "qkv"), "mlp", None)


@register_finding(
    "F5", "F5", "activations",
    "The max |residual| per block rises fast, crests, then slowly declines.",
)  # fmt: skip
def residual_crest(data: FindingData, th: Thresholds) -> list[Outcome]:
    """Per model, each block's max |residual| on the evaluation batch: reproduced when at least
    `share` of the blocks rise by `rise`, crest before the last checkpoint and end
    `decline` below the crest.
    """
    out = []
    for model in data.models("max_abs"):
        curves = [c for c in labelled_curves(data, model, ("resid",), "", "max_abs")
                  if c[0] != "resid"]  # fmt: skip
        if not curves:
            out.append(no_data(residual_crest, model, "residual max |value|", data))
            continue
        out.append(shape_verdict(
            residual_crest, model, curves, th, lambda a: a.rises_peaks_declines(th),
            "blocks' max |residual| rise, crest and decline", ("rise", "decline"),
        ))  # fmt: skip
    return out


@register_finding("F5-size", "F5", "activations", "The residual max crests later in larger models.")
def crest_later_in_larger(data: FindingData, th: Thresholds) -> list[Outcome]:
    """Over the models whose residual max crests (F5), the median crest step against model
    size: reproduced when the rank correlation is positive; inconclusive with fewer than
    two such sizes.
    """
    crests = {}
    for model in data.models("max_abs"):
        curves = [c for c in labelled_curves(data, model, ("resid",), "", "max_abs")
                  if c[0] != "resid"]  # fmt: skip
        if not curves or too_short(curves, th):
            continue
        arcs = [arc(*c) for _, c in curves]
        if np.mean([a.rises_peaks_declines(th) for a in arcs]) >= th.share:  # F5 holds
            crests[model] = float(np.median([a.peak_step for a in arcs]))
    what = "median crest step (models whose residual max crests)"
    return [size_trend(crest_later_in_larger, crests, what, +1, th)]


@register_finding(
    "F6", "F6", "activations",
    "The largest residual value ever observed forms an inverted U over depth.",
)  # fmt: skip
def inverted_u(data: FindingData, th: Thresholds) -> list[Outcome]:
    """Per model, the largest |residual| ever observed per block (the running maximum at the
    last checkpoint): reproduced when the peak is at an interior block and both the
    first and the last block are at least `u_drop` below it; inconclusive below
    `min_blocks` blocks.
    """
    out = []
    for model in data.models("max_abs_ever"):
        curves = data.curves(model, "resid", "", "max_abs_ever")
        final = {b: float(v[-1]) for b, (_, v) in curves.items() if b is not None}
        if not final:
            out.append(no_data(inverted_u, model, "max_abs_ever", data))
            continue
        used = th.only("min_blocks", "u_drop")
        if len(final) < th.min_blocks:
            why = f"{len(final)} blocks (an inverted U needs {th.min_blocks})"
            out.append(inverted_u.outcome(model, Verdict.INCONCLUSIVE, why, **used))
            continue
        blocks = sorted(final)
        values = [final[b] for b in blocks]
        top = int(np.argmax(values))
        low = (1 - th.u_drop) * values[top]
        ok = 0 < top < len(values) - 1 and values[0] <= low and values[-1] <= low
        listing = ", ".join(f"{v:.3g}" for v in values)
        evidence = (f"max |residual| ever, blocks 0-{blocks[-1]}: [{listing}]; peak at block "
                    f"{blocks[top]}, ends {values[0] / values[top]:.0%} and "
                    f"{values[-1] / values[top]:.0%} of it")  # fmt: skip
        out.append(inverted_u.outcome(
            model, Verdict.REPRODUCED if ok else Verdict.NOT_REPRODUCED, evidence, **used
        ))  # fmt: skip
    return out
