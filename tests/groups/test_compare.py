"""``compare``: the rule against a naive reference, a planted difference, identical groups."""

from __future__ import annotations

import itertools
from pathlib import Path

import plotly.graph_objects as go
import pytest
from matplotlib.figure import Figure
from typer.testing import CliRunner

import ckptscope as cs
from ckptscope.cli.app import app
from ckptscope.errors import UsageError
from groups.planted import N_BLOCKS, STEPS, seed_curve, write

SEEDS = {"w64": 0.0, "w64-seed1": 0.3, "w64-seed2": -0.2}
#: a gap planted in suite "far": mlp_in block 1 from step index 3 on, far beyond the seeds
GAP = 5.0


def far_curve(offset: float):
    base = seed_curve(offset)
    return lambda comp, block, i: (
        base(comp, block, i) + (GAP if comp == "mlp_in" and block == 1 and i >= 3 else 0.0)
    )


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory):
    curves = {}
    for model, off in SEEDS.items():
        curves[("near", model)] = seed_curve(off)
        curves[("same", model)] = seed_curve(off)  # identical to "near"
        curves[("far", model)] = far_curve(off)
    return write(tmp_path_factory.mktemp("compare") / "store", curves)


def test_identical_groups_differ_nowhere(store) -> None:
    c = cs.compare(store, a="near/w64", b="same/w64")
    assert c.summary.empty and not c.diff["beyond"].any()
    assert (c.diff["diff"] == 0).all() and len(c.diff) == len(STEPS) * (N_BLOCKS + 1)


def test_planted_difference_is_flagged(store) -> None:
    c = cs.compare(store, a="near/w64", b="far/w64", metrics="norm")
    s = c.summary
    assert len(s) == 1
    row = s.iloc[0]
    assert (row.component, row.block, row.metric) == ("mlp_in", 1, "norm")
    assert (row.first_step, row.last_step, row.steps) == (STEPS[3], STEPS[-1], 2)
    assert row.max_abs_diff == pytest.approx(GAP, rel=1e-12)
    assert c.seeds_a == tuple(sorted(SEEDS)) and c.a == "near/w64"


def test_rule_against_a_naive_reference(store) -> None:
    """Each flag recomputed from the raw rows with plain Python loops."""
    c = cs.compare(store, a="near/w64", b="far/w64")
    raw = store.scalars(metric="norm")
    for (comp, block), step in itertools.product(
        [("embed", None), ("mlp_in", 0), ("mlp_in", 1)], STEPS
    ):
        vals = {}
        for suite in ("near", "far"):
            part = raw[(raw.suite == suite) & (raw.component == comp) & (raw.step == step)]
            part = part[part.block.isna()] if block is None else part[part.block == block]
            vals[suite] = [float(v) for v in part.value]
        spread = max(max(v) - min(v) for v in vals.values())
        diff = sum(vals["far"]) / 3 - sum(vals["near"]) / 3
        got = c.diff[(c.diff.component == comp) & (c.diff.step == step)]
        got = got[got.block.isna()] if block is None else got[got.block == block]
        assert float(got["diff"].iloc[0]) == pytest.approx(diff, abs=1e-12)
        assert bool(got["beyond"].iloc[0]) == (abs(diff) > spread)


def test_figures_and_errors(store) -> None:
    c = cs.compare(store, a="near/w64", b="far/w64")
    fig = c.figure()
    assert isinstance(fig, Figure) and len(fig.axes) == 6  # (embed, mlp_in) x (a, b, b - a)
    assert go.Figure(c.interactive("norm")).data
    with pytest.raises(UsageError, match="several suites; name one: far/w64, near/w64, same/w64"):
        cs.compare(store, a="w64", b="far/w64")
    with pytest.raises(UsageError, match="--b: no group 'far/w128'"):
        cs.compare(store, a="near/w64", b="far/w128")
    with pytest.raises(UsageError, match="same group"):
        cs.compare(store, a="near/w64", b="near/w64")
    with pytest.raises(UsageError, match="--metric 'alpha': not in both groups; shared: norm"):
        cs.compare(store, a="near/w64", b="far/w64", metrics=["alpha"])


def test_cli(store, tmp_path: Path) -> None:
    runner = CliRunner()
    res = runner.invoke(app, ["compare", str(store.root), "--a", "near/w64", "--b", "far/w64",
                              "--metric", "norm", "--out", str(tmp_path)])  # fmt: skip
    assert res.exit_code == 0, res.output
    assert "mlp_in" in res.output and "1 step ranges differ beyond the seed spread" in res.output
    assert (tmp_path / "compare_near_w64_vs_far_w64_norm.png").stat().st_size > 0
    res = runner.invoke(app, ["compare", str(store.root), "--a", "near/w64", "--b", "same/w64"])
    assert res.exit_code == 0 and "no difference beyond the seed spread" in res.output
    res = runner.invoke(app, ["compare", str(store.root), "--a", "x", "--b", "same/w64"])
    assert res.exit_code == 1 and res.output.count("\n") == 1 and "no group 'x'" in res.output
    res = runner.invoke(app, ["groups", str(store.root)])
    assert res.exit_code == 0 and "far/w64" in res.output and "w64-seed2" in res.output
    (tmp_path / "afile").write_text("x")
    for bad in (tmp_path / "afile", tmp_path / "afile" / "sub"):
        res = runner.invoke(app, ["compare", str(store.root), "--a", "near/w64", "--b",
                                  "far/w64", "--out", str(bad)])  # fmt: skip
        assert res.exit_code == 1 and res.output.count("\n") == 1, res.output
        assert res.output.startswith("error: --out") and "not a folder" in res.output


def test_one_seed_groups_are_not_weighed_against_a_spread(tmp_path: Path) -> None:
    """A group of one seed has no spread: the report and the CLI list its differences and
    say they cannot be weighed against seed spread, never "beyond the seed spread"."""
    from ckptscope.figures.catalogue import Query
    from ckptscope.report.html import comparisons_html
    from ckptscope.report.sections import PageData

    curves = {("solo", "w64"): seed_curve(0.0), ("solo2", "w64"): far_curve(0.0)}
    curves |= {("trio", m): seed_curve(off) for m, off in SEEDS.items()}
    store = write(tmp_path / "store", curves)
    html, _ = comparisons_html(PageData(store, Query()), 0)
    heads = html.split("<h3>")[1:]
    assert len(heads) == 3
    solo = next(h for h in heads if h.startswith("solo/w64 vs solo2/w64"))
    assert "one seed each: differences are listed but cannot be weighed against seed spread" in solo
    assert "beyond the seed spread" not in solo and "1 step ranges where" in solo
    mixed = next(h for h in heads if h.startswith("solo/w64 vs trio/w64"))
    assert "solo/w64 has one seed: differences are listed but cannot be weighed" in mixed
    runner = CliRunner()
    res = runner.invoke(app, ["compare", str(store.root), "--a", "solo/w64", "--b", "solo2/w64"])
    assert res.exit_code == 0, res.output
    assert "note: one seed each: differences are listed but cannot be weighed" in res.output
    assert "beyond the seed spread" not in res.output and "1 step ranges differ" in res.output
    res = runner.invoke(app, ["compare", str(store.root), "--a", "trio/w64", "--b", "solo/w64"])
    assert "note: solo/w64 has one seed" in res.output
