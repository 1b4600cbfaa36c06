"""``ckptscope reference``, ``findings --reference`` and ``query --reference``."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from ckptscope.cli.app import app

runner = CliRunner()


def test_list_and_show() -> None:
    listed = runner.invoke(app, ["reference", "list"])
    assert listed.exit_code == 0 and listed.output.startswith("pythia-2023 (version 1, MIT)")
    shown = runner.invoke(app, ["reference", "show", "pythia-2023"])
    assert shown.exit_code == 0
    assert "squared distances from row 0" in shown.output
    assert "pythia-1.4b    142   1000 142000" in shown.output
    bad = runner.invoke(app, ["reference", "show", "nope"])
    assert bad.exit_code == 1 and "error: unknown reference 'nope'" in bad.output


def test_findings_on_the_reference() -> None:
    result = runner.invoke(app, ["findings", "--reference", "pythia-2023", "--format", "json"])
    assert result.exit_code == 0, result.output
    records = json.loads(result.output)
    f7 = [r for r in records if r["finding"] == "F7"]
    assert len(f7) == 5 and {r["verdict"] for r in f7} == {"reproduced"}
    f14 = [r for r in records if r["finding"] == "F14"]
    assert all("pythia-2023 dataset does not hold them" in r["evidence"] for r in f14)
    both = runner.invoke(app, ["findings", "somewhere", "--reference", "pythia-2023"])
    assert both.exit_code == 1 and "one of them" in both.output


def test_query_the_reference_read_only() -> None:
    ok = runner.invoke(app, ["query", "select count(distinct model) n from scalars",
                             "--reference", "pythia-2023", "--csv"])  # fmt: skip
    assert ok.exit_code == 0 and ok.output.splitlines() == ["n", "5"]
    refused = runner.invoke(app, ["query", "copy (select 1) to '/tmp/x.csv'",
                                  "--reference", "pythia-2023"])  # fmt: skip
    assert refused.exit_code == 1 and refused.output.startswith("error:")
