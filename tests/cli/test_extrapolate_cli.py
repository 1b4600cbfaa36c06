"""``ckptscope extrapolate``: the norm-extrapolation table of a store, and bad input."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd
from typer.testing import CliRunner

from ckptscope.cli.app import app
from ckptscope.records import Scalar
from ckptscope.stats.curves import rise_decay
from ckptscope.store import Store, TaskKey

STEPS = (0, 25, 50, 100, 150, 200, 300, 400, 500, 700, 1000)


def test_table_and_refusals(tmp_path: Path) -> None:
    store = Store(tmp_path / "store")
    t = np.array(STEPS, dtype=np.float64)
    good = rise_decay(t, 10.0, 4.0, 1.2, 300.0)
    for i, step in enumerate(STEPS):
        store.write_task(TaskKey("s", "m", step, "weights"),
                         [Scalar("mlp_out", 2, "weight", "norm", float(good[i])),
                          Scalar("ln1", 2, "weight", "norm", 1.0)])  # fmt: skip
    runner = CliRunner()
    res = runner.invoke(app, ["extrapolate", str(store.root), "--csv"])
    assert res.exit_code == 0, res.output
    table = pd.read_csv(io.StringIO(res.output))
    assert table[["model", "component", "block", "status"]].values.tolist() == [
        ["m", "mlp_out", 2, "ok"]  # LayerNorm weights are not matrices: left out
    ]
    assert table.rel_error_last.iloc[0] < 1e-6 and table.fit_end_step.iloc[0] == 500
    res = runner.invoke(app, ["extrapolate", str(store.root)])
    assert res.exit_code == 0 and "1 of 1 fitted" in res.output
    res = runner.invoke(app, ["extrapolate", str(store.root), "--fit-fraction", "1.5"])
    assert res.exit_code == 1 and "option fit_fraction" in res.output
    res = runner.invoke(app, ["extrapolate", str(store.root), "--models", "nobody"])
    assert res.exit_code == 1 and "no weight-norm rows" in res.output
    res = runner.invoke(app, ["extrapolate", str(tmp_path / "missing")])
    assert res.exit_code == 1 and "no ckptscope store" in res.output
