"""F3-F6 draw from store rows alone."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ckptscope.analyses.activations import ResidOutliers
from ckptscope.plots.activations import draw_f3, draw_f4, draw_f5, draw_f6
from ckptscope.records import Array, Scalar
from ckptscope.report.figures import ReportOptions
from ckptscope.stats import UNIVERSAL_GRID, histogram
from ckptscope.store.store import Store, TaskKey


@pytest.fixture
def store(tmp_path: Path) -> Store:
    """Two models, three steps: residual and gradient records as the analyses write them."""
    store = Store(tmp_path / "store")
    rng = np.random.default_rng(0)
    meta = UNIVERSAL_GRID.to_json()
    for model, n_blocks in (("small", 2), ("large", 4)):
        for step in (0, 100, 200):
            scale = 1 + step / 50
            recs: list = [Scalar("model", None, "", "loss", 5.0 - step / 100)]
            recs.append(
                Array(
                    "resid", None, "", "hist", histogram(rng.standard_t(3, 5000) * scale), meta=meta
                )
            )
            for b in range(n_blocks):
                recs.append(Scalar("resid", b, "", "max_abs", scale * (1 + b * (n_blocks - b))))
                dims = np.array([[7.0, b, 3.0], [30.0, 2.0, 1.0]])
                recs.append(Array("resid", b, "", "outlier_dims", dims))
            store.write_task(TaskKey("s", model, step, "activations"), recs)
            grad = [
                Array(
                    "mlp_out",
                    None,
                    "weight",
                    "grad_hist",
                    histogram(rng.normal(0, 1e-3 / scale, 4000)),
                    meta=meta,
                )
            ]
            store.write_task(TaskKey("s", model, step, "gradients"), grad)
    store.write_derived("resid_outliers", "s", ResidOutliers().derive(store))
    return store


def test_draw_f3_to_f6(store: Store, tmp_path: Path) -> None:
    out = tmp_path / "figs"
    opts = ReportOptions()
    f3 = draw_f3(store, out, opts)
    f4 = draw_f4(store, out, opts)
    f5 = draw_f5(store, out, opts)
    f6 = draw_f6(store, out, opts)
    assert len(f3) == 2 and len(f4) == 2 and all(p.suffix == ".gif" for p in f3 + f4)
    assert [p.suffix for p in f5] == [".png"] and [p.suffix for p in f6] == [".png"]
    assert all(p.stat().st_size > 1000 for p in f3 + f4 + f5 + f6)
    ever = store.scalars(metric="max_abs_ever")
    assert set(ever.model) == {"small", "large"}


def test_empty_store_draws_nothing(tmp_path: Path) -> None:
    empty = Store(tmp_path / "empty")
    opts = ReportOptions()
    assert not any(f(empty, tmp_path, opts) for f in (draw_f3, draw_f4, draw_f5, draw_f6))
