"""Model names that parse to one (suite, size, variant, seed): groups of their own in
reports, findings and figures (with a warning); ``compare`` and ``--groups`` refuse."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from typer.testing import CliRunner

import ckptscope as cs
from ckptscope.cli.app import app
from ckptscope.errors import UsageError
from ckptscope.findings import findings
from ckptscope.groups import model_groups, select_runs
from groups.planted import seed_curve, write

CLASH = "are both size"


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory):
    """Suite ``hub``: two orgs' pythia-160m (both 160m, standard, seed 0) and its seed1;
    suite ``runs``: x-seed1 and x-seed01 (both x, seed 1) and x (seed 0)."""
    curves = {
        ("hub", "EleutherAI/pythia-160m"): seed_curve(0.0),
        ("hub", "myorg/pythia-160m"): seed_curve(1.0),
        ("hub", "pythia-160m-seed1"): seed_curve(2.0),
        ("runs", "x"): seed_curve(0.0),
        ("runs", "x-seed1"): seed_curve(0.5),
        ("runs", "x-seed01"): seed_curve(-0.5),
    }
    return write(tmp_path_factory.mktemp("clash") / "store", curves)


def test_colliding_models_are_groups_of_their_own(store, caplog) -> None:
    with pytest.raises(UsageError, match=CLASH):
        model_groups(store)
    with caplog.at_level(logging.WARNING, logger="ckptscope.groups.runs"):
        groups = {(g.suite, g.model): g.group for g in model_groups(store, split_collisions=True)}
    assert "each is drawn as a group of its own" in caplog.text and "'x-seed01'" in caplog.text
    assert groups == {
        ("hub", "EleutherAI/pythia-160m"): "hub/EleutherAI/pythia-160m",
        ("hub", "myorg/pythia-160m"): "hub/myorg/pythia-160m",
        ("hub", "pythia-160m-seed1"): "hub/160m",
        ("runs", "x"): "runs/x",
        ("runs", "x-seed1"): "runs/x-seed1",
        ("runs", "x-seed01"): "runs/x-seed01",
    }
    df = findings(store)
    f7 = df[df.finding == "F7"].set_index("model")
    assert f7.loc["runs/x-seed01", "group"] == "runs/x-seed01"
    assert f7.loc["hub/myorg/pythia-160m", "group"] == "hub/myorg/pythia-160m"
    runs = select_runs(store, suites="runs", band="minmax")
    assert runs.seed_groups() == {}  # no group of two seeds is left in suite runs
    fig = cs.figure("F14", store, suites="runs")
    assert sorted(line.get_label() for line in fig.axes[0].lines) == ["x", "x-seed01", "x-seed1"]


def test_report_and_findings_cli_draw_the_store(store, tmp_path: Path) -> None:
    from ckptscope.report import ReportOptions, build_report

    built = build_report(store, tmp_path / "r", ReportOptions(animations=False), ids=["F14"])
    page = built.html.read_text()
    assert built.missing == [] and "myorg/pythia-160m" in page and "x-seed01" in page
    res = CliRunner().invoke(app, ["findings", str(store.root)])
    assert res.exit_code == 0, res.output
    res = CliRunner().invoke(app, ["groups", str(store.root)])
    assert res.exit_code == 0 and "hub/myorg/pythia-160m" in res.output


def test_compare_and_groups_filter_refuse_in_one_line(store) -> None:
    with pytest.raises(UsageError, match=CLASH) as err:
        select_runs(store, groups="runs/x")
    assert "\n" not in str(err.value)
    with pytest.raises(UsageError, match=CLASH):
        cs.figure("F14", store, groups=["hub/160m"])
    with pytest.raises(UsageError, match=CLASH):
        cs.compare(store, a="runs/x", b="hub/160m")
    res = CliRunner().invoke(app, ["compare", str(store.root), "--a", "runs/x", "--b", "hub/160m"])
    assert res.exit_code == 1 and res.output.count("\n") == 1 and CLASH in res.output
    res = CliRunner().invoke(app, ["report", str(store.root), "--groups", "runs/x", "--out",
                                   str(store.root.parent / "rep")])  # fmt: skip
    assert res.exit_code == 1 and CLASH in res.output
