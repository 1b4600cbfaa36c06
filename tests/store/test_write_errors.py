"""A full or read-only disk is one line naming the store, never a traceback or a leftover."""

import errno
import os

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from ckptscope.cli.app import app
from ckptscope.engine import EXIT_SOME_FAILED, SweepConfig, run_sweep
from ckptscope.records import Derived, DerivedScalar, Scalar
from ckptscope.store import Store, StoreError, TaskKey
from fakes import FakeSuite

KEY = TaskKey("s", "m", 0, "w")
ROW = [Scalar("embed", None, "weight", "norm", 1.0)]


def _raise(code):
    def fail(*args, **kwargs):
        raise OSError(code, os.strerror(code))

    return fail


def _partial_then_enospc(table, where, *args, **kwargs):
    with open(where, "wb") as f:  # a partial file, as a disk that fills mid-write leaves
        f.write(b"PAR1 partial")
    raise OSError(errno.ENOSPC, "Error writing bytes to file")


@pytest.mark.parametrize(
    ("target", "fail", "text"),
    [
        ("pq.write_table", _partial_then_enospc, "No space left on device"),
        ("os.rename", _raise(errno.ENOSPC), "No space left on device"),
        ("os.rename", _raise(errno.EROFS), "Read-only file system"),
        ("pq.write_table", _raise(errno.EACCES), "Permission denied"),
    ],
)
def test_write_task_error_is_one_line_and_leaves_nothing(tmp_path, monkeypatch, target, fail, text):
    store = Store(tmp_path)
    module = pq if target.startswith("pq.") else os
    monkeypatch.setattr(module, target.split(".")[1], fail)
    with pytest.raises(StoreError) as err:
        store.write_task(KEY, ROW)
    msg = str(err.value)
    assert "\n" not in msg and msg.startswith(f"store {tmp_path}: {text}") and str(KEY) in msg
    monkeypatch.undo()
    assert list((tmp_path / ".tmp").iterdir()) == []
    assert store.done() == set() and store.query("select count(*) n from tasks").n[0] == 0
    assert store.write_task(KEY, ROW) and store.has(KEY)  # once the disk is fine, it writes


def test_failure_and_derived_writes_raise_store_error(tmp_path, monkeypatch):
    store = Store(tmp_path)
    monkeypatch.setattr(pq, "write_table", _raise(errno.ENOSPC))
    with pytest.raises(StoreError, match="No space left on device"):
        store.record_failure(KEY, "boom")
    with pytest.raises(StoreError, match="No space left on device"):
        store.write_derived("d", "s", Derived(scalars=[DerivedScalar("m", 0, ROW[0])]))
    assert list((tmp_path / ".tmp").iterdir()) == []
    assert not [p for p in (tmp_path / "failures").rglob("*") if p.is_file()]
    assert not list((tmp_path / "derived").rglob("*.parquet"))


def test_other_os_errors_are_not_disguised(tmp_path, monkeypatch):
    monkeypatch.setattr(os, "rename", _raise(errno.EIO))
    with pytest.raises(OSError) as err:
        Store(tmp_path).write_task(KEY, ROW)
    assert not isinstance(err.value, StoreError)


def test_sweep_stops_with_exit_3_and_records_the_failure(tmp_path, monkeypatch):
    monkeypatch.setattr(os, "rename", _raise(errno.ENOSPC))  # failure rows use os.replace
    config = SweepConfig(suite="fake", out=tmp_path / "store", analyses=("weights",))
    result = run_sweep(config, suite=FakeSuite(models=("a",), steps=(0, 1)))
    assert result.exit_code == EXIT_SOME_FAILED
    assert "No space left on device" in result.failed["store"]
    assert str((tmp_path / "store").resolve()) in result.failed["store"]
    monkeypatch.undo()
    store = Store(tmp_path / "store", create=False)
    fails = store.failures()
    assert list(fails.step) == [0] and "No space left on device" in fails.error[0]
    assert list((tmp_path / "store/.tmp").iterdir()) == [] and store.done() == set()


def test_cli_sweep_on_a_full_disk_exits_3_with_one_line(neox_folder_suite, tmp_path, monkeypatch):
    monkeypatch.setattr(os, "rename", _raise(errno.ENOSPC))
    out = tmp_path / "store"
    args = ["sweep", str(neox_folder_suite), "--out", str(out), "--analyses", "weights"]
    res = CliRunner().invoke(app, [*args, "--models", "tiny-a", "--steps", "0,4"])
    assert res.exit_code == 3, res.output
    assert "Traceback" not in res.output
    assert res.exception is None or isinstance(res.exception, SystemExit)
    lines = [line for line in res.output.splitlines() if "No space left on device" in line]
    assert len(lines) == 1 and str(out.resolve()) in lines[0]


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes through chmod -w; EROFS is mocked above")
def test_read_only_store_folder(tmp_path):
    store = Store(tmp_path / "store")
    for folder in ("parts", "failures", ".tmp"):
        os.chmod(tmp_path / "store" / folder, 0o555)
    try:
        with pytest.raises(StoreError, match="Permission denied"):
            store.write_task(KEY, ROW)
    finally:
        for folder in ("parts", "failures", ".tmp"):
            os.chmod(tmp_path / "store" / folder, 0o755)
