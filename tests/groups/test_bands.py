"""Seed bands and suites in line figures: the data layer against numpy, the drawn figure."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from matplotlib.collections import PolyCollection

import ckptscope as cs
from ckptscope.errors import UsageError
from ckptscope.groups import seed_bands, select_runs
from groups.planted import N_BLOCKS, STEPS, seed_curve, write

OFFSETS = {"w64": 0.0, "w64-seed1": 2.5, "w64-seed2": -1.25}


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory):
    """Suites ``tiny`` and ``tinyB``, each with w64 in three seeds and w32 in one."""
    curves = {}
    for suite, shift in (("tiny", 0.0), ("tinyB", 7.0)):
        for model, off in OFFSETS.items():
            curves[(suite, model)] = seed_curve(off + shift)
        curves[(suite, "w32")] = seed_curve(20.0 + shift)
    return write(tmp_path_factory.mktemp("bands") / "store", curves)


def _seed_values(store, suite: str, block: int) -> np.ndarray:
    """(seeds, steps) float64: each seed's planted mlp_in norm, read back from the store."""
    df = store.scalars(suite=suite, component="mlp_in", block=block, metric="norm")
    return np.stack([df[df.model == m].sort_values("step")["value"].to_numpy(np.float64)
                     for m in OFFSETS])  # fmt: skip


@pytest.mark.parametrize("band", ["minmax", "sd"])
def test_bands_against_numpy(store, band: str) -> None:
    runs = select_runs(store, suites="tiny", band=band)
    rows = seed_bands(store.scalars(suite="tiny", metric="norm"), runs)
    for block in range(N_BLOCKS):
        want = _seed_values(store, "tiny", block)
        got = rows[(rows.model == "w64 (3 seeds)") & (rows.block == block)].sort_values("step")
        assert list(got.step) == list(STEPS) and set(got.n_seeds) == {3}
        np.testing.assert_allclose(got["value"], want.mean(axis=0), rtol=1e-15)
        if band == "minmax":  # the edges are the per-seed extremes, exactly
            assert np.array_equal(got["lo"].to_numpy(), want.min(axis=0))
            assert np.array_equal(got["hi"].to_numpy(), want.max(axis=0))
        else:
            sd = np.std(want, axis=0, ddof=1)
            np.testing.assert_allclose(got["hi"] - got["value"], sd, rtol=1e-12)
            np.testing.assert_allclose(got["value"] - got["lo"], sd, rtol=1e-12)
    single = rows[rows.model == "w32"]
    assert len(single) == len(STEPS) * (N_BLOCKS + 1) and single["lo"].isna().all()


def test_band_none_draws_every_seed(store) -> None:
    rows = seed_bands(store.scalars(suite="tiny", metric="norm"), select_runs(store, band="none"))
    assert {"tiny/w64", "tiny/w64-seed1", "tiny/w64-seed2"} <= set(rows.model)
    with pytest.raises(UsageError, match="--band 'wide'; bands: minmax, sd, none"):
        select_runs(store, band="wide")


def test_two_suites_same_model_are_separate_lines(store) -> None:
    """F14 draws a line per model: one per (suite, group), named by suite; a band each."""
    fig = cs.figure("F14", store, band="none")
    labels = [line.get_label() for line in fig.axes[0].lines]
    assert {"tiny/w64", "tinyB/w64", "tiny/w32", "tinyB/w32"} <= set(labels)
    assert len(labels) == len(set(labels)) == 8
    fig = cs.figure("F14", store)
    ax = fig.axes[0]
    assert sorted(line.get_label() for line in ax.lines) == [
        "tiny/w32", "tiny/w64 (3 seeds)", "tinyB/w32", "tinyB/w64 (3 seeds)"]  # fmt: skip
    bands = [c for c in ax.collections if isinstance(c, PolyCollection)]
    assert len(bands) == 2  # the two three-seed groups, none for the single seeds
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "min-max over seeds" in legend and "tinyB/w64 (3 seeds)" in legend
    # the bands' vertices reach the planted seeds' extremes of the embedding norm
    emb = store.scalars(component="embed", metric="norm")
    emb = emb[emb.model.isin(list(OFFSETS))]
    ys = np.concatenate([b.get_paths()[0].vertices[:, 1] for b in bands])
    assert ys.min() == emb[emb.suite == "tiny"].value.min()
    assert ys.max() == emb[emb.suite == "tinyB"].value.max()


def test_per_block_figures_have_a_panel_per_suite_and_group(store) -> None:
    fig = cs.figure("F7", store)
    titles = {ax.get_title() for ax in fig.axes if ax.get_title()}
    assert {"tiny/w64 (3 seeds): MLP in", "tinyB/w64 (3 seeds): MLP in",
            "tiny/w32: MLP in", "tinyB/w32: MLP in"} <= titles  # fmt: skip
    one = cs.figure("F7", store, suites=["tinyB"], band="sd")
    titles = {ax.get_title() for ax in one.axes if ax.get_title()}
    assert titles == {"w64 (3 seeds): MLP in", "w32: MLP in"}  # one suite: no prefix


def test_filters_refuse_unknown_names(store) -> None:
    with pytest.raises(UsageError, match=r"--suites: no 'nope' in .*known: tiny, tinyB"):
        cs.figure("F7", store, suites="nope")
    with pytest.raises(UsageError, match="--groups: no 'w99'"):
        cs.figure("F7", store, groups=["w99"])
    with pytest.raises(UsageError, match="--models: no 'w16'"):
        cs.figure("F7", store, models=["w16"])
    with pytest.raises(UsageError, match="filters together choose no model"):
        cs.figure("F7", store, suites="tiny", groups="tinyB/w64")
    fig = cs.figure("F14", store, groups=["tinyB/w64"], models=["w64", "w64-seed1"])
    assert [line.get_label() for line in fig.axes[0].lines] == ["w64 (2 seeds)"]


def test_interactive_lines_have_bands(store) -> None:
    fig = cs.figure("F14", store, interactive=True)
    fills = [t for t in fig.data if t.fill == "tonexty"]
    names = {t.name for t in fig.data if t.fill is None and t.line.width != 0}
    assert len(fills) == 2 and {"tiny/w64 (3 seeds)", "tinyB/w64 (3 seeds)"} <= names
    assert all(t.fillcolor.startswith("rgba(") for t in fills)


def test_report_keeps_suites_apart_and_filters(store, tmp_path: Path) -> None:
    from ckptscope.report import ReportOptions, build_report

    built = build_report(store, tmp_path / "r", ReportOptions(animations=False), ids=["F7"])
    page = built.html.read_text()
    assert "tinyB/w64 (3 seeds)" in page and "Comparisons across runs" in page
    assert "tiny/w64 vs tinyB/w64" in page and "Across seeds" in page
    only = build_report(store, tmp_path / "o", ReportOptions(animations=False, suites=("tiny",)),
                        ids=["F7"])  # fmt: skip
    page = only.html.read_text()
    assert "tinyB" not in page and "w64 (3 seeds)" in page
    with pytest.raises(UsageError, match="--groups: no 'tiny/w16'"):
        build_report(store, tmp_path / "x", ReportOptions(groups=("tiny/w16",)), ids=["F7"])
    assert not (tmp_path / "x").exists()  # refused before any work


def test_suite_slash_model_filter_draws_that_suites_rows(store, tmp_path: Path) -> None:
    """``--models suite/model`` chooses one suite's model: its rows are drawn, no other's."""
    from ckptscope.report import ReportOptions, build_report
    from ckptscope.report.sections import PageData

    fig = cs.figure("F14", store, models=["tinyB/w32"])
    lines = fig.axes[0].lines
    assert [line.get_label() for line in lines] == ["w32"]
    want = store.scalars(suite="tinyB", model="w32", component="embed", metric="norm")
    assert sorted(lines[0].get_ydata()) == sorted(want["value"])
    fig = cs.figure("F14", store, models=["tiny/w32", "tinyB/w64"], band="none")
    assert sorted(line.get_label() for line in fig.axes[0].lines) == [
        "tiny/w32", "tinyB/w64"]  # fmt: skip
    opts = ReportOptions(animations=False, models=("tinyB/w32",))
    built = build_report(store, tmp_path / "r", opts, ids=["F7", "F14"])
    assert built.missing == [] and built.paths
    runs = opts.runs(store)
    page = PageData(runs.restrict(store), opts.query(runs)).prefetch()
    assert set(page.tasks.model) == {"w32"} and set(page.tasks.suite) == {"tinyB"}
    assert len(page.verdicts) and set(page.verdicts.model) - {"(all sizes)"} == {"w32"}


def test_one_aggregation_over_seeds() -> None:
    """seed_stats against a naive loop (null keys, NaN values, a seed's duplicate rows), and
    the experiments' bands and the comparison as the same numbers."""
    import pandas as pd

    from ckptscope.experiments.curves import seed_bands as loss_bands
    from ckptscope.groups.bands import seed_stats
    from ckptscope.groups.compare import TENSOR, _per_step

    gen = np.random.default_rng(3)
    rows = pd.DataFrame(
        [{"model": f"s{s}", "component": c, "block": b, "param": "weight", "metric": "norm",
          "step": t, "value": float(gen.normal())}
         for s in range(3) for c, b in (("embed", None), ("qkv", 0)) for t in (0, 10)]
    )  # fmt: skip
    rows.loc[0, "value"] = np.nan  # seed s0's embed at step 0: no value
    dup = rows.iloc[[5]].assign(value=rows.value.iloc[5] + 1.0)  # s1 twice at one key
    keys = [*TENSOR, "step"]
    got = seed_stats(pd.concat([rows, dup]), keys, seed="model")
    assert list(got.columns) == [*keys, "mean", "lo", "hi", "sd", "n"] and len(got) == 4
    for _, g in got.iterrows():
        at = rows[(rows.component == g.component) & (rows.step == g.step)].dropna(subset=["value"])
        vals = {m: v for m, v in zip(at.model, at.value, strict=True)}
        if (g.component, g.step) == (rows.component[5], rows.step[5]):
            vals["s1"] += 0.5  # the mean of its two rows
        x = np.array(list(vals.values()))
        assert g.n == len(x) and (g.lo, g.hi) == (x.min(), x.max())
        assert g["mean"] == pytest.approx(x.mean(), rel=1e-12)
        assert g.sd == pytest.approx(x.std(ddof=1), rel=1e-12)
    per_step = _per_step(pd.concat([rows, dup]))
    assert per_step[["mean", "lo", "hi", "n_seeds"]].to_numpy().tolist() == \
        got[["mean", "lo", "hi", "n"]].to_numpy().tolist()  # fmt: skip
    bands = loss_bands(rows.assign(init=rows.component), group=("init",))
    plain = seed_stats(rows.assign(init=rows.component), ["init", "step"])
    assert (
        bands.to_numpy().tolist()
        == plain[["init", "step", "mean", "lo", "hi", "n"]].to_numpy().tolist()
    )
    assert seed_stats(rows.iloc[:0], keys).empty
