"""The per-head, update-structure and norm-extrapolation figures on planted stores.

Figure data is inspected (rows, the artists' data, the plotly traces), never pixels.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
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


# two suites sharing a model name ----------------------------------------------------------

SUITES = ("demo", "demoB")


def _parts(fig_id: str, store: Store, **options) -> tuple[object, list[str], list[str]]:
    """(rows as figures name them, file part names, view part names) with every suite chosen."""
    from ckptscope.figures.rows import label_models
    from ckptscope.groups import select_runs

    spec = get(fig_id)
    q = Query(options=tuple(options.items()), runs=select_runs(store))
    rows = label_models(spec.rows(store, q), q)
    return rows, [n for n, _ in spec.file_parts(rows)], [n for n, _ in spec.view_parts(rows)]


def test_two_suites_update_corr_apart(tmp_path: Path) -> None:
    """Suites demo and demoB both hold w64: a correlation matrix each, never one pooled."""
    store = Store(tmp_path / "store")
    rng = np.random.default_rng(8)
    series = [("embed", None), ("qkv", 0), ("mlp_in", 0)]
    vals = {s: np.exp(rng.normal(-5, 1, (8, 3))) for s in SUITES}
    for suite in SUITES:
        recs = [DerivedScalar("w64", 10 * (i + 1), Scalar(c, b, "weight",
                              "rel_dist_prev_per_step", float(vals[suite][i, j])))
                for i in range(8) for j, (c, b) in enumerate(series)]  # fmt: skip
        store.write_derived("update_rates", suite, Derived(scalars=recs))
    rows = get("update_corr").rows(store, Query(options=(("detrend", False),)))
    for suite in SUITES:
        whole = rows[(rows.suite == suite) & (rows.window == "whole run")]
        assert set(whole.model) == {"w64"} and len(whole) == 9
        np.testing.assert_allclose(whole.r.to_numpy().reshape(3, 3),
                                   np.corrcoef(np.log(vals[suite]), rowvar=False), rtol=1e-10)  # fmt: skip
    _, files, views = _parts("update_corr", store, detrend=False)
    assert files == ["update_corr_demo_w64", "update_corr_demoB_w64"]
    assert views == ["demo/w64", "demoB/w64"]
    # rows not named by suite (no runs in the query) still split per suite
    assert [n for n, _ in get("update_corr").file_parts(rows)] == files
    fig = figure("update_corr", store, options={"detrend": False})
    wholes = [ax.images[0].get_array() for ax in fig.axes
              if ax.images and ax.get_title().startswith("whole")]  # fmt: skip
    assert len(wholes) == 2
    for got, suite in zip(wholes, SUITES, strict=True):
        np.testing.assert_allclose(got, np.corrcoef(np.log(vals[suite]), rowvar=False),
                                   rtol=1e-10)  # fmt: skip


def test_two_suites_norm_extrap_apart(tmp_path: Path) -> None:
    store = Store(tmp_path / "store")
    t = np.array(NORM_STEPS, dtype=np.float64)
    planted = {"demo": PLANTED, "demoB": (6.0, 2.0, 0.8, 150.0)}
    for suite, params in planted.items():
        norms = rise_decay(t, *params)
        for i, step in enumerate(NORM_STEPS):
            store.write_task(TaskKey(suite, "w64", step, "weights"),
                             [Scalar("mlp_in", 0, "weight", "norm", float(norms[i]))])  # fmt: skip
    rows, files, views = _parts("norm_extrap", store)
    assert files == ["norm_extrap_demo_w64", "norm_extrap_demoB_w64"]
    assert views == ["demo/w64", "demoB/w64"]
    for suite, params in planted.items():
        mine = rows[rows.model == f"{suite}/w64"]
        assert mine.step.tolist() == list(NORM_STEPS)  # one run's points, not two interleaved
        np.testing.assert_allclose(mine.predicted, rise_decay(t, *params), rtol=1e-5)
        assert (mine.rel_error_last < 1e-5).all()
    fig = figure("norm_extrap", store)
    dashed = [ln.get_ydata() for ax in fig.axes for ln in ax.lines if ln.get_linestyle() == "--"]
    assert len(dashed) == 2
    for got, params in zip(dashed, planted.values(), strict=True):
        np.testing.assert_allclose(got, rise_decay(t, *params), rtol=1e-5)


def test_norm_extrap_reads_the_fits_stored_after_the_sweep(tmp_path: Path, monkeypatch) -> None:
    """The ``norm_extrap`` derivation's fits give the figure's rows exactly as fitting them
    at draw time does (two suites, a failed fit, held-out errors); a store swept since the
    derivation last ran, or another fit_fraction, is fitted again."""
    from ckptscope.engine.sweep import run_derivations
    from ckptscope.figures import extrapolation as fig_mod

    store = Store(tmp_path / "store")
    t = np.array(NORM_STEPS, dtype=np.float64)
    planted = {"demo": PLANTED, "demoB": (6.0, 2.0, 0.8, 150.0)}
    for suite, params in planted.items():
        for i, step in enumerate(NORM_STEPS):
            recs = [Scalar("mlp_in", 0, "weight", "norm", float(rise_decay(t, *params)[i])),
                    Scalar("embed", None, "weight", "norm", 5.0 + 0.01 * np.sqrt(step))]  # fmt: skip
            if step >= 500:  # 3 checkpoints: too few to fit
                recs.append(Scalar("attn_out", 1, "weight", "norm", 3.0 + step / 1e3))
            store.write_task(TaskKey(suite, "w64", step, "weights"), recs)
    spec = get("norm_extrap")

    def live() -> object:
        with monkeypatch.context() as m:
            m.setattr(fig_mod, "stored_curves", lambda *a: None)
            return spec.rows(store, Query())

    expected = live()
    assert expected.predicted[expected.component == "attn_out"].isna().all()
    assert expected.predicted[expected.component != "attn_out"].notna().all()
    assert fig_mod.stored_curves(store, fig_mod.norm_rows(store)) is None  # not derived yet
    for suite in planted:
        assert run_derivations(store, suite) == {}

    def no_fits(*args: object) -> None:
        raise AssertionError("fitted at draw time")

    with monkeypatch.context() as m:
        m.setattr(fig_mod, "extrapolate_norms", no_fits)
        stored = spec.rows(store, Query())
    pd.testing.assert_frame_equal(stored, expected, check_dtype=False)
    # another fit_fraction: fitted at draw time (the stored fits are the default's)
    other = spec.rows(store, Query(options=(("fit_fraction", 0.7),)))
    assert (other.fit_end_step == 700).all()
    # checkpoints inserted before the last one of a trajectory the derivation could not fit
    # (attn_out had 3): stale, fitted again, and now fitted (5 points in its fit range)
    for step in (120, 220, 320, 420):  # steps not swept before (a task is written once)
        store.write_task(TaskKey("demoB", "w64", step, "weights"),
                         [Scalar("attn_out", 1, "weight", "norm", 3.0 + step / 1e3)])  # fmt: skip
    assert fig_mod.stored_curves(store, fig_mod.norm_rows(store)) is None
    inserted = spec.rows(store, Query())
    mine = inserted[(inserted.component == "attn_out") & (inserted.suite == "demoB")]
    assert len(mine) == 7 and mine.predicted.notna().all()
    pd.testing.assert_frame_equal(inserted, live(), check_dtype=False)
    assert run_derivations(store, "demoB") == {}
    # fits of another FIT_VERSION (the fit or the fraction changed since): not read
    from ckptscope.views import extrapolation as views_mod

    monkeypatch.setattr(views_mod, "FIT_VERSION", 2)
    assert fig_mod.stored_curves(store, fig_mod.norm_rows(store)) is None
    monkeypatch.undo()
    assert fig_mod.stored_curves(store, fig_mod.norm_rows(store)) is not None
    # a checkpoint swept after the derivation ran: stale, fitted again, the new step in
    store.write_task(TaskKey("demo", "w64", 1500, "weights"),
                     [Scalar("mlp_in", 0, "weight", "norm", float(rise_decay(1500.0, *PLANTED)))])  # fmt: skip
    assert fig_mod.stored_curves(store, fig_mod.norm_rows(store)) is None
    again = spec.rows(store, Query())
    assert 1500 in set(again.step)
    pd.testing.assert_frame_equal(again, live(), check_dtype=False)


def test_two_suites_heads_apart(tmp_path: Path) -> None:
    """demo's block 1 head 5 is far from demo's other heads; demoB's heads are 100 times
    larger. Pooled, the MAD of both suites would hide it and ranks would run to 15."""
    store = Store(tmp_path / "store")
    for suite, scale in (("demo", 1.0), ("demoB", 100.0)):
        for k, step in enumerate(STEPS):
            recs = []
            for b in range(N_BLOCKS):
                for h in range(N_HEADS):
                    v = scale * (1 + 0.1 * h + 0.01 * k)
                    if suite == "demo" and (b, h) == FAR:
                        v *= 10
                    recs.append(Scalar("ov", b, "circuit", "spectral_norm", v, h))
            store.write_task(TaskKey(suite, "w64", step, "spectra"), recs)
    rows = get("heads_circuits").rows(store, Query())
    hits = rows[rows.outlier]
    assert set(zip(hits.suite, hits.block, hits["head"], strict=True)) == {("demo", *FAR)}
    assert sorted(hits.step) == list(STEPS)
    assert rows.groupby(["suite", "block"])["rank"].max().tolist() == [N_HEADS - 1] * 4
    top = rows[(rows["rank"] == 0) & (rows.block == 0)]
    assert set(zip(top.suite, top["head"], strict=True)) == {("demo", 7), ("demoB", 7)}
    _, files, views = _parts("heads_circuits", store)
    assert files == ["heads_circuits/demo_w64_ov", "heads_circuits/demoB_w64_ov"]
    assert views == ["demo/w64", "demoB/w64"]
