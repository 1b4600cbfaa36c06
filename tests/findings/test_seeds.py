"""Findings per seed, and per group the share of seeds that reproduce each one."""

from __future__ import annotations

import json

import pandas as pd
from typer.testing import CliRunner

from ckptscope.cli.app import app
from ckptscope.findings import findings, seed_shares
from ckptscope.findings.render import as_text
from findings.conftest import peaked, rising


def _rows():
    """w64 in three seeds (two peak and decline, one only rises) and w128 in one seed."""
    rows = {}
    shapes = {"w64": peaked(), "w64-seed1": peaked(base=11.0), "w64-seed2": rising(),
              "w128": peaked(base=20.0)}  # fmt: skip
    for model, curve in shapes.items():
        for b in range(4):
            for comp in ("mlp_in", "mlp_out"):
                rows[(model, comp, b, "weight", "norm")] = curve
    return rows


def test_verdict_per_seed_and_share_per_group(planted) -> None:
    df = findings(planted(_rows()))
    f7 = df[df.finding == "F7"].set_index("model")
    assert dict(f7.verdict) == {"w64": "reproduced", "w64-seed1": "reproduced",
                                "w64-seed2": "not_reproduced", "w128": "reproduced"}  # fmt: skip
    assert dict(f7.group) == {"w64": "planted/w64", "w64-seed1": "planted/w64",
                              "w64-seed2": "planted/w64", "w128": "planted/w128"}  # fmt: skip
    assert dict(f7.seed) == {"w64": 0, "w64-seed1": 1, "w64-seed2": 2, "w128": 0}
    shares = seed_shares(df).set_index(["finding", "group"])
    assert shares.loc[("F7", "planted/w64"), "share"] == "2/3 seeds"
    assert shares.loc[("F7", "planted/w128"), "share"] == "1/1 seeds"
    # no attention rows: no seed has data, so none is counted as not reproducing it
    assert shares.loc[("F8", "planted/w64"), "share"] == "no data"
    assert shares.loc[("F8", "planted/w64"), ["seeds", "with_data"]].tolist() == [3, 0]
    assert not any(g == "(all sizes)" for _, g in shares.index)


def test_cli_prints_the_shares(planted) -> None:
    store = planted(_rows())
    res = CliRunner().invoke(app, ["findings", str(store.root)])
    assert res.exit_code == 0, res.output
    assert "Seeds that reproduce each finding, of the seeds with data" in res.output
    below = res.output.split("per group:")[1].splitlines()
    assert "planted/w64" in below[1] and "planted/w128" not in below[1]  # one seed: no column
    line = next(ln for ln in below if ln.startswith("F7 "))
    assert line.split() == ["F7", "2/3", "seeds"]
    res = CliRunner().invoke(app, ["findings", str(store.root), "--format", "json"])
    records = json.loads(res.output)
    assert {r["seed"] for r in records if r["finding"] == "F7"} == {0, 1, 2}
    res = CliRunner().invoke(app, ["findings", str(store.root), "--format", "markdown"])
    assert "| F7 | 2/3 seeds |" in res.output and "| F8 | no data |" in res.output


def test_shares_count_only_seeds_with_data() -> None:
    """The denominator is the seeds with a verdict other than no_data; inconclusive seeds
    are counted and named, seeds without data named."""
    verdicts = {
        ("F7", "w64"): "reproduced", ("F7", "w64-seed1"): "inconclusive",
        ("F7", "w64-seed2"): "no_data",
        ("F8", "w64"): "no_data", ("F8", "w64-seed1"): "no_data", ("F8", "w64-seed2"): "no_data",
        ("F9", "w64"): "reproduced", ("F9", "w64-seed1"): "not_reproduced",
        ("F9", "w64-seed2"): "reproduced",
    }  # fmt: skip
    df = pd.DataFrame([{"finding": f, "model": m, "verdict": v, "group": "s/w64"}
                       for (f, m), v in verdicts.items()])  # fmt: skip
    shares = seed_shares(df).set_index("finding")
    assert shares.loc["F7", "share"] == "1/2 seeds (1 inconclusive, 1 no data)"
    assert shares.loc["F7", ["seeds", "with_data", "reproduced", "inconclusive"]].tolist() == [
        3, 2, 1, 1]  # fmt: skip
    assert shares.loc["F8", "share"] == "no data"
    assert shares.loc["F9", "share"] == "2/3 seeds"
    text = as_text(df.assign(figure="", claim="", evidence="", thresholds="{}"))
    assert "of the seeds with data" in text
    line = next(ln for ln in text.splitlines() if ln.startswith("F8 ") and "no data" in ln)
    assert "0/" not in line
