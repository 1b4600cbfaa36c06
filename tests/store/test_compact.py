"""Compaction: fewer files, the same rows, crash-safe at every step, excluded by sweeps."""

import logging

import numpy as np
import pandas as pd
import pytest

import ckptscope.store.compact as compact_mod
from ckptscope.records import Array, Bookkeeping, Label, Scalar
from ckptscope.store import Store, StoreBusy, TaskKey
from ckptscope.store.check import check_store

TABLES = ("scalars", "arrays", "tasks", "events", "failures")


def _records(suite: str, step: int) -> list:
    return [
        Scalar("embed", None, "weight", "norm", step + 0.5),
        Scalar("q", 0, "weight", "alpha", float(step), head=1),
        Label("qkv", 0, "weight", "fit_winner", "gaussian" if step < 2 else "student_t"),
        Array("embed", None, "weight", "hist", np.arange(4.0) * step, meta=suite),
        Bookkeeping("embed", None, "weight", "n_fit", 10.0),
    ]


def _fill(root, steps=(0, 1, 2), suites=("A", "B")) -> Store:
    store = Store(root)
    for suite in suites:
        for model in ("m1", "m2"):
            for step in steps:
                for analysis in ("weights", "spectra"):
                    store.write_task(TaskKey(suite, model, step, analysis), _records(suite, step))
    store.record_failure(TaskKey("A", "m1", 7, "weights"), "boom")
    return store


def _everything(store: Store) -> dict[str, pd.DataFrame]:
    out = {}
    for table in TABLES:
        df = store.table(table)
        if table == "arrays":
            df["values"] = [list(np.ravel(v)) for v in df["values"]]
            df["shape"] = [list(s) for s in df["shape"]]
        key = [c for c in df.columns if c not in ("values", "shape", "labels")]
        out[table] = df.astype(str).sort_values(key).reset_index(drop=True)
    return out


def _same(a: dict, b: dict) -> None:
    for table in TABLES:
        pd.testing.assert_frame_equal(a[table], b[table], check_dtype=False)


def _files(root) -> int:
    return sum(1 for p in root.rglob("*") if p.is_file())


def test_compaction_keeps_every_row_and_done_of_two_suites(tmp_path):
    store = _fill(tmp_path)
    before, done = _everything(store), store.done()
    n_before = _files(tmp_path)
    assert store.compact() == {"A": 12, "B": 12}
    assert not list((tmp_path / "parts").rglob("*.parquet"))
    assert not list((tmp_path / "parts").iterdir())  # no empty task folders left behind
    _same(_everything(store), before)
    assert store.done() == done and all(store.has(k) for k in done)
    assert _files(tmp_path) < n_before / 5
    assert not check_store(tmp_path).damaged
    assert store.compact() == {"A": 0, "B": 0}  # nothing new: nothing changes
    _same(_everything(store), before)


def test_a_later_sweep_writes_beside_the_generation_and_the_next_compaction_folds_it(tmp_path):
    store = _fill(tmp_path, steps=(0, 1))
    store.compact("A")
    assert (tmp_path / "parts/B").is_dir()  # only A was compacted
    key = TaskKey("A", "m1", 2, "weights")
    assert not store.write_task(TaskKey("A", "m1", 1, "weights"), _records("A", 1))  # stored
    assert store.write_task(key, _records("A", 2))
    assert (tmp_path / "parts/A/m1/step=2/weights").is_dir()
    before, done = _everything(store), store.done()
    assert key in done
    assert store.compact() == {"A": 1, "B": 8}
    _same(_everything(store), before)
    assert store.done() == done
    gens = sorted(p.name for p in (tmp_path / "compacted/A").iterdir())
    assert gens == ["gen-000002"]


@pytest.mark.parametrize("crash_at", ["commit_generation", "remove_merged"])
def test_a_crash_at_any_step_leaves_the_rows_counted_once(tmp_path, monkeypatch, crash_at):
    store = _fill(tmp_path)
    before, done = _everything(store), store.done()
    real = getattr(compact_mod, crash_at)

    def crash(*args, **kwargs):
        if crash_at == "remove_merged":
            real(args[0], args[1][:3])  # part of the clean-up done, then the crash
        raise KeyboardInterrupt("killed")

    monkeypatch.setattr(compact_mod, crash_at, crash)
    with pytest.raises(KeyboardInterrupt):
        store.compact()
    monkeypatch.undo()
    _same(_everything(store), before)  # old files only, or the new ones: never both
    assert store.done() == done
    assert store.compact()  # takes the lock again: the crashed one released it
    _same(_everything(store), before)
    assert not list((tmp_path / "parts").rglob("*.parquet"))


def test_compaction_refuses_while_a_sweep_holds_the_lock_and_vice_versa(tmp_path):
    store = _fill(tmp_path, suites=("A",))
    with store.sweep_lock(), pytest.raises(StoreBusy) as err:
        store.compact()
    msg = str(err.value)
    assert "\n" not in msg and "locked by a sweep" in msg and str(store.location) in msg
    assert (tmp_path / "parts/A").is_dir()  # nothing was merged
    from ckptscope.store.lock import exclusive_lock

    with (
        exclusive_lock(store.backend, "store compaction"),
        pytest.raises(StoreBusy, match="locked by a store compaction"),
        store.sweep_lock(),
    ):
        pass
    with store.sweep_lock():  # both released
        pass


def test_a_stale_lock_of_a_dead_process_is_ignored(tmp_path):
    import json
    import socket

    store = _fill(tmp_path, suites=("A",))
    stale = {"host": socket.gethostname(), "pid": 2**22 + 12345, "what": "sweep"}
    (tmp_path / "locks").mkdir(exist_ok=True)
    (tmp_path / "locks/sweep-dead.json").write_text(json.dumps(stale))
    assert store.compact() == {"A": 12}


def test_damage_in_a_compacted_file_is_found_and_costs_only_that_generation(tmp_path, caplog):
    store = _fill(tmp_path)
    store.compact()
    path = tmp_path / "compacted/A/gen-000001/arrays.parquet"
    path.write_bytes(path.read_bytes()[:-20])
    with caplog.at_level(logging.WARNING):
        assert set(store.scalars().suite) == {"B"}
    assert any(str(path) in r.message for r in caplog.records)
    assert {k.suite for k in store.done()} == {"B"}  # A is recomputed by the next sweep
    report = check_store(tmp_path, repair=True)
    assert path in report.damaged and report.quarantined
    assert store.write_task(TaskKey("A", "m1", 0, "weights"), _records("A", 0))
    assert len(store.scalars(suite="A")) == 3


def test_compaction_on_an_object_store_url_keeps_every_row(tmp_path):
    url = f"file://{tmp_path}/objects"
    store = _fill(url)
    before, done = _everything(store), store.done()
    assert store.compact() == {"A": 12, "B": 12}
    _same(_everything(store), before)
    assert store.done() == done
    assert not list((tmp_path / "objects/parts").rglob("*.parquet"))


def test_two_processes_on_one_stale_lock_do_not_both_go_on(tmp_path, monkeypatch):
    """B read the dead owner's lock before A replaced it with its own: B must not remove
    A's live lock, and must refuse."""
    import json
    import os
    import socket

    from ckptscope.store import lock
    from ckptscope.store.errors import StoreBusy

    store = _fill(tmp_path, suites=("A",))
    excl = tmp_path / "locks" / "exclusive.json"
    excl.parent.mkdir(exist_ok=True)
    dead = {"host": socket.gethostname(), "pid": 2**22 + 12345, "what": "compaction"}
    excl.write_text(json.dumps(dead))
    real_read = store.backend.read_bytes
    state = {"first": True}

    def read_then_a_takes_over(rel):
        data = real_read(rel)
        if rel.endswith("exclusive.json") and state["first"]:  # B has read the dead owner
            state["first"] = False
            mine = {"host": socket.gethostname(), "pid": os.getpid(), "what": "compaction A"}
            excl.write_text(json.dumps(mine))  # ... and A removed it and took the lock
        return data

    monkeypatch.setattr(store.backend, "read_bytes", read_then_a_takes_over)
    with pytest.raises(StoreBusy, match="compaction A"), lock.exclusive_lock(store.backend, "B"):
        pass
    assert json.loads(excl.read_text())["what"] == "compaction A"  # A's lock survived


def test_compaction_clusters_rows_by_analysis_then_model_and_step() -> None:
    """A figure reads one analysis's rows: clustered, the other analyses' row groups are
    skipped by their statistics (at 2 Pythia shapes x 154 steps, F4's query went from 2.3 s
    to 0.7 s; benchmarks/RESULTS.md)."""
    from ckptscope.store import TaskKey, layout
    from ckptscope.store.compact import _order

    keys = [
        TaskKey("s", model, step, analysis)
        for model in ("b", "a")
        for step in (10, 2)
        for analysis in ("weights", "gradients")
    ]
    ordered = [layout.parse_task_dir(r) for r in sorted(map(layout.task_dir, keys), key=_order)]
    assert [(k.analysis, k.model, k.step) for k in ordered] == sorted(
        (k.analysis, k.model, k.step) for k in keys
    )
    assert [k.analysis for k in ordered] == ["gradients"] * 4 + ["weights"] * 4
