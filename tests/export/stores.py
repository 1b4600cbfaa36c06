"""A small store for the exporters, and what every exporter must reproduce from it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ckptscope.records import Array, Label, Scalar
from ckptscope.stats.histogram import UNIVERSAL_GRID, histogram
from ckptscope.store import Store, TaskKey

MODELS = ("a", "b")
STEPS = (0, 5, 10)
HIST_KINDS = ("hist", "hist_pooled", "grad_hist")


def build_store(root: Path, models=MODELS, steps=STEPS, suite: str = "s") -> Store:
    """Scalars of every tag shape (block, no block, bias, head), labels, histograms."""
    store = Store(root)
    rng = np.random.default_rng(1)
    grid = UNIVERSAL_GRID.to_json()
    for i, model in enumerate(models):
        for step in steps:
            recs = [
                Scalar("embed", None, "weight", "norm", 1.0 + step + i / 3),
                Scalar("ln1", 0, "bias", "norm", 0.1 * step + 1e-9),
                Scalar("q", 0, "weight", "norm", 2.0 / (step + 1), head=1),
                Scalar("model", None, "", "loss", 5.123456789 - step / 7),
                Label("mlp_in", 0, "weight", "fit_winner", "student_t"),
                Array("mlp_in", 0, "weight", "singular_values", np.arange(4.0)),
                Array("mlp_out", 1, "weight", "hist", np.zeros(UNIVERSAL_GRID.n_bins), meta=grid),
            ]
            for b in range(2):
                recs.append(Scalar("mlp_in", b, "weight", "norm", 10.0 * (b + 1) + step))
                x = rng.normal(0, 0.02 * (1 + step), size=500)
                recs.append(Array("mlp_in", b, "weight", "hist", histogram(x), meta=grid))
            recs.append(
                Array(
                    "mlp_in",
                    None,
                    "weight",
                    "hist_pooled",
                    histogram(rng.normal(size=50)),
                    meta=grid,
                )
            )
            store.write_task(TaskKey(suite, model, step, "w"), recs)
    return store


def naive_tag(component, block, param, head, metric) -> str:
    """The documented tag, written out independently of ``export/rows.py``."""
    text = f"{component}/{'-' if block is None else block}"
    if param not in ("weight", ""):
        text += f"/{param}"
    if head is not None:
        text += f"/h{head}"
    return f"{text}/{metric}"


def _opt(v):
    return None if pd.isna(v) else int(v)


def expected_scalars(store: Store, model: str) -> dict[str, dict[int, list[float]]]:
    """tag -> step -> the values of the store's numeric rows (labels dropped)."""
    out: dict[str, dict[int, list[float]]] = {}
    for r in store.scalars(model=model).itertuples(index=False):
        if r.label is not None and not pd.isna(r.label):
            continue
        tag = naive_tag(r.component, _opt(r.block), r.param, _opt(r.head), r.metric)
        out.setdefault(tag, {}).setdefault(int(r.step), []).append(float(r.value))
    return out


def expected_histograms(store: Store, model: str) -> dict[str, dict[int, np.ndarray]]:
    """tag -> step -> full counts on the universal grid (empty histograms dropped)."""
    out: dict[str, dict[int, np.ndarray]] = {}
    for r in store.arrays(model=model, kind=list(HIST_KINDS)).itertuples(index=False):
        if not np.any(r.values):
            continue
        tag = naive_tag(r.component, _opt(r.block), r.param, _opt(r.head), r.kind)
        out.setdefault(tag, {})[int(r.step)] = np.asarray(r.values, dtype=np.float64)
    return out
