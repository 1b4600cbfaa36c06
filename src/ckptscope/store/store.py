"""The results store: Parquet parts written atomically per task, queried through DuckDB.

Layout under the store root::

    parts/<suite>/<model>/step=<N>/<analysis>/{scalars,arrays}.parquet + tasks.parquet
    derived/<derivation>/<suite>/{scalars,events}.parquet
    failures/<suite>/<model>/step=<N>/<analysis>.parquet
    .tmp/                      staging; never read

A task's folder is staged under ``.tmp`` and renamed into ``parts`` in one ``os.rename``:
a task is either wholly in the store or absent, so a sweep killed at any moment and run
again ends with exactly the rows of an uninterrupted run. Names are percent-encoded.
A ``scheme://`` URL (``s3://``, ``file://``) opens the same layout through fsspec, with
the commit made by each task's last object instead of a rename (``objectstore.py``).
"""

from __future__ import annotations

import json
import os
import shutil
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from ckptscope import __version__
from ckptscope.analyses.base import Array, Derived, Record, Scalar
from ckptscope.store import schema

TABLES = ("scalars", "arrays", "events", "failures", "tasks")


@dataclass(frozen=True, order=True)
class TaskKey:
    """One (suite, model, step, analysis): the unit the store writes atomically."""

    suite: str
    model: str
    step: int
    analysis: str

    def relpath(self) -> Path:
        return (
            Path(quote(self.suite, safe=""))
            / quote(self.model, safe="")
            / f"step={self.step}"
            / quote(self.analysis, safe="")
        )

    def __str__(self) -> str:
        return f"{self.suite}/{self.model}@step{self.step}:{self.analysis}"


def _key_columns(key: TaskKey, n: int) -> dict[str, pa.Array]:
    return {
        "suite": pa.array([key.suite] * n, pa.string()),
        "model": pa.array([key.model] * n, pa.string()),
        "step": pa.array([key.step] * n, pa.int64()),
    }


def scalars_table(key: TaskKey, rows: list[Scalar]) -> pa.Table:
    """Scalar records of one task as a table of the ``scalars`` schema."""
    cols = _key_columns(key, len(rows))
    cols["component"] = pa.array([r.component for r in rows], pa.string())
    cols["block"] = pa.array([r.block for r in rows], pa.int32())
    cols["param"] = pa.array([r.param for r in rows], pa.string())
    cols["metric"] = pa.array([r.metric for r in rows], pa.string())
    cols["value"] = pa.array([r.value for r in rows], pa.float64())
    return pa.table(cols, schema=schema.SCALARS)


def arrays_table(key: TaskKey, rows: list[Array]) -> pa.Table:
    """Array records of one task as a table of the ``arrays`` schema."""
    cols = _key_columns(key, len(rows))
    cols["component"] = pa.array([r.component for r in rows], pa.string())
    cols["block"] = pa.array([r.block for r in rows], pa.int32())
    cols["param"] = pa.array([r.param for r in rows], pa.string())
    cols["kind"] = pa.array([r.kind for r in rows], pa.string())
    cols["shape"] = pa.array([list(np.shape(r.values)) for r in rows], pa.list_(pa.int64()))
    flat = [np.asarray(r.values, dtype=np.float64).ravel() for r in rows]
    offsets = np.zeros(len(flat) + 1, dtype=np.int32)
    offsets[1:] = np.cumsum([len(f) for f in flat])
    values = np.concatenate(flat) if flat else np.zeros(0)
    cols["values"] = pa.ListArray.from_arrays(pa.array(offsets), pa.array(values))
    cols["labels"] = pa.array(
        [list(r.labels) if r.labels is not None else None for r in rows], pa.list_(pa.string())
    )
    cols["meta"] = pa.array([r.meta for r in rows], pa.string())
    return pa.table(cols, schema=schema.ARRAYS)


class Store:
    """A results store rooted at a folder; safe to read while a sweep writes.

    ``Store("s3://bucket/run")`` (any ``scheme://`` URL) returns an
    :class:`~ckptscope.store.objectstore.ObjectStore` with the same API.
    """

    def __new__(cls, root: str | os.PathLike[str], *args: Any, **kwargs: Any) -> Store:
        if cls is Store:
            from ckptscope.store.objectstore import ObjectStore, is_url

            if is_url(root):
                return super().__new__(ObjectStore)
        return super().__new__(cls)

    def __init__(
        self, root: str | os.PathLike[str], create: bool = True, suite: str | None = None
    ) -> None:
        self.root = Path(root)
        self.suite = suite  # when set, every table is seen through ``WHERE suite = ...``
        if create:
            for sub in ("parts", "derived", "failures", ".tmp"):
                (self.root / sub).mkdir(parents=True, exist_ok=True)
        elif not (self.root / "parts").is_dir():
            raise FileNotFoundError(f"no ckptscope store at {self.root} (no parts/ folder)")

    def for_suite(self, suite: str) -> Store:
        """The same store, its tables restricted to one suite (what derivations read)."""
        return Store(self.root, create=False, suite=suite)

    @property
    def location(self) -> str:
        """Where the store is, for messages: an absolute path or a URL."""
        return str(Path(self.root).resolve())

    # -- writing --------------------------------------------------------------------
    def has(self, key: TaskKey) -> bool:
        """Whether the task's results are wholly in the store."""
        return (self.root / "parts" / key.relpath()).is_dir()

    def done(self) -> set[TaskKey]:
        """Every task whose results are in the store."""
        found: set[TaskKey] = set()
        parts = self.root / "parts"
        for suite in _subdirs(parts):
            for model in _subdirs(suite):
                for step in _subdirs(model):
                    for analysis in _subdirs(step):
                        found.add(
                            TaskKey(
                                unquote(suite.name),
                                unquote(model.name),
                                int(step.name.removeprefix("step=")),
                                unquote(analysis.name),
                            )
                        )
        return found

    def write_task(
        self,
        key: TaskKey,
        records: Iterable[Record],
        *,
        version: int = 1,
        seconds: float = 0.0,
        meta: dict[str, Any] | None = None,
    ) -> bool:
        """Write one task's records atomically; False when it was already there (a retry)."""
        scalars: list[Scalar] = []
        arrays: list[Array] = []
        for rec in records:
            (scalars if isinstance(rec, Scalar) else arrays).append(rec)
        tables: dict[str, pa.Table] = {}
        if scalars:
            tables["scalars"] = scalars_table(key, scalars)
        if arrays:
            tables["arrays"] = arrays_table(key, arrays)
        task = {
            "suite": [key.suite],
            "model": [key.model],
            "step": [key.step],
            "analysis": [key.analysis],
            "version": [version],
            "seconds": [seconds],
            "ckptscope": [__version__],
            "meta": [json.dumps(meta or {}, sort_keys=True, default=str)],
        }
        tables["tasks"] = pa.table(task, schema=schema.TASKS)
        if not self._commit(key, tables):
            return False
        self.clear_failure(key)
        return True

    def _commit(self, key: TaskKey, tables: dict[str, pa.Table]) -> bool:
        """Stage the task's files, then rename the folder into place; False if already there."""
        final = self.root / "parts" / key.relpath()
        if final.is_dir():
            return False
        stage = self.root / ".tmp" / uuid.uuid4().hex
        stage.mkdir(parents=True)
        try:
            for name, table in tables.items():
                pq.write_table(table, stage / f"{name}.parquet")
            final.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.rename(stage, final)
            except OSError:
                if final.is_dir():  # a concurrent retry of the same task won the race
                    return False
                raise
        finally:
            if stage.exists():
                shutil.rmtree(stage, ignore_errors=True)
        return True

    def _failure_path(self, key: TaskKey) -> Path:
        rel = key.relpath()
        return self.root / "failures" / rel.parent / f"{rel.name}.parquet"

    def record_failure(self, key: TaskKey, error: str) -> None:
        """Record (or replace) the failure of one task."""
        table = pa.table(
            {
                "suite": [key.suite],
                "model": [key.model],
                "step": [key.step],
                "analysis": [key.analysis],
                "error": [error],
                "time": [time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())],
            },
            schema=schema.FAILURES,
        )
        self._put_failure(key, table)

    def _put_failure(self, key: TaskKey, table: pa.Table) -> None:
        path = self._failure_path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}")
        pq.write_table(table, tmp)
        os.replace(tmp, path)

    def clear_failure(self, key: TaskKey) -> None:
        """Forget a task's earlier failure (it has now succeeded)."""
        self._failure_path(key).unlink(missing_ok=True)

    def write_derived(self, name: str, suite: str, derived: Derived) -> None:
        """Replace a derivation's output for one suite atomically."""
        tables: dict[str, pa.Table] = {}
        if derived.scalars:
            parts = [
                scalars_table(TaskKey(suite, model, step, name), [rec])
                for model, step, rec in derived.scalars
            ]
            tables["scalars"] = pa.concat_tables(parts)
        if derived.events:
            ev = derived.events
            tables["events"] = pa.table(
                {
                    "suite": [suite] * len(ev),
                    "model": [e.model for e in ev],
                    "step": [e.step for e in ev],
                    "component": [e.component for e in ev],
                    "block": [e.block for e in ev],
                    "param": [e.param for e in ev],
                    "metric": [e.metric for e in ev],
                    "kind": [e.kind for e in ev],
                    "message": [e.message for e in ev],
                    "source": [name] * len(ev),
                },
                schema=schema.EVENTS,
            )
        self._replace_derived(name, suite, tables)

    def _replace_derived(self, name: str, suite: str, tables: dict[str, pa.Table]) -> None:
        folder = self.root / "derived" / quote(name, safe="") / quote(suite, safe="")
        folder.parent.mkdir(parents=True, exist_ok=True)
        stage = self.root / ".tmp" / uuid.uuid4().hex
        stage.mkdir(parents=True)
        for table_name, table in tables.items():
            pq.write_table(table, stage / f"{table_name}.parquet")
        old = None
        if folder.exists():
            old = self.root / ".tmp" / uuid.uuid4().hex
            os.rename(folder, old)
        os.rename(stage, folder)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)

    # -- reading --------------------------------------------------------------------
    def _files(self, table: str) -> list[str]:
        if table in ("scalars", "arrays", "tasks"):
            files = sorted(str(p) for p in (self.root / "parts").glob(f"*/*/*/*/{table}.parquet"))
            if table == "scalars":
                files += sorted(str(p) for p in (self.root / "derived").glob("*/*/scalars.parquet"))
            return files
        if table == "events":
            return sorted(str(p) for p in (self.root / "derived").glob("*/*/events.parquet"))
        if table == "failures":
            return sorted(str(p) for p in (self.root / "failures").glob("*/*/*/*.parquet"))
        raise ValueError(f"unknown table {table!r}; tables: {', '.join(TABLES)}")

    def connect(self) -> duckdb.DuckDBPyConnection:
        """An in-memory DuckDB connection with a view per table of this store."""
        con = duckdb.connect()
        for table in TABLES:
            files = self._files(table)
            if files:
                where = ""
                if self.suite is not None:
                    where = " WHERE suite = '" + self.suite.replace("'", "''") + "'"
                source = self._register(con, table, files)
                con.execute(f"CREATE VIEW {table} AS SELECT * FROM {source}{where}")
            else:
                empty = getattr(schema, table.upper()).empty_table()
                con.register(f"_{table}_empty", empty)
                con.execute(f"CREATE VIEW {table} AS SELECT * FROM _{table}_empty")
        return con

    def _register(self, con: duckdb.DuckDBPyConnection, table: str, files: list[str]) -> str:
        """The SQL source that reads ``files`` (local Parquet, read by DuckDB directly)."""
        listing = ", ".join("'" + f.replace("'", "''") + "'" for f in files)
        return f"read_parquet([{listing}], union_by_name=true)"

    def query(self, sql: str) -> pd.DataFrame:
        """Run SQL over the store's tables (scalars, arrays, events, failures, tasks)."""
        con = self.connect()
        try:
            return con.execute(sql).df()
        except duckdb.Error as err:
            raise ValueError(f"query failed: {str(err).splitlines()[0]}") from None
        finally:
            con.close()

    def table(self, name: str, **where: Any) -> pd.DataFrame:
        """A whole table, filtered by equality on columns (``model="w64"``, ``metric="norm"``)."""
        if name not in TABLES:
            raise ValueError(f"unknown table {name!r}; tables: {', '.join(TABLES)}")
        columns = getattr(schema, name.upper()).names
        unknown = [c for c in where if c not in columns]
        if unknown:
            raise ValueError(
                f"unknown column {unknown[0]!r} in {name}; columns: {', '.join(columns)}"
            )
        clauses, params = [], []
        for col, val in where.items():
            if val is None:
                clauses.append(f"{col} IS NULL")
            elif isinstance(val, list | tuple | set):
                clauses.append(f"{col} IN ({', '.join('?' for _ in val)})")
                params.extend(val)
            else:
                clauses.append(f"{col} = ?")
                params.append(val)
        sql = f"SELECT * FROM {name}"
        if clauses:
            sql += " WHERE " + " AND ".join(clauses)
        con = self.connect()
        try:
            df = con.execute(sql, params).df()
        finally:
            con.close()
        order = [c for c in ("suite", "model", "step", "component", "block", "param") if c in df]
        return df.sort_values(order, kind="stable").reset_index(drop=True) if order else df

    def scalars(self, **where: Any) -> pd.DataFrame:
        """Rows of the tidy scalar table."""
        return self.table("scalars", **where)

    def arrays(self, **where: Any) -> pd.DataFrame:
        """Rows of the array table, with ``values`` reshaped to numpy arrays of ``shape``."""
        df = self.table("arrays", **where)
        if len(df):
            df["values"] = [
                np.asarray(v, dtype=np.float64).reshape([int(s) for s in shape])
                for v, shape in zip(df["values"], df["shape"], strict=True)
            ]
        return df

    def failures(self) -> pd.DataFrame:
        """Tasks that failed and have not succeeded since."""
        return self.table("failures")

    def events(self) -> pd.DataFrame:
        """Events found by derivations (phase changes, duplicate checkpoints)."""
        return self.table("events")


def _subdirs(path: Path) -> list[Path]:
    try:
        return [Path(e.path) for e in os.scandir(path) if e.is_dir()]
    except FileNotFoundError:
        return []
