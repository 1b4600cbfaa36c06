"""Norm extrapolation: fit the early part of each weight-norm trajectory, predict the rest.

For each weight matrix (suite, model, component, block) the ``norm`` rows of the ``weights``
analysis are a trajectory over steps. The fit range is the checkpoints at steps up to
``first + fit_fraction * (last - first)`` (a fraction of the training steps covered, not of
the checkpoints: suites are often log-spaced early); the family is
:func:`ckptscope.stats.curves.rise_decay` (its docstring says why). The prediction is
compared with what was measured after the fit range: the relative error at the last step
``|predicted - measured| / |measured|`` and the largest relative error over the held-out
checkpoints. A trajectory too short to fit, or a fit that fails, is a row with its reason in
``status`` and NaN numbers, never an exception; a fit that left a parameter on its bound
says so in ``status`` (``ok, at a bound: p``): the family had to be stretched to follow it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from ckptscope.errors import UsageError
from ckptscope.stats.curves import FAMILY, PARAMS, fit_rise_decay
from ckptscope.views.components import COMPONENTS, RUN

METRIC = "norm"
DEFAULT_FRACTION = 0.5
#: what the ``norm_extrap`` derivation (``analyses/norm_extrap.py``) stores per trajectory:
#: the curve fitted on ``DEFAULT_FRACTION`` at each step; at its last step, whether it was
#: fitted (``FIT_VERSION``, or minus it when not) and the number of checkpoints it had
PREDICTED, FITTED, POINTS = "norm_predicted", "norm_fitted", "norm_fit_points"
#: bump when the fit (``stats/curves.py``) or ``DEFAULT_FRACTION`` changes: fits stored by
#: another version are not read (the figure fits again until the next sweep derives them)
FIT_VERSION = 1
TABLE = ["suite", "model", "component", "block", "param", "family", *PARAMS, "peak_step",
         "n_points", "n_fit", "fit_end_step", "last_step", "measured_last", "predicted_last",
         "rel_error_last", "max_rel_error", "status"]  # fmt: skip
CURVES = ["suite", "model", "component", "block", "param", "step", "value", "predicted", "fit_end_step",
          "in_fit"]  # fmt: skip


def norm_rows(store: Any, models: Sequence[str] | None = None) -> pd.DataFrame:
    """The whole-matrix weight-norm rows of the chosen models."""
    where: dict[str, Any] = {"metric": METRIC, "param": "weight", "head": None,
                             "component": list(COMPONENTS)}  # fmt: skip
    if models:
        where["model"] = list(models)
    return store.scalars(**where)


def check_fraction(fit_fraction: object) -> float:
    """``fit_fraction`` as a float in (0, 1); UsageError naming the option otherwise."""
    ok = isinstance(fit_fraction, int | float) and not isinstance(fit_fraction, bool)
    if not ok or not 0 < float(fit_fraction) < 1:  # type: ignore[arg-type]
        raise UsageError(f"option fit_fraction: a number between 0 and 1 (the share of the "
                         f"training steps fitted), got {fit_fraction!r}")  # fmt: skip
    return float(fit_fraction)  # type: ignore[arg-type]


def _rel(pred: np.ndarray, meas: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.abs(pred - meas) / np.abs(meas)


def extrapolate_norms(rows: pd.DataFrame, fit_fraction: float = DEFAULT_FRACTION,
                      ) -> tuple[pd.DataFrame, pd.DataFrame]:  # fmt: skip
    """(table, curves): one :data:`TABLE` row per trajectory, and :data:`CURVES` (measured and
    predicted value at every checkpoint) for the figure."""
    fraction = check_fraction(fit_fraction)
    table: list[dict[str, Any]] = []
    curves: list[pd.DataFrame] = []
    keys = [*RUN, "component", "block", "param"]
    order = {c: i for i, c in enumerate(COMPONENTS)}
    groups = sorted(rows.groupby(keys, dropna=False, sort=True),
                    key=lambda g: (str(g[0][0]), str(g[0][1]), order.get(g[0][2], len(order))))  # fmt: skip
    for (suite, model, comp, block, param), part in groups:
        part = part.sort_values("step")
        part = part[np.isfinite(part["value"].to_numpy(np.float64))]
        steps = part["step"].to_numpy(np.int64)
        values = part["value"].to_numpy(np.float64)
        block = None if pd.isna(block) else int(block)
        row: dict[str, Any] = {"suite": str(suite), "model": str(model), "component": comp, "block": block,
                               "param": param, "family": FAMILY}  # fmt: skip
        if len(steps) == 0:
            continue
        in_fit = _in_fit(steps, fraction)
        fit = fit_rise_decay(steps[in_fit], values[in_fit])
        pred = fit.predict(steps)
        held = ~in_fit
        row.update(dict(zip(PARAMS, fit.params or (np.nan,) * len(PARAMS), strict=True)))
        row.update(peak_step=fit.params[2] * fit.params[3] if fit.params else np.nan,
                   n_points=len(steps), n_fit=int(in_fit.sum()),
                   fit_end_step=int(steps[in_fit][-1]),
                   last_step=int(steps[-1]), measured_last=float(values[-1]),
                   predicted_last=float(pred[-1]),
                   rel_error_last=float(_rel(pred[-1:], values[-1:])[0]) if held.any() else np.nan,
                   max_rel_error=float(np.max(_rel(pred[held], values[held])))
                   if held.any() else np.nan)  # fmt: skip
        if not fit.ok:
            row["status"] = f"fit failed: {fit.error}"
        elif not held.any():
            row["status"] = "no checkpoint after the fit range"
        else:
            row["status"] = "ok" + (
                f", at a bound: {' '.join(fit.at_bound)}" if fit.at_bound else ""
            )
        table.append(row)
        curves.append(pd.DataFrame({"suite": str(suite), "model": str(model), "component": comp, "block": block,
                                    "param": param, "step": steps, "value": values,
                                    "predicted": pred, "fit_end_step": row["fit_end_step"],
                                    "in_fit": in_fit}))  # fmt: skip
    tab = pd.DataFrame(table, columns=TABLE).astype({"block": "Int64"})
    cur = pd.concat(curves, ignore_index=True) if curves else pd.DataFrame(columns=CURVES)
    return tab, cur


def _in_fit(steps: np.ndarray, fraction: float) -> np.ndarray:
    """Which checkpoints of a trajectory (its steps, sorted) the curve is fitted on: those
    in the first ``fraction`` of the training steps it covers."""
    return steps <= steps[0] + fraction * (steps[-1] - steps[0])


def stored_curves(store: Any, rows: pd.DataFrame,
                  models: Sequence[str] | None = None) -> pd.DataFrame | None:  # fmt: skip
    """:data:`CURVES` with each trajectory's ``rel_error_last``, from the fits the
    ``norm_extrap`` derivation stored (``DEFAULT_FRACTION``), for the norm ``rows`` of
    :func:`norm_rows`; None unless every trajectory has a stored fit of this
    ``FIT_VERSION`` at its last step, made on as many checkpoints as it has now, with a
    prediction at each of them when fitted (a store swept before the derivation, or since
    it last ran, is fitted again)."""
    where: dict[str, Any] = {"metric": [PREDICTED, FITTED, POINTS], "param": "weight",
                             "head": None, "component": list(COMPONENTS)}  # fmt: skip
    if models:
        where["model"] = list(models)
    derived = store.scalars(**where)
    if derived.empty:
        return None
    keys = [*RUN, "component", "block", "param"]
    cols = [*keys, "step", "value"]
    rows = rows[np.isfinite(rows["value"].to_numpy(np.float64))]  # as extrapolate_norms
    rows = rows[cols].assign(block=rows.block.astype("float64"))
    derived = derived.assign(block=derived.block.astype("float64"))
    cur = rows
    for metric, name in ((PREDICTED, "predicted"), (FITTED, "fitted"), (POINTS, "points")):
        part = derived[derived.metric == metric][cols].rename(columns={"value": name})
        cur = cur.merge(part, on=[*keys, "step"], how="left")
    order = {c: i for i, c in enumerate(COMPONENTS)}
    cur = cur.assign(_order=cur.component.map(order)).sort_values(
        [*RUN, "_order", "block", "param", "step"], na_position="last", kind="stable"
    )
    by = cur.groupby(keys, dropna=False, sort=False)
    last = (by["step"].transform("max") == cur.step).to_numpy()
    count = by["step"].transform("size").to_numpy()
    fitted, points = cur.fitted.to_numpy()[last], cur.points.to_numpy()[last]
    if not (np.all(np.abs(fitted) == FIT_VERSION) and np.all(points == count[last])):
        return None  # no fit, another version's, or made on other checkpoints: stale
    ok = pd.Series(np.where(last, cur.fitted.to_numpy(), np.nan), index=cur.index)
    was_fitted = ok.groupby([cur[k] for k in keys], dropna=False).transform("max") > 0
    if cur.predicted[was_fitted].isna().any() or cur.predicted[~was_fitted].notna().any():
        return None

    def fit_end(steps: pd.Series) -> int:
        steps = steps.to_numpy(np.int64)
        return int(steps[_in_fit(steps, DEFAULT_FRACTION)][-1])

    ends = by["step"].apply(fit_end).rename("fit_end_step")
    cur["fit_end_step"] = ends.reindex(pd.MultiIndex.from_frame(cur[keys])).to_numpy()
    cur["in_fit"] = cur.step <= cur.fit_end_step
    err = _rel(cur.predicted.to_numpy(), cur.value.to_numpy())
    cur["rel_error_last"] = np.where(last & ~cur.in_fit, err, np.nan)
    cur["rel_error_last"] = cur.groupby(keys, dropna=False)["rel_error_last"].transform("max")
    return cur[[*CURVES, "rel_error_last"]].reset_index(drop=True)


def norm_extrapolation(store: Any, fit_fraction: float = DEFAULT_FRACTION,
                       models: Sequence[str] | None = None) -> pd.DataFrame:  # fmt: skip
    """The :data:`TABLE` of a store's weight norms (``ckptscope extrapolate STORE``)."""
    fraction = check_fraction(fit_fraction)  # before reading the store
    return extrapolate_norms(norm_rows(store, models), fraction)[0]
