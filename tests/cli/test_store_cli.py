"""``ckptscope store check``: exit 0 when whole, 3 with a line per damaged file; --repair."""

import numpy as np
from typer.testing import CliRunner

from ckptscope.cli.app import app
from ckptscope.records import Array, Scalar
from ckptscope.store import Store, TaskKey


def _fill(root):
    store = Store(root)
    for step in (0, 1, 2):
        store.write_task(
            TaskKey("s", "m", step, "w"),
            [
                Scalar("embed", None, "weight", "norm", float(step)),
                Array("embed", None, "weight", "hist", np.arange(3.0)),
            ],
        )
    store.record_failure(TaskKey("s", "m", 9, "w"), "boom")
    return store


def test_store_check_clean_damaged_and_repair(tmp_path):
    store = _fill(tmp_path / "store")
    runner = CliRunner()
    res = runner.invoke(app, ["store", "check", str(store.root)])
    assert res.exit_code == 0, res.output
    assert "4 folders/files checked, 0 damaged" in res.output

    truncated = store.root / "parts/s/m/step=1/w/arrays.parquet"
    truncated.write_bytes(truncated.read_bytes()[:100])
    flipped = store.root / "failures/s/m/step=9/w.parquet"
    data = bytearray(flipped.read_bytes())
    data[len(data) // 2] ^= 0xFF
    flipped.write_bytes(bytes(data))
    stale = store.root / ".tmp" / "leftover"
    stale.mkdir()
    res = runner.invoke(app, ["store", "check", str(store.root)])
    assert res.exit_code == 3, res.output
    damaged = [line for line in res.output.splitlines() if line.startswith("damaged ")]
    assert len(damaged) == 2, res.output  # one line per damaged file
    assert str(flipped) in damaged[0] and str(truncated) in damaged[1]
    assert truncated.exists() and stale.exists()  # checking alone changes nothing

    res = runner.invoke(app, ["store", "check", str(store.root), "--repair"])
    assert res.exit_code == 3 and "moved to" in res.output, res.output
    assert not truncated.exists() and not stale.exists()
    assert (store.root / "quarantine").is_dir()
    res = runner.invoke(app, ["store", "check", str(store.root)])
    assert res.exit_code == 0, res.output
    assert sorted(k.step for k in store.done()) == [0, 2]
    # the repaired task is recomputed by the next write; nothing else was touched
    assert store.write_task(TaskKey("s", "m", 1, "w"), [Scalar("embed", None, "weight", "n", 1)])
    assert sorted(store.scalars().step) == [0, 1, 2]


def test_store_check_refuses_a_missing_store(tmp_path):
    res = CliRunner().invoke(app, ["store", "check", str(tmp_path / "nope")])
    assert res.exit_code == 1
    assert res.output.strip().splitlines() == [
        f"error: no ckptscope store at {tmp_path / 'nope'} (no parts/ folder)"
    ]


def test_cli_query_on_a_damaged_store_answers_without_it(tmp_path):
    store = _fill(tmp_path / "store")
    path = store.root / "parts/s/m/step=0/w/scalars.parquet"
    path.write_bytes(path.read_bytes()[:-10])
    runner = CliRunner()
    sql = "select count(*) n from arrays"
    res = runner.invoke(app, ["query", sql, "--store", str(store.root), "--csv"])
    assert res.exit_code == 0, res.output
    assert res.output.split()[-2:] == ["n", "2"]


def test_store_compact_merges_and_refuses_while_a_sweep_writes(tmp_path):
    store = _fill(tmp_path / "store")
    runner = CliRunner()
    before = store.scalars()
    with store.sweep_lock():
        res = runner.invoke(app, ["store", "compact", str(store.root)])
    assert res.exit_code == 1 and len(res.output.strip().splitlines()) == 1, res.output
    assert "locked by a sweep" in res.output
    res = runner.invoke(app, ["store", "compact", str(store.root)])
    assert res.exit_code == 0, res.output
    assert "suite s: 3 task folders merged" in res.output
    assert store.scalars().equals(before)
    res = runner.invoke(app, ["store", "check", str(store.root)])
    assert res.exit_code == 0 and "0 damaged" in res.output, res.output
    res = runner.invoke(app, ["store", "compact", str(store.root), "--rewrite"])
    assert res.exit_code == 0 and "suite s: 0 task folders merged" in res.output, res.output
    assert [p.name for p in (store.root / "compacted/s").iterdir()] == ["gen-000002"]
    assert store.scalars().equals(before)
