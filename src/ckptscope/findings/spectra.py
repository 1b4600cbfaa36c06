"""The post's findings about spectra and singular directions (F15, F16)."""

from __future__ import annotations

import numpy as np

from ckptscope.findings.base import Outcome, Thresholds, Verdict, register_finding
from ckptscope.findings.common import labelled_curves, no_data, size_trend, too_short
from ckptscope.findings.data import FindingData
from ckptscope.linalg.esd import MIN_ALPHA_TAIL

#: the scalar metrics these checks read (``FindingData`` reads them in one scan)
METRICS = ("alpha", "alpha_tail", "mp_outliers", "svd_overlap")


def _alpha_drops(data: FindingData, model: str, comps: tuple[str, ...]) -> dict[str, float]:
    """Relative fall of alpha from first to last checkpoint, per matrix with a usable fit."""
    tails = dict(labelled_curves(data, model, comps, "weight", "alpha_tail"))
    out = {}
    for label, (_, v) in labelled_curves(data, model, comps, "weight", "alpha"):
        tail = tails.get(label)
        if tail is None or len(tail[1]) != len(v) or np.min(tail[1]) < MIN_ALPHA_TAIL:
            continue  # a fit missing at some step, or too short a tail somewhere
        if not v[0] > 0:
            continue
        out[label] = float(1 - v[-1] / v[0])
    return out


@register_finding(
    "F15", "F15", "spectra",
    "MLP spectra become power-law early (alpha falls); attention dense stays flat.",
)  # fmt: skip
def mlp_spectra_power_law(data: FindingData, th: Thresholds) -> list[Outcome]:
    """Per model, the power-law exponent alpha of each MLP matrix's eigenvalue spectrum, from
    the first to the last checkpoint, over matrices whose fits have at least 10 tail
    eigenvalues (smaller fits give meaningless alphas). Reproduced when alpha falls by
    `alpha_drop` or more in at least `share` of them and attention dense's mean fall is
    smaller.
    """
    out = []
    for model in data.models("alpha"):
        curves = labelled_curves(data, model, ("mlp_in", "mlp_out"), "weight", "alpha")
        if not curves:
            out.append(no_data(mlp_spectra_power_law, model, "MLP alpha", data))
            continue
        used = {
            **th.only("min_checkpoints", "share", "alpha_drop"),
            "min_alpha_tail": MIN_ALPHA_TAIL,
        }
        why = too_short(curves, th)
        mlp = _alpha_drops(data, model, ("mlp_in", "mlp_out"))
        dense = _alpha_drops(data, model, ("attn_out",))
        if not why and not mlp:
            why = f"no MLP matrix has {MIN_ALPHA_TAIL} or more tail eigenvalues for a fit"
        if why:
            out.append(mlp_spectra_power_law.outcome(model, Verdict.INCONCLUSIVE, why, **used))
            continue
        falls = [k for k, d in mlp.items() if d >= th.alpha_drop]
        share = len(falls) / len(mlp)
        mean_mlp = float(np.mean(list(mlp.values())))
        evidence = (f"alpha falls by {th.alpha_drop:.0%} or more in {len(falls)} of {len(mlp)} "
                    f"MLP matrices (mean fall {mean_mlp:.0%})")  # fmt: skip
        if not dense:  # the claim compares with attention dense: without it, no verdict
            evidence += f"; no attention dense matrix has {MIN_ALPHA_TAIL} tail eigenvalues"
            out.append(mlp_spectra_power_law.outcome(model, Verdict.INCONCLUSIVE, evidence, **used))
            continue
        mean_dense = float(np.mean(list(dense.values())))
        evidence += f"; attention dense mean fall {mean_dense:.0%}"
        ok = share >= th.share and mean_dense < mean_mlp
        verdict = Verdict.REPRODUCED if ok else Verdict.NOT_REPRODUCED
        out.append(mlp_spectra_power_law.outcome(model, verdict, evidence, **used))
    return out


@register_finding(
    "F15-outliers", "F15", "spectra",
    "Some QKV blocks grow outlier singular values, late in training too.",
)  # fmt: skip
def qkv_outliers(data: FindingData, th: Thresholds) -> list[Outcome]:
    """Per model, the number of singular values of each attention qkv matrix above the
    Marchenko-Pastur edge: reproduced when any block ends with more than it started
    with.
    """
    out = []
    for model in data.models("mp_outliers"):
        curves = labelled_curves(data, model, ("qkv", "q", "k", "v"), "weight", "mp_outliers")
        if not curves:
            out.append(no_data(qkv_outliers, model, "qkv mp_outliers", data))
            continue
        why = too_short(curves, th)
        if why:
            out.append(qkv_outliers.outcome(model, Verdict.INCONCLUSIVE, why))
            continue
        grew = {lab: (v[0], v[-1]) for lab, (_, v) in curves if v[-1] > v[0]}
        listing = ", ".join(f"{lab} {a:.0f} -> {b:.0f}" for lab, (a, b) in list(grew.items())[:4])
        evidence = (f"{len(grew)} of {len(curves)} attention qkv matrices end with more singular "
                    f"values above the Marchenko-Pastur edge than at the start"
                    + (f": {listing}" if listing else ""))  # fmt: skip
        verdict = Verdict.REPRODUCED if grew else Verdict.NOT_REPRODUCED
        out.append(qkv_outliers.outcome(model, verdict, evidence, **th.only("min_checkpoints")))
    return out


def _overall_overlap(data: FindingData, model: str):
    curves = data.curves(model, "all", "all", "svd_overlap")
    return curves.get(None)


@register_finding(
    "F16", "F16", "svd_directions",
    "Closeness of the top singular directions to the final checkpoint emerges late and "
    "grows fast near the end.",
)  # fmt: skip
def closeness_emerges_late(data: FindingData, th: Thresholds) -> list[Outcome]:
    """Per model, the overlap of the top singular directions' tokens with the final
    checkpoint's (all matrices averaged): reproduced when it first reaches halfway
    between its first and final value after `late` of the step range.
    """
    out = []
    for model in data.models("svd_overlap"):
        curve = _overall_overlap(data, model)
        if curve is None:
            out.append(no_data(closeness_emerges_late, model, "svd_overlap", data))
            continue
        steps, values = curve
        used = th.only("min_checkpoints", "late")
        if len(steps) < th.min_checkpoints:
            why = f"only {len(steps)} checkpoints (a shape needs {th.min_checkpoints})"
            out.append(closeness_emerges_late.outcome(model, Verdict.INCONCLUSIVE, why, **used))
            continue
        first, final = float(values[0]), float(values[-1])
        if final <= first:
            why = f"overlap does not grow: {first:.2f} at step {steps[0]}, {final:.2f} at the end"
            out.append(closeness_emerges_late.outcome(model, Verdict.INCONCLUSIVE, why, **used))
            continue
        half = first + (final - first) / 2
        reach = steps[np.nonzero(values >= half)[0][0]]
        frac = (reach - steps[0]) / max(1, steps[-1] - steps[0])
        evidence = (f"set overlap with the final checkpoint's tokens: {first:.2f} at step "
                    f"{steps[0]}, halfway ({half:.2f}) at step {reach} ({frac:.0%} of training)")  # fmt: skip
        verdict = Verdict.REPRODUCED if frac >= th.late else Verdict.NOT_REPRODUCED
        out.append(closeness_emerges_late.outcome(model, verdict, evidence, **used))
    return out


@register_finding(
    "F16-size", "F16", "svd_directions", "Larger models' singular directions are more stable."
)
def larger_more_stable(data: FindingData, th: Thresholds) -> list[Outcome]:
    """The mean overlap with the final checkpoint over training against model size: reproduced
    when the rank correlation is positive; inconclusive with fewer than two sizes.
    """
    means = {}
    for model in data.models("svd_overlap"):
        curve = _overall_overlap(data, model)
        if curve is not None and len(curve[0]) >= th.min_checkpoints:
            means[model] = float(np.mean(curve[1]))
    return [size_trend(larger_more_stable, means, "mean overlap with the final tokens", +1, th)]
