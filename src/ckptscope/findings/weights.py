"""The post's findings about weight norms and distances (figures F7-F11, F14)."""

from __future__ import annotations

import numpy as np

from ckptscope.findings.base import Outcome, Thresholds, Verdict, register_finding
from ckptscope.findings.common import (
    final_by_block,
    labelled_curves,
    no_data,
    shape_verdict,
    size_trend,
    thirds,
    too_short,
)
from ckptscope.findings.data import FindingData
from ckptscope.findings.shapes import arc, late_share, monotone_share

#: the scalar metrics these checks read (``FindingData`` reads them in one scan)
METRICS = ("norm", "dist_init", "rel_dist_init")

MLP = ("mlp_in", "mlp_gate", "mlp_out")


@register_finding(
    "F7", "F7", "weights",
    "MLP weight norms rise, peak between 20k and 40k steps, then decline (weight decay).",
)  # fmt: skip
def mlp_norms_peak(data: FindingData, th: Thresholds) -> list[Outcome]:
    """Per model, every MLP weight matrix's norm trajectory (each block of mlp_in, mlp_gate,
    mlp_out): it rises when its peak is at least `rise` above the first checkpoint, and
    declines when the peak comes before the last checkpoint and the last is at least
    `decline` below it. Reproduced when at least `share` of the matrices rise, peak and
    decline. The step of the peak is reported, not required to fall in 20k-40k: that
    range is Pythia's schedule.
    """
    out = []
    for model in data.models("norm"):
        curves = labelled_curves(data, model, MLP, "weight", "norm")
        if not curves:
            out.append(no_data(mlp_norms_peak, model, "MLP weight norm", data))
            continue
        out.append(shape_verdict(
            mlp_norms_peak, model, curves, th, lambda a: a.rises_peaks_declines(th),
            "MLP matrices rise, peak and decline", ("rise", "decline"),
        ))  # fmt: skip
    return out


@register_finding(
    "F7-size", "F7", "weights",
    "The MLP norms' decline after the peak is smaller for larger models.",
)  # fmt: skip
def mlp_decline_by_size(data: FindingData, th: Thresholds) -> list[Outcome]:
    """Over the models whose MLP norms rise, peak and decline (F7), the mean relative decline
    from the peak against model size (parsed from the name: `160m`, `1.4b`, or a width
    `w128`). Reproduced when the rank correlation is negative; inconclusive with fewer
    than two such sizes.
    """
    declines = {}
    for model in data.models("norm"):
        curves = labelled_curves(data, model, MLP, "weight", "norm")
        if not curves or too_short(curves, th):
            continue
        arcs = [arc(*c) for _, c in curves]
        if np.mean([a.rises_peaks_declines(th) for a in arcs]) >= th.share:  # F7 holds
            declines[model] = float(np.mean([a.decline for a in arcs]))
    what = "mean decline from peak (models whose MLP norms peak)"
    return [size_trend(mlp_decline_by_size, declines, what, -1, th)]


@register_finding(
    "F8", "F8", "weights",
    "Attention norms behave like the MLP's with more spread; late blocks' QKV grows largest.",
)  # fmt: skip
def late_qkv_grows_most(data: FindingData, th: Thresholds) -> list[Outcome]:
    """Per model, each block's attention qkv weight norm growth from the first to the last
    checkpoint (q for architectures with separate projections). Reproduced when the
    block that grows most is in the last third of the blocks; inconclusive below
    `min_blocks` blocks.
    """
    out = []
    for model in data.models("norm"):
        comps = [c for c in ("qkv", "q") if data.curves(model, c, "weight", "norm")][:1]
        curves = data.curves(model, comps[0], "weight", "norm") if comps else {}
        if not curves:
            out.append(no_data(late_qkv_grows_most, model, "attention qkv norm", data))
            continue
        used = late_qkv_grows_most.outcome
        if len(curves) < th.min_blocks:
            why = f"{len(curves)} blocks (depth claims need {th.min_blocks})"
            out.append(used(model, Verdict.INCONCLUSIVE, why, min_blocks=th.min_blocks))
            continue
        growth = {b: v[-1] / v[0] - 1 for b, (_, v) in curves.items() if b is not None and v[0] > 0}
        if not growth:
            why = f"no block's {comps[0]} norm is positive at the first checkpoint"
            out.append(used(model, Verdict.INCONCLUSIVE, why, min_blocks=th.min_blocks))
            continue
        ranked = sorted(growth, key=lambda b: -growth[b])
        n = len(curves)
        late = ranked[0] >= n - thirds(n)
        listing = ", ".join(f"block {b} {growth[b] * 100:+.1f}%" for b in ranked[:3])
        evidence = (f"{comps[0]} norm growth from first to last checkpoint, largest: {listing}; "
                    f"the largest is {'in' if late else 'not in'} the last third of {n} blocks")  # fmt: skip
        verdict = Verdict.REPRODUCED if late else Verdict.NOT_REPRODUCED
        out.append(used(model, verdict, evidence, min_blocks=th.min_blocks))
    return out


@register_finding(
    "F9", "F9", "weights", "MLP biases rise and level off well above their zero initialisation."
)
def mlp_biases_level_off(data: FindingData, th: Thresholds) -> list[Outcome]:
    """Per model, the MLP bias norms (mlp_in, mlp_out, each block): each must end at least
    `rise` above its start and make at most `level_off` of that change in the last
    quarter of the step range. Reproduced when at least `share` of them do.
    """
    out = []
    for model in data.models("norm"):
        curves = labelled_curves(data, model, ("mlp_in", "mlp_out"), "bias", "norm")
        if not curves:
            out.append(no_data(mlp_biases_level_off, model, "MLP bias norm", data))
            continue

        def levels_off(label_curve: tuple) -> bool:
            steps, values = label_curve
            rises = values[-1] > values[0] * (1 + th.rise) + 1e-12
            return bool(rises and late_share(steps, values) <= th.level_off)

        good = [(lab, c) for lab, c in curves if levels_off(c)]
        why = too_short(curves, th)
        used = th.only("min_checkpoints", "share", "rise", "level_off")
        if why:
            out.append(mlp_biases_level_off.outcome(model, Verdict.INCONCLUSIVE, why, **used))
            continue
        lab, (steps, values) = (good or curves)[0]
        share = len(good) / len(curves)
        verdict = Verdict.REPRODUCED if share >= th.share else Verdict.NOT_REPRODUCED
        evidence = (f"{len(good)} of {len(curves)} MLP bias norms rise and add at most "
                    f"{th.level_off:.0%} of their rise in the last quarter of training; e.g. "
                    f"{lab}: {values[0]:.4g} at step {steps[0]} -> {values[-1]:.4g} at step "
                    f"{steps[-1]}, last quarter {late_share(steps, values):.0%} of the rise")  # fmt: skip
        out.append(mlp_biases_level_off.outcome(model, verdict, evidence, **used))
    return out


@register_finding(
    "F10", "F10", "weights", "LayerNorm biases rise almost monotonically over training."
)
def ln_biases_rise(data: FindingData, th: Thresholds) -> list[Outcome]:
    """Per model, the LayerNorm bias norms (ln1, ln2, each block): each must end above its
    start with at least `monotone` of its step-to-step changes rising. Reproduced when
    at least `share` of them do.
    """
    out = []
    for model in data.models("norm"):
        curves = labelled_curves(data, model, ("ln1", "ln2"), "bias", "norm")
        if not curves:
            out.append(no_data(ln_biases_rise, model, "LayerNorm bias norm", data))
            continue
        used = th.only("min_checkpoints", "share", "monotone")
        why = too_short(curves, th)
        if why:
            out.append(ln_biases_rise.outcome(model, Verdict.INCONCLUSIVE, why, **used))
            continue
        shares = {lab: monotone_share(v) for lab, (_, v) in curves}
        good = [lab for lab, (_, v) in curves if v[-1] > v[0] and shares[lab] >= th.monotone]
        worst = min(shares, key=lambda lab: shares[lab])
        verdict = (
            Verdict.REPRODUCED if len(good) / len(curves) >= th.share else Verdict.NOT_REPRODUCED
        )
        evidence = (f"{len(good)} of {len(curves)} LayerNorm bias norms end higher with at least "
                    f"{th.monotone:.0%} of steps rising; least monotone: {worst} "
                    f"({shares[worst]:.0%} of steps rising)")  # fmt: skip
        out.append(ln_biases_rise.outcome(model, verdict, evidence, **used))
    return out


@register_finding(
    "F10-depth", "F10", "weights",
    "LayerNorm biases increase most in block 0 and the early blocks, less in later blocks.",
)  # fmt: skip
def ln_biases_early_blocks(data: FindingData, th: Thresholds) -> list[Outcome]:
    """Per model, the final ln1 bias norm of each block: reproduced when the two largest are
    both in the first third of the blocks; inconclusive below `min_blocks` blocks. The
    evidence lists the largest four.
    """
    out = []
    for model in data.models("norm"):
        key = ("ln1", "bias", "norm")
        final = final_by_block(
            ln_biases_early_blocks, data, model, key, "LayerNorm 1 bias norm", th
        )
        if isinstance(final, Outcome):
            out.append(final)
            continue
        ranked = sorted(final, key=lambda b: -final[b])
        n = len(final)
        early = [b for b in ranked[:2] if b < thirds(n)]
        verdict = Verdict.REPRODUCED if len(early) == 2 else Verdict.NOT_REPRODUCED
        listing = ", ".join(f"block {b} {final[b]:.3g}" for b in ranked[:4])
        evidence = (f"final ln1 bias norm, largest first: {listing} (of {n} blocks); the two "
                    f"largest are {'both' if len(early) == 2 else 'not both'} in the first third")  # fmt: skip
        out.append(
            ln_biases_early_blocks.outcome(model, verdict, evidence, min_blocks=th.min_blocks)
        )
    return out


@register_finding(
    "F11", "F11", "weights",
    "Distance from initialisation tracks the norms; block 0's MLP in moves least.",
)  # fmt: skip
def block0_mlp_moves_least(data: FindingData, th: Thresholds) -> list[Outcome]:
    """Per model, the MLP in weight's distance from its first checkpoint relative to its
    initial norm (`rel_dist_init`) at the last checkpoint, per block: reproduced when
    block 0's is the smallest; inconclusive below `min_blocks` blocks.
    """
    out = []
    for model in data.models("dist_init"):
        key = ("mlp_in", "weight", "rel_dist_init")
        final = final_by_block(block0_mlp_moves_least, data, model, key, "MLP in rel_dist_init", th)
        if isinstance(final, Outcome):
            out.append(final)
            continue
        ranked = sorted(final, key=lambda b: final[b])
        verdict = Verdict.REPRODUCED if ranked[0] == 0 else Verdict.NOT_REPRODUCED
        listing = ", ".join(f"block {b} {final[b]:.3g}" for b in ranked[:3])
        evidence = f"MLP in distance from init relative to its init norm, smallest first: {listing}"
        out.append(
            block0_mlp_moves_least.outcome(model, verdict, evidence, min_blocks=th.min_blocks)
        )
    return out


@register_finding("F14", "F14", "weights", "The embedding norm rises, then slowly decays.")
def embedding_rise_decay(data: FindingData, th: Thresholds) -> list[Outcome]:
    """Per model, the embedding norm trajectory: reproduced when it rises by `rise`, peaks
    before the last checkpoint and ends at least `decline` below the peak.
    """
    out = []
    for model in data.models("norm"):
        curves = labelled_curves(data, model, ("embed",), "weight", "norm")
        if not curves:
            out.append(no_data(embedding_rise_decay, model, "embedding norm", data))
            continue
        out.append(shape_verdict(
            embedding_rise_decay, model, curves, th, lambda a: a.rises_peaks_declines(th),
            "embedding matrices rise, peak and decline", ("rise", "decline"),
        ))  # fmt: skip
    return out
