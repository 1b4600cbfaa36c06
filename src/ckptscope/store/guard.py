"""The query lockdown: SQL over a store reads the store's own files and nothing else.

A connection from :meth:`Store.connect` is locked after the store's views are created:

* ``allowed_paths`` lists exactly the store's Parquet files the views read;
* ``enable_external_access = false`` then refuses every other file, URL, ``ATTACH``,
  ``COPY ... TO``, ``EXPORT`` and ``INSTALL`` (object-store tables are Arrow datasets
  registered before the lock, so they still read);
* extensions are never installed or loaded (``autoinstall_known_extensions``,
  ``autoload_known_extensions``, ``allow_unsigned_extensions``,
  ``allow_community_extensions`` all false);
* ``lock_configuration = true`` so the SQL cannot ``SET`` any of this back.

On top of that, :func:`check_select` parses the SQL and runs it only when it is one
``SELECT`` statement (which includes ``WITH``, ``FROM ...``, ``DESCRIBE``, ``SHOW``).
"""

from __future__ import annotations

import duckdb

from ckptscope.errors import UsageError

#: settings given when the connection is opened (they cannot be changed once set here)
CONNECT_CONFIG: dict[str, str | bool] = {
    "autoinstall_known_extensions": False,
    "autoload_known_extensions": False,
    "allow_unsigned_extensions": False,
    "allow_community_extensions": False,
    # no spilling: a big sort would otherwise write duckdb_temp files into ./.tmp
    "temp_directory": "",
}


class QueryRefused(UsageError, ValueError):
    """SQL that is not one SELECT (a ValueError too, as every other failed query)."""


def sql_literal(value: str) -> str:
    """``value`` as a SQL string literal, quotes doubled (what DuckDB reads back exactly)."""
    return "'" + value.replace("'", "''") + "'"


def lock_down(con: duckdb.DuckDBPyConnection, allowed: list[str]) -> None:
    """Confine ``con`` to reading the files ``allowed``; nothing can be changed back."""
    listing = ", ".join(sql_literal(f) for f in allowed)
    con.execute(f"SET allowed_paths = [{listing}]")
    con.execute("SET enable_external_access = false")
    con.execute("SET lock_configuration = true")


def check_select(con: duckdb.DuckDBPyConnection, sql: str) -> None:
    """Raise :class:`QueryRefused` unless ``sql`` is exactly one SELECT statement."""
    try:
        statements = con.extract_statements(sql)
    except duckdb.Error as err:
        raise QueryRefused(f"query failed: {str(err).splitlines()[0]}") from None
    if len(statements) != 1:
        raise QueryRefused(
            f"query refused: give exactly one SELECT statement, got {len(statements)} statements"
        )
    kind = statements[0].type
    if kind != duckdb.StatementType.SELECT:
        name = getattr(kind, "name", str(kind))
        raise QueryRefused(
            f"query refused: only SELECT runs over a store (got {name}); "
            "the store is read-only to queries"
        )
