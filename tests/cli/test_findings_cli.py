"""``ckptscope findings``: the table, Markdown and JSON a user reads or pipes."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from ckptscope.cli.app import app
from findings.conftest import peaked, rising, write_store

runner = CliRunner()


@pytest.fixture
def planted(tmp_path):
    return lambda rows: write_store(tmp_path / "store", rows)


def _store(planted):
    rows = {}
    for b in range(4):
        rows[("pythia-160m", "mlp_in", b, "weight", "norm")] = peaked()
        rows[("pythia-410m", "mlp_in", b, "weight", "norm")] = rising()
    return planted(rows)


def test_table(planted) -> None:
    store = _store(planted)
    result = runner.invoke(app, ["findings", str(store.root)])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    header = next(line for line in lines if "pythia-160m" in line and "pythia-410m" in line)
    assert header.index("pythia-160m") < header.index("pythia-410m")  # smallest first
    f7 = next(line for line in lines if line.startswith("F7 "))
    assert f7.split()[1:3] == ["yes", "no"]
    assert any(line.startswith("F7 [pythia-160m] reproduced: 4 of 4") for line in lines)


def test_json_and_markdown(planted) -> None:
    store = _store(planted)
    result = runner.invoke(app, ["findings", str(store.root), "--format", "json"])
    records = json.loads(result.output)
    keys = {
        "finding",
        "figure",
        "claim",
        "model",
        "verdict",
        "evidence",
        "thresholds",
        "group",
        "seed",
    }
    assert all(set(r) == keys for r in records)
    f7 = {r["model"]: r for r in records if r["finding"] == "F7"}
    assert f7["pythia-160m"]["verdict"] == "reproduced"
    assert f7["pythia-160m"]["thresholds"]["rise"] == 0.02
    md = runner.invoke(app, ["findings", str(store.root), "--format", "markdown"]).output
    assert md.startswith("| finding | the post's claim | pythia-160m | pythia-410m")
    assert "| F7 | MLP weight norms rise" in md and "not reproduced" in md


def test_bad_format_and_missing_store(planted, tmp_path) -> None:
    store = _store(planted)
    bad = runner.invoke(app, ["findings", str(store.root), "--format", "xml"])
    assert bad.exit_code == 1 and "error: --format 'xml'" in bad.output
    missing = runner.invoke(app, ["findings", str(tmp_path / "nope")])
    assert missing.exit_code == 1 and missing.output.startswith("error: ")
