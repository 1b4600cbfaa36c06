"""Reading a store: its tables as DuckDB views over the undamaged Parquet files.

:class:`TableReader` is the read half of :class:`~ckptscope.store.store.Store`; it needs
``backend`` and ``suite`` from it. Which files are read is decided by ``snapshot.py``
(compacted generations, task folders, damage); connections are locked down (``guard.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import duckdb
import numpy as np

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

from ckptscope.errors import first_line
from ckptscope.store import schema
from ckptscope.store.backend import Backend
from ckptscope.store.guard import CONNECT_CONFIG, check_select, lock_down, sql_literal
from ckptscope.store.snapshot import Snapshot, scan, table_files

TABLES = ("scalars", "arrays", "events", "failures", "tasks")


class TableReader:
    """The store's tables, read through DuckDB; the read half of ``Store``.

    Implements the :class:`~ckptscope.records.StoreReader` protocol derivations read.
    """

    backend: Backend
    suite: str | None
    #: when set, every table is seen through these (suite, model) pairs only (``for_models``)
    only_models: tuple[tuple[str, str], ...] | None = None
    _pinned: duckdb.DuckDBPyConnection | None = None  # set inside ``pinned()``

    @property
    def location(self) -> str:
        return self.backend.location

    def connect(self, writable: bool = False) -> duckdb.DuckDBPyConnection:
        """An in-memory DuckDB connection with a view per table of this store.

        The connection is locked down (``guard.py``): it reads this store's own files and
        nothing else, installs and loads no extension, and its settings cannot be changed.
        ``writable=True`` opts out and gives an unrestricted connection (any file, ``COPY``,
        ``ATTACH``): only for SQL you trust, best over your own copy of the store.
        """
        con = duckdb.connect(config=dict(CONNECT_CONFIG))
        allowed = self._create_views(con, scan(self.backend, keys=False))
        if not writable:
            lock_down(con, allowed)
        return con

    @contextmanager
    def pinned(self) -> Iterator[TableReader]:
        """Read one snapshot of the store through one connection until the block ends.

        Outside the block every read scans the store again (it sees tasks committed a
        moment ago) and opens a fresh connection; inside it, reads share one scan and one
        locked-down connection, so a report or a findings table that reads the store many
        times pays for the scan once and sees one consistent state. Re-entrant.
        """
        if self._pinned is not None:
            yield self
            return
        try:
            con = self.connect()
        except duckdb.Error as err:
            raise ValueError(f"cannot open store {self.location}: {first_line(err)}") from None
        self._pinned = con
        try:
            yield self
        finally:
            self._pinned = None
            con.close()

    def _read(
        self,
        sql: str,
        params: list[Any],
        select: bool = False,
        fetch: Callable[[duckdb.DuckDBPyConnection], Any] = lambda cursor: cursor.df(),
    ) -> Any:
        """Run ``sql`` on the pinned connection, or on a fresh one for this read only
        (``select``: refuse anything but one SELECT first); ``fetch`` reads the answer (a
        DataFrame by default) while the connection is open."""
        with self.pinned():
            con = self._pinned
            assert con is not None
            if select:
                check_select(con, sql)
            return fetch(con.execute(sql, params))

    def _create_views(self, con: duckdb.DuckDBPyConnection, snap: Snapshot) -> list[str]:
        """Create a view per table; returns the local files the views read."""
        allowed: list[str] = []
        for table in TABLES:
            files = table_files(self.backend, snap, table)
            if files:
                where = self._where()
                source = self.backend.source(con, table, files)
                columns = ", ".join(f'"{c}"' for c in schema.SCHEMAS[table].names)
                con.execute(f"CREATE VIEW {table} AS SELECT {columns} FROM {source}{where}")
                allowed += self.backend.allowed_paths(files)
            else:
                con.execute(f"CREATE VIEW {table} AS {_empty_select(schema.SCHEMAS[table])}")
        return allowed

    def _where(self) -> str:
        """The view's filter: this store's suite and chosen models (SQL literals, escaped)."""
        clauses = []
        if self.suite is not None:
            clauses.append(f"suite = {sql_literal(self.suite)}")
        if self.only_models is not None:
            pairs = [
                f"(suite = {sql_literal(s)} AND model = {sql_literal(m)})"
                for s, m in self.only_models
            ]
            clauses.append("(" + (" OR ".join(pairs) or "FALSE") + ")")
        return " WHERE " + " AND ".join(clauses) if clauses else ""

    def query(self, sql: str) -> pd.DataFrame:
        """Run one SELECT over the store's tables (scalars, arrays, events, failures, tasks).

        The SQL runs read-only and confined to the store's files (see :meth:`connect`); any
        other statement, or a read of another file, raises ``UsageError``/``ValueError``
        with one line. For a writable, unrestricted connection use
        ``store.connect(writable=True)`` and run SQL on it yourself.
        """
        try:
            return self._read(sql, [], select=True)
        except duckdb.Error as err:
            raise ValueError(f"query failed: {first_line(err)}") from None

    def query_rows(self, sql: str) -> tuple[list[str], list[tuple[Any, ...]]]:
        """:meth:`query`'s answer as column names and plain tuples, without pandas (what the
        command line prints: pandas would double its start-up)."""

        def rows(cursor: duckdb.DuckDBPyConnection) -> tuple[list[str], list[tuple[Any, ...]]]:
            return [d[0] for d in cursor.description], cursor.fetchall()

        try:
            return self._read(sql, [], select=True, fetch=rows)
        except duckdb.Error as err:
            raise ValueError(f"query failed: {first_line(err)}") from None

    def table(self, name: str, columns: Sequence[str] | None = None, **where: Any) -> pd.DataFrame:
        """A whole table, filtered by equality on columns (``model="w64"``, ``metric="norm"``):
        every column, or only ``columns``, in the table's order (a reader that draws a few
        columns of millions of rows converts only those). The rows come in the same order
        either way: the key columns that order them are read too, then left out."""
        fetch = None
        if columns is not None:  # unknown names are refused by _select
            asked = [] if isinstance(columns, str) else list(columns)
            if not asked or not all(isinstance(c, str) for c in asked):
                raise ValueError(f"columns: a list of column names, got {columns!r}")
            columns = asked
            names = schema.SCHEMAS[name].names if name in TABLES else []
            wanted = set(columns) | {c for c in ORDER_KEYS if c in names}
            fetch = [c for c in names if c in wanted] + [c for c in columns if c not in names]
        sql, params = self._select(name, fetch, where)
        picked = [f for f in schema.SCHEMAS[name] if fetch is None or f.name in fetch]
        lists = any(str(f.type).startswith("list") for f in picked)
        with self.pinned():  # an empty answer is read twice: the same snapshot both times
            answer = None if lists else self._arrow(sql, params)  # lists: DuckDB's is as fast
            # no rows: DuckDB's own types of an empty answer
            has_rows = answer is not None and answer.num_rows
            df = _frame(answer) if has_rows else self._read(sql, params)
        df = _in_order(df, answer if has_rows else None)
        keep = list(df.columns) if columns is None else [c for c in df.columns if c in columns]
        return df if len(keep) == len(df.columns) else df[keep]

    def arrow(self, name: str, columns: Sequence[str] | None = None, **where: Any) -> pa.Table:
        """:meth:`table`'s rows as an Arrow table of ``columns`` (default all), in no
        particular order: no pandas conversion, for readers that group rows themselves."""
        sql, params = self._select(name, columns, where)
        return self._arrow(sql, params)

    def _arrow(self, sql: str, params: list[Any]) -> pa.Table:
        """One query's answer as an Arrow table (on the pinned or a fresh connection)."""
        with self.pinned():
            assert self._pinned is not None
            # a relation, not a cursor: DuckDB copies a cursor's rows once more for Arrow
            return self._pinned.sql(sql, params=params).to_arrow_table()

    def _select(
        self, name: str, columns: Sequence[str] | None, where: dict[str, Any]
    ) -> tuple[str, list[Any]]:
        """The SELECT of ``columns`` of table ``name`` where each column equals its value
        (a list: any of them; None: NULL), and its parameters; unknown names refused."""
        if name not in TABLES:
            raise ValueError(f"unknown table {name!r}; tables: {', '.join(TABLES)}")
        names = schema.SCHEMAS[name].names
        unknown = [c for c in [*where, *(columns or ())] if c not in names]
        if unknown:
            raise ValueError(
                f"unknown column {unknown[0]!r} in {name}; columns: {', '.join(names)}"
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
        picked = ", ".join(f'"{c}"' for c in columns) if columns else "*"
        sql = f"SELECT {picked} FROM {name}"
        if clauses:
            sql += " WHERE " + " AND ".join(clauses)
        return sql, params

    def scalars(self, columns: Sequence[str] | None = None, **where: Any) -> pd.DataFrame:
        """Rows of the tidy scalar table (every column, or only ``columns``)."""
        return self.table("scalars", columns, **where)

    def arrays(self, **where: Any) -> pd.DataFrame:
        """Rows of the array table, with ``values`` reshaped to numpy arrays of ``shape``.

        The values are read-only views of one buffer as DuckDB answered it (Arrow): no
        Python object per number, and no copy unless a list holds NULLs (read as NaN). A row
        whose values do not fill its shape is refused in one line naming it.
        """
        sql, params = self._select("arrays", None, where)
        with self.pinned():  # an empty answer is read twice: the same snapshot both times
            answer = self._arrow(sql, params)
            if not answer.num_rows:
                return self._read(sql, params)
        df = _frame(answer.drop_columns(["values"]))
        df.insert(list(answer.column_names).index("values"), "values", _shaped(answer, df))
        return _in_order(df, answer)

    def failures(self) -> pd.DataFrame:
        """Tasks that failed and have not succeeded since."""
        return self.table("failures")

    def events(self) -> pd.DataFrame:
        """Events found by derivations (phase changes, duplicate checkpoints)."""
        return self.table("events")


#: the keys every table's rows are sorted by, where it has them
#: (then ``kind`` or ``metric``, so rows tied on the rest come in one order whatever the
#: layout of the files they were read from)
ORDER_KEYS = ("suite", "model", "step", "component", "block", "param", "head", "kind", "metric")


def _in_order(df: pd.DataFrame, answer: pa.Table | None = None) -> pd.DataFrame:
    """Rows sorted by the store's keys (stable, NULL last), as every table is returned.

    ``answer``, the Arrow table ``df`` was made from, is checked first: a compacted
    generation's rows come from DuckDB in the order they were laid out, which is often
    this order already, and the check costs a few passes where the sort of millions of
    rows (pandas factorising each string key) took 0.4 s."""
    order = [c for c in ORDER_KEYS if c in df]
    if not order or (answer is not None and _sorted(answer, order)):
        return df
    return df.sort_values(order, kind="stable").reset_index(drop=True)


def _sorted(table: pa.Table, keys: Sequence[str]) -> bool:
    """Whether ``table``'s rows are in ascending order of ``keys`` (NULL after values).

    Neighbours are compared for equality key by key; their order is checked only where a
    key changes between neighbours tied on the keys before it: few pairs in sorted rows."""
    import pyarrow.compute as pc

    n = table.num_rows
    if n < 2:
        return True
    tied = None  # pairs (i, i + 1) equal on the keys so far (None: all), as Arrow bitmaps
    for key in keys:
        col = table.column(key)  # chunked as DuckDB answered: no copy into one chunk
        a, b = col.slice(0, n - 1), col.slice(1)
        equal = pc.equal(a, b)
        if col.null_count:  # NULL equals NULL
            equal = pc.or_kleene(equal, pc.and_(a.is_null(), b.is_null()))
        equal = equal.fill_null(False)
        change = pc.indices_nonzero(pc.invert(equal) if tied is None else pc.and_not(tied, equal))
        if len(change):  # ascending: a value before a larger one or before NULL
            x, y = a.take(change), b.take(change)
            less = pc.or_(pc.less(x, y).fill_null(False), pc.and_(x.is_valid(), y.is_null()))
            if not pc.all(less).as_py():
                return False
        tied = equal if tied is None else pc.and_(tied, equal)
        if not pc.any(tied).as_py():
            return True
    return True


def _shaped(answer: pa.Table, df: pd.DataFrame) -> list[np.ndarray]:
    """Each row's ``values`` as a read-only numpy view of ``shape`` into its batch's flat
    buffer (NULL elements read as NaN, and copied then). A row whose values do not fill
    its shape (or whose shape has a NULL, a negative or a huge dimension) is refused in one
    line naming it."""
    out: list[np.ndarray] = []
    for batch in answer.to_batches():  # per batch: 32-bit list offsets never overflow
        column, shapes = batch.column("values"), batch.column("shape")
        flat = column.flatten().to_numpy(zero_copy_only=False)
        flat.flags.writeable = False
        ends = _offsets(column)
        dims, dim_ends = shapes.flatten().to_numpy(zero_copy_only=False), _offsets(shapes)
        dims_bad = shapes.flatten().is_null().to_numpy(zero_copy_only=False)
        dims = np.where(dims_bad, 0, dims).astype(np.int64)
        dims_bad |= (dims < 0) | (dims > MAX_DIM)
        # each row's number of values its shape holds (an empty shape: one)
        sizes = np.ones(len(ends) - 1, dtype=np.float64)
        for k in range(int(np.diff(dim_ends).max(initial=0))):
            at = dim_ends[:-1] + k
            has = at < dim_ends[1:]
            sizes[has] *= dims[at[has]]
        bad = np.zeros(len(sizes), dtype=bool)
        bad[np.searchsorted(dim_ends, np.flatnonzero(dims_bad), side="right") - 1] = True
        bad |= ~column.is_valid().to_numpy(zero_copy_only=False)
        bad |= ~shapes.is_valid().to_numpy(zero_copy_only=False) | (sizes != np.diff(ends))
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            row, shape = df.iloc[len(out) + i], df["shape"].iloc[len(out) + i]
            shown = (
                None if shape is None else [None if d is None or d != d else int(d) for d in shape]
            )
            raise ValueError(f"arrays row of model {row['model']} step {row['step']} "
                             f"{row['component']} kind {row['kind']}: {ends[i + 1] - ends[i]} "
                             f"values do not fill shape {shown}")  # fmt: skip
        bounds, dim_list, dim_bounds = ends.tolist(), dims.tolist(), dim_ends.tolist()
        out += [
            flat[bounds[i] : bounds[i + 1]].reshape(dim_list[dim_bounds[i] : dim_bounds[i + 1]])
            for i in range(len(bounds) - 1)
        ]
    return out


#: the largest dimension of a stored array (a hostile shape is refused above it)
MAX_DIM = 2**40


def _offsets(column: pa.ListArray) -> np.ndarray:
    """A list column's offsets from 0 (a sliced column's start at its first row)."""
    offsets = column.offsets.to_numpy()
    return offsets - offsets[0]


def _frame(table: pa.Table) -> pd.DataFrame:
    """An Arrow answer as the DataFrame DuckDB's own conversion gives (DuckDB 1.2 and later),
    in a fraction of its time for string columns (4-8x on millions of scalar rows): integer
    columns with NULLs as nullable integers, a string column of only NULLs as objects
    (None), the rest as Arrow converts them (strings in pandas' default string dtype).
    Tables with rows only; a list column's rows become numpy arrays (None for a NULL
    list, where DuckDB gives NA). Every column can be written to, as DuckDB's frames can."""
    import pandas as pd
    import pyarrow as pa

    nullable = {pa.int32(): "Int32", pa.int64(): "Int64"}
    columns = {}
    for name, col in zip(table.column_names, table.columns, strict=True):
        if col.type in nullable and col.null_count:
            columns[name] = col.to_pandas(types_mapper=pd.ArrowDtype).astype(nullable[col.type])
        elif _is_text(col.type) and len(col) and col.null_count == len(col):
            columns[name] = pd.Series(np.empty(len(col), dtype=object))  # every element None
        else:
            columns[name] = col.to_pandas()
    return pd.DataFrame(columns)  # same-typed columns copied into one block: writable


def _is_text(kind: pa.DataType) -> bool:
    """Whether an Arrow type holds strings (DuckDB may answer in any of the three)."""
    import pyarrow as pa

    view = getattr(pa.types, "is_string_view", None)  # pyarrow 16 and later
    return pa.types.is_string(kind) or pa.types.is_large_string(kind) or bool(view and view(kind))


#: Arrow types of the store's schemas as DuckDB SQL types
_SQL_TYPES = {"string": "VARCHAR", "int64": "BIGINT", "int32": "INTEGER", "double": "DOUBLE"}


def _empty_select(table_schema: pa.Schema) -> str:
    """A SELECT of no rows with ``table_schema``'s columns and types, in SQL only (registering
    an empty Arrow table would make DuckDB import pandas, half of a query's start-up)."""
    columns = []
    for field in table_schema:
        kind = str(field.type)
        if kind.startswith("list<item: "):
            sql = _SQL_TYPES[kind.removeprefix("list<item: ").removesuffix(">")] + "[]"
        else:
            sql = _SQL_TYPES[kind]
        columns.append(f'CAST(NULL AS {sql}) AS "{field.name}"')
    return f"SELECT {', '.join(columns)} WHERE FALSE"
