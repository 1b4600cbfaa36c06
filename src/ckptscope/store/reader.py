"""Reading a store: its tables as DuckDB views over the undamaged Parquet files.

:class:`StoreReader` is the read half of :class:`~ckptscope.store.store.Store`; it needs
``root``, ``suite`` and ``location`` from it. Connections are locked down (``guard.py``);
damaged files are left out with one warning each (``check.py``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from ckptscope.store import schema
from ckptscope.store.check import folder_problems, footer_problem, warn_once
from ckptscope.store.guard import CONNECT_CONFIG, check_select, lock_down

TABLES = ("scalars", "arrays", "events", "failures", "tasks")


class StoreReader:
    """The store's tables, read through DuckDB; mixed into ``Store``."""

    root: Any
    suite: str | None
    #: whether the views read local files by path (False: registered Arrow datasets)
    _reads_local_files = True

    @property
    def location(self) -> str:
        raise NotImplementedError

    # -- reading --------------------------------------------------------------------
    def _files(self, table: str) -> list[str]:
        """The undamaged files of ``table``; a damaged task or derivation is left out whole."""
        if table in ("scalars", "arrays", "tasks"):
            files = [
                str(folder / f"{table}.parquet")
                for folder in self._whole_folders("parts/*/*/*/*", ("tasks.parquet",))
                if (folder / f"{table}.parquet").exists()
            ]
            if table == "scalars":
                files += self._derived_files("scalars")
            return files
        if table == "events":
            return self._derived_files("events")
        if table == "failures":
            found = []
            for path in sorted((self.root / "failures").glob("*/*/*/*.parquet")):
                reason = footer_problem(path)
                if reason is None:
                    found.append(str(path))
                else:
                    warn_once(path, reason)
            return found
        raise ValueError(f"unknown table {table!r}; tables: {', '.join(TABLES)}")

    def _derived_files(self, table: str) -> list[str]:
        return [
            str(folder / f"{table}.parquet")
            for folder in self._whole_folders("derived/*/*", ())
            if (folder / f"{table}.parquet").exists()
        ]

    def _whole_folders(self, pattern: str, required: tuple[str, ...]) -> list[Path]:
        """Committed folders matching ``pattern`` whose files pass the cheap check."""
        cache = getattr(self, "_scan", None)
        if cache is not None and pattern in cache:
            return cache[pattern]
        whole = []
        for folder in sorted(p for p in self.root.glob(pattern) if p.is_dir()):
            problems = folder_problems(folder, required)
            for path, reason in problems.items():
                warn_once(path, reason)
            if not problems:
                whole.append(folder)
        if cache is not None:
            cache[pattern] = whole
        return whole

    def connect(self, writable: bool = False) -> duckdb.DuckDBPyConnection:
        """An in-memory DuckDB connection with a view per table of this store.

        The connection is locked down (``guard.py``): it reads this store's own files and
        nothing else, installs and loads no extension, and its settings cannot be changed.
        ``writable=True`` opts out and gives an unrestricted connection (any file, ``COPY``,
        ``ATTACH``): only for SQL you trust, best over your own copy of the store.
        """
        self._scan: dict[str, list[Path]] | None = {}
        try:
            con = duckdb.connect(config=dict(CONNECT_CONFIG))
            allowed = self._create_views(con)
        finally:
            self._scan = None
        if not writable:
            lock_down(con, allowed)
        return con

    def _create_views(self, con: duckdb.DuckDBPyConnection) -> list[str]:
        """Create a view per table; returns the local files the views read."""
        allowed: list[str] = []
        for table in TABLES:
            files = self._files(table)
            if files:
                where = ""
                if self.suite is not None:
                    where = " WHERE suite = '" + self.suite.replace("'", "''") + "'"
                source = self._register(con, table, files)
                con.execute(f"CREATE VIEW {table} AS SELECT * FROM {source}{where}")
                if self._reads_local_files:
                    allowed += files
            else:
                empty = getattr(schema, table.upper()).empty_table()
                con.register(f"_{table}_empty", empty)
                con.execute(f"CREATE VIEW {table} AS SELECT * FROM _{table}_empty")
        return allowed

    def _register(self, con: duckdb.DuckDBPyConnection, table: str, files: list[str]) -> str:
        """The SQL source that reads ``files`` (local Parquet, read by DuckDB directly)."""
        listing = ", ".join("'" + f.replace("'", "''") + "'" for f in files)
        return f"read_parquet([{listing}], union_by_name=true)"

    def query(self, sql: str) -> pd.DataFrame:
        """Run one SELECT over the store's tables (scalars, arrays, events, failures, tasks).

        The SQL runs read-only and confined to the store's files (see :meth:`connect`); any
        other statement, or a read of another file, raises ``UsageError``/``ValueError``
        with one line. For a writable, unrestricted connection use
        ``store.connect(writable=True)`` and run SQL on it yourself.
        """
        try:
            con = self.connect()
        except duckdb.Error as err:
            raise ValueError(f"cannot open store {self.location}: {_first_line(err)}") from None
        try:
            check_select(con, sql)
            return con.execute(sql).df()
        except duckdb.Error as err:
            raise ValueError(f"query failed: {_first_line(err)}") from None
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


def _first_line(err: BaseException) -> str:
    return str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
