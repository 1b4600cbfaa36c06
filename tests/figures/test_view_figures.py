"""The per-head, update-structure and norm-extrapolation figures on planted stores.

Figure data is inspected (rows, the artists' data, the plotly traces), never pixels.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ckptscope.errors import UsageError
from ckptscope.figures import NoFigureData, figure, get
from ckptscope.figures.catalogue import Query
from ckptscope.records import Derived, DerivedScalar, Scalar
from ckptscope.stats.curves import rise_decay
from ckptscope.store import Store
from ckptscope.store.store import TaskKey

STEPS = (0, 100, 200, 300, 400, 500, 600, 800, 1000)
N_BLOCKS, N_HEADS, FAR = 2, 8, (1, 5)  # the planted outlier: block 1, head 5


def _head_store(root: Path, far: bool) -> Store:
    """Per-head spectral norms spread evenly (robust z within +-1.4); with ``far``, block 1
    head 5 sits ten times higher at every step. ``alpha`` ranks the heads in reverse."""
    store = Store(root)
    for k, step in enumerate(STEPS):
        recs = []
        for comp, param in (("ov", "circuit"), ("qk", "circuit"), ("q", "weight")):
            for b in range(N_BLOCKS):
                for h in range(N_HEADS):
                    v = 1 + 0.1 * h + 0.01 * k
                    if far and (b, h) == FAR and comp == "ov":
                        v *= 10
                    recs += [Scalar(comp, b, param, "spectral_norm", v, h),
                             Scalar(comp, b, param, "alpha", 5.0 - 0.1 * h, h)]  # fmt: skip
        store.write_task(TaskKey("s", "m", step, "spectra"), recs)
    return store


@pytest.fixture(scope="module")
def far_store(tmp_path_factory: pytest.TempPathFactory) -> Store:
    return _head_store(tmp_path_factory.mktemp("heads") / "far", far=True)


@pytest.fixture(scope="module")
def even_store(tmp_path_factory: pytest.TempPathFactory) -> Store:
    return _head_store(tmp_path_factory.mktemp("heads") / "even", far=False)


def _ringed(fig) -> dict[str, list[int]]:
    """gid -> steps of the outlier rings drawn in a static figure."""
    return {line.get_gid(): [int(x) for x in line.get_xdata()] for ax in fig.axes
            for line in ax.lines if (line.get_gid() or "").startswith("outlier")}  # fmt: skip


def test_far_head_is_exactly_the_one_marked(far_store: Store) -> None:
    rows = get("heads_circuits").rows(far_store, Query())
    hits = rows[rows.outlier]
    assert set(zip(hits.component, hits.block, hits["head"], strict=True)) == {("ov", *FAR)}
    assert sorted(hits.step) == list(STEPS)
    fig = figure("heads_circuits", far_store)  # files ov then qk, stacked
    assert _ringed(fig) == {"outlier head 5": list(STEPS)}
    block1 = next(ax for ax in fig.axes if ax.get_title() == "block 1")  # the ov part first
    ring = next(ln for ln in block1.lines if ln.get_gid() == "outlier head 5")
    np.testing.assert_allclose(ring.get_ydata(), [10 * (1.5 + 0.01 * k) for k in range(len(STEPS))])
    spec = figure("heads_circuits", far_store, interactive=True)
    marks = [t for t in spec.data if t.marker.symbol == "circle-open"]
    assert len(marks) == 1 and all(s.startswith("head 5,") for s in marks[0].text)
    assert not get("heads_qkv").rows(far_store, Query()).outlier.any()  # q is not planted


def test_no_head_marked_without_outliers(even_store: Store) -> None:
    rows = get("heads_circuits").rows(even_store, Query())
    assert len(rows) == len(STEPS) * 2 * N_BLOCKS * N_HEADS and not rows.outlier.any()
    assert np.nanmax(np.abs(rows.robust_z)) < 1.5
    assert _ringed(figure("heads_circuits", even_store)) == {}
    spec = figure("heads_circuits", even_store, interactive=True)
    assert not [t for t in spec.data if t.marker.symbol == "circle-open"]


def _legend_heads(fig, title: str = "block 0") -> list[str]:
    ax = next(a for a in fig.axes if a.get_title() == title)
    return [t.get_text() for t in ax.get_legend().get_texts()]


def test_sort_by_orders_the_heads(even_store: Store) -> None:
    by_value = _legend_heads(figure("heads_qkv", even_store))
    assert by_value == [f"head {h}" for h in reversed(range(N_HEADS))]  # largest first
    by_alpha = _legend_heads(figure("heads_qkv", even_store, options={"sort_by": "alpha"}))
    assert by_alpha == [f"head {h}" for h in range(N_HEADS)]
    by_index = _legend_heads(figure("heads_qkv", even_store, options={"sort_by": "head"}))
    assert by_index == [f"head {h}" for h in range(N_HEADS)]
    drawn = get("heads_qkv").rows(even_store, Query(options=(("metric", "alpha"),)))
    assert set(drawn.metric) == {"alpha"}


def test_options_are_checked(even_store: Store, tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="figure heads_qkv: unknown option 'sortby'; its "
                                         "options: metric, sort_by, outlier_k"):  # fmt: skip
        figure("heads_qkv", even_store, options={"sortby": "alpha"})
    with pytest.raises(UsageError, match="figure F7: unknown option 'x'; its options: none"):
        figure("F7", even_store, options={"x": 1})
    with pytest.raises(UsageError, match="option sort_by: no per-head 'norm' rows for q, k, v; "
                                         "per-head metrics: alpha, spectral_norm"):  # fmt: skip
        figure("heads_qkv", even_store, options={"sort_by": "norm"})
    for bad in (0, -1.0, "3", True, float("nan")):
        with pytest.raises(UsageError, match="option outlier_k"):
            figure("heads_qkv", even_store, options={"outlier_k": bad})
    with pytest.raises(NoFigureData, match="--analyses spectra"):
        figure("heads_qkv", Store(tmp_path / "empty"))
    with pytest.raises(UsageError, match="--models: no 'nobody'"):
        figure("heads_qkv", even_store, models=["nobody"])


# update structure ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def update_store(tmp_path_factory: pytest.TempPathFactory) -> tuple[Store, np.ndarray]:
    """Per-step update sizes of 3 matrices over 8 checkpoints; returns their values too."""
    store = Store(tmp_path_factory.mktemp("updates") / "store")
    rng = np.random.default_rng(4)
    series = [("embed", None), ("qkv", 0), ("mlp_in", 0)]
    vals = np.exp(rng.normal(-5, 1, (8, 3)))
    recs = [DerivedScalar("m", 10 * (i + 1), Scalar(c, b, "weight", "rel_dist_prev_per_step",
                                                    float(vals[i, j])))
            for i in range(8) for j, (c, b) in enumerate(series)]  # fmt: skip
    store.write_derived("update_rates", "s", Derived(scalars=recs))
    return store, vals


def test_update_heatmaps_are_the_correlations(update_store) -> None:
    store, vals = update_store
    fig = figure("update_corr", store, options={"detrend": False})
    images = {ax.get_title(): ax.images[0].get_array() for ax in fig.axes if ax.images}
    assert set(images) == {"whole run: steps 10-80, 8 checkpoints",
                           "early half: steps 10-40, 4 checkpoints",
                           "late half: steps 50-80, 4 checkpoints"}  # fmt: skip
    x = np.log(vals)
    whole = images["whole run: steps 10-80, 8 checkpoints"]
    np.testing.assert_allclose(whole, np.corrcoef(x, rowvar=False), rtol=1e-10)
    late = images["late half: steps 50-80, 4 checkpoints"]
    np.testing.assert_allclose(late, np.corrcoef(x[4:], rowvar=False), rtol=1e-10)
    labels = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert labels == ["embed", "qkv 0", "mlp_in 0"]
    raw = figure("update_corr", store, options={"log": False, "window": 4, "detrend": False})
    titles = [ax.get_title() for ax in raw.axes if ax.images]
    assert "steps 10-40, 4 checkpoints" in titles and "steps 50-80, 4 checkpoints" in titles
    first = next(ax for ax in raw.axes if ax.get_title().startswith("whole"))
    np.testing.assert_allclose(first.images[0].get_array(), np.corrcoef(vals, rowvar=False),
                               rtol=1e-10)  # fmt: skip
    x -= x.mean(axis=1, keepdims=True)  # the default: each step's mean over matrices removed
    default = figure("update_corr", store)
    whole = next(ax for ax in default.axes if ax.get_title().startswith("whole"))
    np.testing.assert_allclose(whole.images[0].get_array(), np.corrcoef(x, rowvar=False),
                               rtol=1e-10)  # fmt: skip
    spec = figure("update_corr", store, interactive=True)
    assert [t.type for t in spec.data] == ["heatmap"] * 3
    with pytest.raises(UsageError, match="option window"):
        figure("update_corr", store, options={"window": 2})
    with pytest.raises(UsageError, match="option detrend"):
        figure("update_corr", store, options={"detrend": "yes"})


# norm extrapolation ---------------------------------------------------------------------

PLANTED = (10.0, 4.0, 1.2, 300.0)
NORM_STEPS = (0, 25, 50, 100, 150, 200, 300, 400, 500, 700, 1000)


def test_norm_extrapolation_figure(tmp_path: Path) -> None:
    store = Store(tmp_path / "store")
    t = np.array(NORM_STEPS, dtype=np.float64)
    good = rise_decay(t, *PLANTED)
    turned = np.where(t <= 500, 8 + 0.004 * t, 10 - 0.012 * (t - 500))  # down after the fit
    for i, step in enumerate(NORM_STEPS):
        recs = [Scalar("mlp_in", 0, "weight", "norm", float(good[i])),
                Scalar("mlp_in", 1, "weight", "norm", float(turned[i]))]  # fmt: skip
        store.write_task(TaskKey("s", "m", step, "weights"), recs)
    fig = figure("norm_extrap", store, options={"fit_fraction": 0.5})
    ax = fig.axes[0]
    dashed = [ln for ln in ax.lines if ln.get_linestyle() == "--"]
    assert len(dashed) == 2  # a prediction per block
    np.testing.assert_allclose(dashed[0].get_ydata(), good, rtol=1e-6)
    assert "worst error at the last step" in ax.get_title()
    worst = float(ax.get_title().split(": ")[-1].rstrip("%")) / 100
    assert worst > 0.3  # block 1 measured 4.0 at the end, predicted near 10
    (shade,) = ax.patches
    x0, x1 = shade.get_x(), shade.get_x() + shade.get_width()
    assert (x0, x1) == (0.0, 500.0)
    with pytest.raises(UsageError, match="option fit_fraction"):
        figure("norm_extrap", store, options={"fit_fraction": 2})


def test_report_draws_the_new_figures(update_store, far_store, tmp_path: Path) -> None:
    from ckptscope.report import ReportOptions, build_report

    for store, ids in ((update_store[0], ["update_corr"]), (far_store, ["heads_circuits"])):
        out = tmp_path / ids[0]
        built = build_report(store, out, ReportOptions(animations=False), ids)
        assert built.missing == [] and built.html is not None
        assert any(p.suffix == ".png" for p in built.paths)
        page = built.html.read_text()
        assert "could not be drawn" not in page
    assert "8 (10 to 80)" in (tmp_path / "update_corr" / "report.html").read_text()
