"""The "phases" derivation: sudden regime changes in distribution metrics over training.

For every tensor (model, component, block, param) it reads the trajectories of the
metrics in :data:`~ckptscope.stats.changepoint.DEFAULT_SPECS` (``kurtosis`` and ``norm``
from the weights analysis; ``t_nu``, ``gennorm_beta`` and ``fit_winner`` from
"distributions" and from any analysis that calls ``describe_distribution``; ``fit_winner``
is a label, the family name in the ``label`` column, compared as a category), finds
substantial changes with :func:`~ckptscope.stats.changepoint.detect_changes` (PELT on
the checkpoint sequence, BIC-like penalty, per-metric thresholds), merges changes of one
tensor that fall on the same or adjacent checkpoints, and emits one ``phase_change``
event per merged change, plus a scalar ``phase_change_<metric>`` (the jump on the
metric's transformed scale) at the step where each change lands.

Quiet by design: a change must pass its metric's threshold (see DEFAULT_SPECS); ``norm``
is watched for weight matrices only; a change of the best family alone is reported only
when it enters or leaves the Gaussian. "Left/returned to the Gaussian regime" is said of
weight matrices only (:func:`is_weight_matrix`): a LayerNorm gain (all ones at init) or a
bias is no sample of a Gaussian, so its changes are reported as "changed" and a family
swap alone of such a tensor is not reported.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ckptscope.adapters.base import MATRIX_COMPONENTS
from ckptscope.analyses.base import (
    Derivation,
    Derived,
    DerivedScalar,
    Event,
    Scalar,
    StoreReader,
    register_derivation,
)
from ckptscope.names import COMPONENT_LABELS, FAMILIES
from ckptscope.stats.changepoint import DEFAULT_SPECS, Change, MetricSpec, detect_changes
from ckptscope.store.guard import sql_literal

log = logging.getLogger(__name__)

#: Below this |excess kurtosis|, above this Student-t nu: "Gaussian regime" in messages.
GAUSSIAN_KURTOSIS = 1.0
GAUSSIAN_NU = 30.0


@dataclass(frozen=True)
class _Found:
    metric: str
    change: Change
    rank: int  # position of the change's step among the tensor's steps


def _where(component: str, block: Any, param: str) -> str:
    label = COMPONENT_LABELS.get(component, component)
    if block is not None and not (isinstance(block, float) and np.isnan(block)):
        label += f" block {int(block)}"
    return label if param in ("weight", "", None) else f"{label} {param}"


def label_codes(labels: pd.Series) -> np.ndarray:
    """Codes of a categorical metric's labels for change detection: a family's index in
    :data:`~ckptscope.stats.fits.FAMILIES` (0 is ``gaussian``), -1 for any other label."""
    index = {name: i for i, name in enumerate(FAMILIES)}
    return np.array([index.get(str(label), -1) for label in labels], dtype=np.float64)


def _fmt(metric: str, value: float) -> str:
    if metric == "fit_winner":
        i = int(value)
        return FAMILIES[i] if 0 <= i < len(FAMILIES) else "another family"
    return f"{value:.3g}"


def _gaussianity(found: _Found) -> int:
    """+1 when the change leaves the Gaussian regime, -1 when it returns, 0 otherwise."""
    c, m = found.change, found.metric
    if m == "kurtosis":
        a, b = abs(c.before) < GAUSSIAN_KURTOSIS, abs(c.after) < GAUSSIAN_KURTOSIS
    elif m == "t_nu":
        a, b = c.before >= GAUSSIAN_NU, c.after >= GAUSSIAN_NU
    elif m == "fit_winner":
        a, b = int(c.before) == 0, int(c.after) == 0  # FAMILIES[0] is "gaussian"
    else:
        return 0
    return int(a and not b) - int(b and not a)


def is_weight_matrix(component: str, param: str | None) -> bool:
    """Whether a tensor is a weight matrix (the only tensors with a "Gaussian regime")."""
    return component in MATRIX_COMPONENTS and param == "weight"


def _tensor_order(key: tuple) -> tuple:
    """Sort key of ``(model, component, block, param, metric)``: a missing block last."""
    model, component, block, param, metric = key
    missing = bool(pd.isna(block))
    return (model, component, missing, 0 if missing else block, param, metric)


def _merge(found: list[_Found]) -> list[list[_Found]]:
    """Group changes whose checkpoints are the same or adjacent."""
    groups: list[list[_Found]] = []
    for f in sorted(found, key=lambda f: f.rank):
        if groups and f.rank - groups[-1][-1].rank <= 1:
            groups[-1].append(f)
        else:
            groups.append([f])
    return groups


def tensor_events(
    model: str,
    component: str,
    block: int | None,
    param: str,
    series: dict[str, tuple[np.ndarray, np.ndarray]],
    specs: dict[str, MetricSpec],
) -> tuple[list[Event], list[DerivedScalar]]:
    """Events and derived scalars for one tensor's trajectories ``{metric: (steps, values)}``."""
    all_steps = np.unique(np.concatenate([s for s, _ in series.values()]))
    found = []
    for metric, (steps, values) in series.items():
        for ch in detect_changes(steps, values, specs[metric]):
            found.append(_Found(metric, ch, int(np.searchsorted(all_steps, ch.step))))
    order = list(specs)
    events, scalars = [], []
    for group in _merge(found):
        group.sort(key=lambda f: order.index(f.metric))
        lead = group[0]
        matrix = is_weight_matrix(component, param)
        direction = sum(_gaussianity(f) for f in group) if matrix else 0
        if all(specs[f.metric].categorical for f in group) and direction == 0:
            # the best heavy-tailed family alone swapping (logistic <-> student_t) when their
            # BICs are close is not a regime change: it needs the Gaussian, or a numeric jump
            continue
        verb = (
            "left the Gaussian regime"
            if direction > 0
            else "returned to the Gaussian regime"
            if direction < 0
            else "changed regime"
        )
        details = "; ".join(
            f"{specs[f.metric].label or f.metric} {_fmt(f.metric, f.change.before)} -> "
            f"{_fmt(f.metric, f.change.after)}"
            for f in group
        )
        where = _where(component, block, param)
        step = lead.change.step
        events.append(
            Event(
                model=model,
                step=step,
                kind="phase_change",
                message=f"{where} {verb} at step {step} ({details})",
                component=component,
                block=block,
                param=param,
                metric=lead.metric,
            )
        )
        for f in group:
            rec = Scalar(component, block, param, f"phase_change_{f.metric}", f.change.jump)
            scalars.append(DerivedScalar(model, f.change.step, rec))
    return events, scalars


@register_derivation
class Phases(Derivation):
    """Sudden, substantial changes of kurtosis, nu, beta, best family and norm over steps."""

    name = "phases"

    def __init__(self, specs: dict[str, MetricSpec] | None = None) -> None:
        self.specs = dict(specs or DEFAULT_SPECS)

    def derive(self, store: StoreReader) -> Derived:
        names = ", ".join(sql_literal(m) for m in self.specs)
        # whole tensors only (head IS NULL); a categorical metric's result is its label
        frame = store.query(
            "select model, step, component, block, param, metric, avg(value) as value, "
            "min(label) as label "
            f"from scalars where metric in ({names}) and head is null "
            "group by model, step, component, block, param, metric"
        )
        out = Derived()
        if frame.empty:
            return out
        frame["block"] = frame["block"].astype("Int64")
        categorical = frame["metric"].isin(
            [m for m, spec in self.specs.items() if spec.categorical]
        )
        frame.loc[categorical, "value"] = label_codes(frame.loc[categorical, "label"])
        # norms: weight matrices only; biases start at 0 and LayerNorm gains at 1, and their
        # early moves are growth from the init, not phases
        is_norm = frame["metric"] == "norm"
        matrix = np.array(
            [is_weight_matrix(c, p) for c, p in zip(frame.component, frame.param, strict=True)],
            dtype=bool,
        )
        frame = frame[~is_norm | matrix]
        steps = frame["step"].to_numpy(np.int64)
        values = frame["value"].to_numpy(np.float64)
        # one grouping pass (per-tensor groupbys cost more than the detection); the rows of
        # each (tensor, metric) in the query's order, tensors in sorted order, block-less last
        rows = frame.groupby(["model", "component", "block", "param", "metric"], dropna=False)
        tensors: dict[tuple, dict[str, tuple[np.ndarray, np.ndarray]]] = {}
        for (model, component, block, param, metric), at in sorted(
            rows.indices.items(), key=lambda kv: _tensor_order(kv[0])
        ):
            blk = None if pd.isna(block) else int(block)
            tensors.setdefault((model, component, blk, param), {})[metric] = (
                steps[at],
                values[at],
            )
        for (model, component, block, param), series in tensors.items():
            events, scalars = tensor_events(model, component, block, param, series, self.specs)
            out.events.extend(events)
            out.scalars.extend(scalars)
        log.debug("phases: %d events", len(out.events))
        return out
