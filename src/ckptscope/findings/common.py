"""Helpers the checks share: labelled curves of a model, verdict by share, size ranking."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np

from ckptscope.findings.base import ALL_SIZES, Finding, Outcome, Thresholds, Verdict
from ckptscope.findings.data import Curve, FindingData
from ckptscope.findings.shapes import Arc, arc
from ckptscope.names import model_size

Labelled = list[tuple[str, Curve]]


def labelled_curves(
    data: FindingData, model: str, components: Iterable[str], param: str, metric: str
) -> Labelled:
    """``("mlp_in block 2", (steps, values))`` for every block of the components."""
    out: Labelled = []
    for comp in components:
        for block, curve in data.curves(model, comp, param, metric).items():
            label = comp if block is None else f"{comp} block {block}"
            out.append((label, curve))
    return out


def too_short(curves: Labelled, th: Thresholds) -> str | None:
    """Why these curves are too short to judge a shape, or None."""
    n = min(len(c[0]) for _, c in curves)
    if n < th.min_checkpoints:
        return f"only {n} checkpoints (a shape needs {th.min_checkpoints})"
    return None


def no_data(finding: Finding, model: str, what: str, data: FindingData) -> Outcome:
    fill = data.missing or f"run `ckptscope sweep SUITE --analyses {finding.analysis} --out STORE`"
    return finding.outcome(model, Verdict.NO_DATA, f"no {what} rows; {fill}")


def shape_verdict(
    finding: Finding,
    model: str,
    curves: Labelled,
    th: Thresholds,
    holds: Callable[[Arc], bool],
    shape: str,
    names: tuple[str, ...],
) -> Outcome:
    """Reproduced when at least ``th.share`` of the curves show ``shape`` (``holds``)."""
    why = too_short(curves, th)
    used = th.only("min_checkpoints", "share", *names)
    if why:
        return finding.outcome(model, Verdict.INCONCLUSIVE, why, **used)
    arcs = [(label, arc(*curve)) for label, curve in curves]
    good = [(label, a) for label, a in arcs if holds(a)]
    share = len(good) / len(arcs)
    verdict = Verdict.REPRODUCED if share >= th.share else Verdict.NOT_REPRODUCED
    label, example = max(good or arcs, key=lambda la: la[1].decline)
    peaks = sorted(a.peak_step for _, a in good)
    where = f"; peaks at steps {peaks[0]} to {peaks[-1]}" if peaks else ""
    evidence = f"{len(good)} of {len(arcs)} {shape}{where}; e.g. {example.describe(label)}"
    return finding.outcome(model, verdict, evidence, **used)


def rank_correlation(x: list[float], y: list[float]) -> float:
    """Spearman's rank correlation (average ranks for ties)."""

    def ranks(v: list[float]) -> np.ndarray:
        a = np.asarray(v, dtype=np.float64)
        order = a.argsort(kind="stable")
        r = np.empty(len(a))
        r[order] = np.arange(len(a), dtype=np.float64)
        for value in np.unique(a):  # ties share their mean rank
            r[a == value] = r[a == value].mean()
        return r

    rx, ry = ranks(x), ranks(y)
    if rx.std() == 0 or ry.std() == 0:
        return float("nan")
    return float(np.corrcoef(rx, ry)[0, 1])


def size_trend(
    finding: Finding, per_model: dict[str, float], what: str, expect: int, th: Thresholds
) -> Outcome:
    """Whether ``per_model`` values rise (``expect=+1``) or fall (-1) with model size."""
    sized = {m: (model_size(m), v) for m, v in per_model.items() if np.isfinite(v)}
    sized = {m: sv for m, sv in sized.items() if sv[0] is not None}
    sizes = {sv[0] for sv in sized.values()}
    listing = ", ".join(f"{m} {v:.3g}" for m, (_, v) in sorted(sized.items(), key=lambda i: i[1]))
    if len(sizes) < 2:
        why = f"needs two or more model sizes; {what}: {listing or 'none'}"
        return finding.outcome(ALL_SIZES, Verdict.INCONCLUSIVE, why)
    rho = rank_correlation([s for s, _ in sized.values()], [v for _, v in sized.values()])
    if not np.isfinite(rho):  # every size the same value: no order to compare
        why = f"{what} does not vary with size: {listing}"
        return finding.outcome(ALL_SIZES, Verdict.INCONCLUSIVE, why)
    verdict = Verdict.REPRODUCED if rho * expect > 0 else Verdict.NOT_REPRODUCED
    evidence = f"{what} by size: {listing}; rank correlation with size {rho:+.2f}"
    return finding.outcome(ALL_SIZES, verdict, evidence, **th.only())


def thirds(n_blocks: int) -> int:
    """How many blocks make the first (or last) third of ``n_blocks`` (rounded up)."""
    return -(-n_blocks // 3)


def final_by_block(
    finding: Finding, data: FindingData, model: str, key: tuple[str, str, str], what: str,
    th: Thresholds,
) -> dict[int, float] | Outcome:  # fmt: skip
    """Each block's value at the last checkpoint, or the outcome that says why there is none
    (no rows; fewer than ``th.min_blocks`` blocks): what every claim about depth reads."""
    curves = data.curves(model, *key)
    if not curves:
        return no_data(finding, model, what, data)
    if len(curves) < th.min_blocks:
        why = f"{len(curves)} blocks (depth claims need {th.min_blocks})"
        return finding.outcome(model, Verdict.INCONCLUSIVE, why, min_blocks=th.min_blocks)
    return {b: float(v[-1]) for b, (_, v) in curves.items() if b is not None}
