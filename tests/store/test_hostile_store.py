"""A damaged file costs only its task: readers skip it, the next sweep recomputes it."""

import logging
import os
import time

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from ckptscope.engine import SweepConfig, run_sweep
from ckptscope.records import Array, Scalar
from ckptscope.store import Store, TaskKey
from ckptscope.store.check import MANIFEST, check_store
from fakes import FakeSuite

SORT = ["model", "step", "component", "block", "param", "metric"]


def _fill(root):
    store = Store(root)
    for step in (0, 1, 2):
        store.write_task(
            TaskKey("s", "m", step, "w"),
            [
                Scalar("embed", None, "weight", "norm", float(step)),
                Array("embed", None, "weight", "hist", np.arange(5.0) * step),
            ],
        )
    return store


def _truncate(path):
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _damage_warnings(caplog):
    return [r for r in caplog.records if r.levelno == logging.WARNING and "damaged" in r.message]


@pytest.mark.parametrize("manifest", [True, False], ids=["manifest", "old-store"])
def test_truncated_file_is_skipped_with_one_warning(tmp_path, caplog, manifest):
    store = _fill(tmp_path)
    folder = tmp_path / "parts/s/m/step=1/w"
    if not manifest:  # a store written before manifests: the footer check alone finds it
        (folder / MANIFEST).unlink(missing_ok=True)
    _truncate(folder / "arrays.parquet")
    with caplog.at_level(logging.WARNING):
        assert store.query("select count(*) n from arrays").n[0] == 2
        assert store.query("select count(*) n from scalars").n[0] == 2  # the task is out whole
        assert sorted(store.scalars().step) == [0, 2]
    warned = _damage_warnings(caplog)
    assert len(warned) == 1 and str(folder / "arrays.parquet") in warned[0].message
    assert TaskKey("s", "m", 1, "w") not in store.done() and len(store.done()) == 2
    assert not store.has(TaskKey("s", "m", 1, "w")) and store.has(TaskKey("s", "m", 0, "w"))


def test_damaged_task_is_rewritten_and_the_damage_moved_aside(tmp_path):
    store = _fill(tmp_path)
    key = TaskKey("s", "m", 1, "w")
    _truncate(tmp_path / "parts/s/m/step=1/w/scalars.parquet")
    assert store.write_task(key, [Scalar("embed", None, "weight", "norm", 1.0)])
    assert store.has(key) and sorted(store.scalars().value) == [0.0, 1.0, 2.0]
    moved = list((tmp_path / "quarantine/parts/s/m/step=1").iterdir())
    assert len(moved) == 1 and (moved[0] / "scalars.parquet").exists()


def test_same_size_corruption_is_found_by_check_and_repaired(tmp_path):
    store = _fill(tmp_path)
    path = tmp_path / "parts/s/m/step=2/w/arrays.parquet"
    data = bytearray(path.read_bytes())
    data[40:48] = b"\xff" * 8  # same size, magic bytes intact: only the hash tells
    path.write_bytes(bytes(data))
    report = check_store(tmp_path)
    assert list(report.damaged) == [path] and "sha256" in report.damaged[path]
    assert path.exists()  # no repair asked: nothing moved
    report = check_store(tmp_path, repair=True)
    assert not path.exists() and len(report.quarantined) == 1
    assert not check_store(tmp_path).damaged
    assert sorted(k.step for k in store.done()) == [0, 1]


def test_sweep_recomputes_a_damaged_task(tmp_path):
    suite = FakeSuite(models=("a",), steps=(0, 1, 2))
    config = SweepConfig(suite="fake", out=tmp_path / "store", analyses=("weights",))
    assert run_sweep(config, suite=suite).exit_code == 0
    store = Store(tmp_path / "store")
    want = store.scalars().sort_values(SORT).reset_index(drop=True)
    _truncate(tmp_path / "store/parts/fake/a/step=1/weights/scalars.parquet")
    result = run_sweep(config, suite=suite)
    assert result.exit_code == 0 and result.written == 1 and result.skipped_done == 2
    got = store.scalars().sort_values(SORT).reset_index(drop=True)
    pd.testing.assert_frame_equal(got, want)
    assert not check_store(tmp_path / "store").damaged


def test_damaged_failure_file_is_skipped(tmp_path, caplog):
    store = _fill(tmp_path)
    store.record_failure(TaskKey("s", "m", 7, "w"), "boom")
    store.record_failure(TaskKey("s", "m", 8, "w"), "bang")
    _truncate(tmp_path / "failures/s/m/step=7/w.parquet")
    with caplog.at_level(logging.WARNING):
        assert list(store.failures().error) == ["bang"]
    assert len(_damage_warnings(caplog)) == 1


def test_old_staging_leftovers_are_removed_when_opened_for_writing(tmp_path):
    _fill(tmp_path)
    old, fresh = tmp_path / ".tmp/dead", tmp_path / ".tmp/running"
    for folder in (old, fresh):
        folder.mkdir()
        (folder / "scalars.parquet").write_bytes(b"PAR1 partial")
    hours_ago = time.time() - 2 * 3600  # ages one folder past the 1-hour rule; nothing is timed
    os.utime(old, (hours_ago, hours_ago))
    Store(tmp_path, create=False)  # reading removes nothing
    assert old.exists()
    Store(tmp_path)
    assert not old.exists() and fresh.exists()  # a running sweep's stage is kept
    check_store(tmp_path, repair=True)
    assert list((tmp_path / ".tmp").iterdir()) == []


def test_names_of_dots_stay_inside_the_store(tmp_path):
    root = tmp_path / "store"
    store = Store(root)
    for suite, model in (("..", ".."), (".", "..."), ("a", "..")):
        store.write_task(
            TaskKey(suite, model, 0, "w"), [Scalar("embed", None, "weight", "norm", 1.0)]
        )
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert files and all(p.resolve().is_relative_to(root.resolve()) for p in files)
    assert not any(part in (".", "..") for p in files for part in p.relative_to(root).parts)
    assert sorted(store.scalars()[["suite", "model"]].itertuples(index=False, name=None)) == [
        (".", "..."),
        ("..", ".."),
        ("a", ".."),
    ]
    with pytest.raises(ValueError, match="empty name"):
        store.write_task(TaskKey("", "m", 0, "w"), [Scalar("embed", None, "weight", "norm", 1.0)])


@pytest.mark.parametrize("shape", [[2, 2], [-1, 5], None, [5, None], [2**62, 4]])
def test_an_arrays_row_whose_values_do_not_fill_its_shape_is_one_line(tmp_path, shape):
    """A hand-made arrays file whose row has 5 values and another shape: refused in one
    line naming the row (model, step, component, kind) and both sizes."""
    import pyarrow.parquet as pq

    from ckptscope.store import schema

    store = _fill(tmp_path)
    path = tmp_path / "parts/s/m/step=1/w/arrays.parquet"
    rows = pq.read_table(path).to_pylist()
    rows[0]["shape"] = shape
    pq.write_table(pa.Table.from_pylist(rows, schema=schema.ARRAYS), path)
    (path.parent / MANIFEST).unlink()  # a store without manifests: the footer check only
    with pytest.raises(ValueError) as err:
        store.arrays()
    line = str(err.value)
    assert "\n" not in line
    assert f"model m step 1 embed kind hist: 5 values do not fill shape {shape}" in line


def test_a_generation_reads_only_the_files_its_manifest_lists(tmp_path):
    """A hand-made file in a compacted generation (a kind folder no compaction wrote, or one
    whose name DuckDB would read as a glob) is never read, not even to bind a query."""
    store = _fill(tmp_path)
    store.compact()
    gen = next((tmp_path / "compacted/s").iterdir())
    before = store.arrays()
    for name in ("kind=zzz", "kind=*", "kind=a%2Fb"):
        (gen / "arrays" / name).mkdir()
        (gen / "arrays" / name / "data.parquet").write_bytes(b"PAR1 not parquet PAR1")
    pd.testing.assert_frame_equal(store.arrays(), before)
    assert len(store.arrays(kind="hist")) == 3


def test_arrays_values_are_read_only_views_of_their_shape(tmp_path):
    """Values come back as read-only arrays of their shape, equal to what was written."""
    store = Store(tmp_path)
    written = np.arange(12.0).reshape(3, 4)
    store.write_task(TaskKey("s", "m", 0, "w"),
                     [Array("embed", None, "weight", "corr", written),
                      Array("embed", None, "weight", "empty", np.zeros((0, 3))),
                      Array("embed", None, "weight", "one", np.float64(7.0))])  # fmt: skip
    rows = store.arrays().set_index("kind")["values"]
    np.testing.assert_array_equal(rows["corr"], written)
    assert rows["empty"].shape == (0, 3) and rows["one"].shape == () and rows["one"] == 7.0
    with pytest.raises(ValueError, match="read-only"):
        rows["corr"][0, 0] = 1.0
