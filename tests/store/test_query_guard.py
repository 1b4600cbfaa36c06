"""SQL over a store is one SELECT confined to the store's own files; nothing else runs."""

import hashlib
import uuid
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from ckptscope.cli.app import app
from ckptscope.records import Array, Scalar
from ckptscope.store import Store, TaskKey

COUNTS = "select (select count(*) from scalars) s, (select count(*) from arrays) a, " + (
    "(select count(*) from tasks) t"
)


def _fill(store):
    for step in (0, 1):
        store.write_task(
            TaskKey("s", "m", step, "weights"),
            [
                Scalar("embed", None, "weight", "norm", 1.0 + step),
                Array("embed", None, "weight", "hist", np.arange(4.0)),
            ],
        )
    return store


def _tree(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.fixture
def local(tmp_path):
    return _fill(Store(tmp_path / "store"))


def _attacks(store_root: Path, outside: Path) -> list[str]:
    own = next(store_root.glob("parts/*/*/*/*/scalars.parquet"))
    return [
        f"COPY (select 1) TO '{outside}/out.csv'",
        f"COPY (select 1) TO '{own}' (FORMAT parquet)",
        f"COPY (select 1) TO '{own}' (FORMAT csv)",
        f"ATTACH '{outside}/x.duckdb' AS x",
        "select * from read_csv('/etc/passwd')",
        "select * from read_text('/etc/passwd')",
        "select * from read_blob('/etc/hostname')",
        "select * from glob('/etc/*')",
        "INSTALL httpfs",
        "LOAD httpfs",
        "SET enable_external_access = true",
        "RESET lock_configuration",
        f"EXPORT DATABASE '{outside}/export'",
        "create table t as select 1",
        f"select 1; COPY (select 1) TO '{outside}/two.csv'",
        f"select * from query('COPY (select 1) TO ''{outside}/q.csv''')",
        "select * from read_csv('https://example.com/x.csv')",
    ]


def test_every_attack_is_refused_and_the_store_is_unchanged(local, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    before, counts = _tree(local.root), local.query(COUNTS).iloc[0].tolist()
    for sql in _attacks(local.root, outside):
        with pytest.raises(ValueError) as err:  # UsageError for refused kinds is also caught
            local.query(sql)
        assert "\n" not in str(err.value), sql
    assert _tree(local.root) == before
    assert local.query(COUNTS).iloc[0].tolist() == counts == [2, 2, 2]
    assert list(outside.iterdir()) == []


def test_refused_statement_kinds_raise_usage_error(local):
    from ckptscope.errors import UsageError

    with pytest.raises(UsageError, match="only SELECT"):
        local.query("ATTACH ':memory:' AS x")
    with pytest.raises(UsageError, match="exactly one SELECT"):
        local.query("select 1; select 2")


def test_selects_still_read_the_views(local):
    assert local.query("with x as (select * from scalars) select sum(value) v from x").v[0] == 3.0
    assert set(local.query("describe scalars").column_name) >= {"suite", "value"}
    assert len(local.query("from arrays")) == 2


def test_writable_connection_is_an_explicit_opt_out(local, tmp_path):
    con = local.connect(writable=True)
    try:
        con.execute(f"COPY (select count(*) n from scalars) TO '{tmp_path / 'mine.csv'}'")
    finally:
        con.close()
    assert (tmp_path / "mine.csv").read_text().split() == ["n", "2"]


@pytest.mark.parametrize("kind", ["file-url", "memory-url"])
def test_object_store_gets_the_same_guard(tmp_path, kind):
    root = (
        f"file://{tmp_path}/ostore"
        if kind == "file-url"
        else f"memory://ckptscope-guard-{uuid.uuid4().hex}"
    )
    store = _fill(Store(root))
    assert store.query(COUNTS).iloc[0].tolist() == [2, 2, 2]
    target = tmp_path / "leak.csv"
    for sql in (
        f"COPY (select * from scalars) TO '{target}'",
        "select * from read_text('/etc/passwd')",
        "INSTALL httpfs",
    ):
        with pytest.raises(ValueError):
            store.query(sql)
    assert not target.exists()


def test_cli_query_attacks_exit_1_with_one_line(local, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    before = _tree(local.root)
    runner = CliRunner()
    for sql in _attacks(local.root, outside):
        res = runner.invoke(app, ["query", sql, "--store", str(local.root)])
        assert res.exit_code == 1, (sql, res.output)
        lines = res.output.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), (sql, res.output)
    assert _tree(local.root) == before and list(outside.iterdir()) == []
    res = runner.invoke(app, ["query", COUNTS, "--store", str(local.root), "--csv"])
    assert res.exit_code == 0 and res.output.split() == ["s,a,t", "2,2,2"]


def test_queries_never_spill_files(local, tmp_path, monkeypatch):
    """A sort too big for memory fails; it never writes duckdb_temp files into ./.tmp."""
    monkeypatch.chdir(tmp_path)
    store = local
    assert store.query("select current_setting('temp_directory') as t").t[0] == ""
    store.query("select count(*) from (select range from range(200000) order by random())")
    assert not (tmp_path / ".tmp").exists()
