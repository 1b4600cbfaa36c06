"""The results store on any fsspec filesystem: ``s3://``, ``gs://``, ``file://``, ``memory://``.

Object stores have no atomic folder rename, so a task is committed by its last object
instead. Each file is written whole with one ``pipe`` (a single PUT: readers see the old
object or the new one, never a part), in this order::

    parts/<suite>/<model>/step=<N>/<analysis>/scalars.parquet, arrays.parquet
    parts/<suite>/<model>/step=<N>/<analysis>/tasks.parquet      <- the commit

A task is in the store iff its ``tasks.parquet`` exists; readers skip folders without it (a
killed attempt's leftovers), and the next attempt deletes such leftovers before writing.
Paths are keyed by task, so a retried or duplicated attempt overwrites the same objects and
every row is stored once (the analyses are deterministic: both attempts write the same rows).
A duplicate racing with a finished attempt can hide that task for a moment, never duplicate
it. Derivations overwrite their files in place, then remove the ones they no longer write.

``file://`` URLs use this code path on a local or shared (NFS) folder, which is how the tests
cover it across Ray workers. ``s3://`` needs ``s3fs`` (``pip install ckptscope[s3]``).
"""

from __future__ import annotations

import io
import json
import os
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

import duckdb
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from ckptscope import __version__
from ckptscope.store import schema
from ckptscope.store.store import Store, TaskKey

MARKER = "ckptscope-store.json"


def is_url(root: object) -> bool:
    """Whether ``root`` names a store through fsspec (``scheme://...``) rather than a path."""
    return isinstance(root, str) and "://" in root


def store_location(arg: str | Path) -> str | Path:
    """A command-line store argument: a URL kept as text, anything else a Path."""
    return arg if is_url(arg) else Path(arg)


class ObjectStore(Store):
    """A :class:`Store` on an fsspec filesystem; same tables, same API.

    Its views read Arrow datasets registered on the connection, so the query lockdown of
    ``guard.py`` allows no file path at all.
    """

    _reads_local_files = False

    def __init__(self, root: str, create: bool = True, suite: str | None = None) -> None:
        import fsspec

        try:
            self.fs, path = fsspec.core.url_to_fs(root)
        except (ImportError, ValueError) as err:  # unknown protocol, or its package missing
            raise ValueError(f"cannot open store {root}: {err}") from None
        self._local = "file" in self.fs.protocol or "local" in self.fs.protocol
        if self._local:
            self.fs.auto_mkdir = True  # a folder per task, as object stores imply
        self.root = root.rstrip("/")  # type: ignore[assignment]  # a URL, not a Path
        self.path = path.rstrip("/")
        self.suite = suite
        marker = f"{self.path}/{MARKER}"
        if create:
            if not self.fs.exists(marker):
                self.fs.makedirs(self.path, exist_ok=True)
                self.fs.pipe_file(marker, json.dumps({"ckptscope": __version__}).encode())
        elif not self.fs.exists(marker):
            raise FileNotFoundError(f"no ckptscope store at {root} (no {MARKER})")

    @property
    def location(self) -> str:
        return self.root

    # -- writing --------------------------------------------------------------------
    def _task_dir(self, key: TaskKey) -> str:
        return f"{self.path}/parts/{key.relpath().as_posix()}"

    def has(self, key: TaskKey) -> bool:
        return self.fs.exists(f"{self._task_dir(key)}/tasks.parquet")

    def done(self) -> set[TaskKey]:
        found = set()
        for path in self.fs.glob(f"{self.path}/parts/*/*/*/*/tasks.parquet"):
            suite, model, step, analysis = path.split("/")[-5:-1]
            found.add(
                TaskKey(
                    unquote(suite),
                    unquote(model),
                    int(step.removeprefix("step=")),
                    unquote(analysis),
                )
            )
        return found

    def _put(self, path: str, table: pa.Table) -> None:
        """Write one object whole: one PUT, or on a local/NFS folder a temp file renamed."""
        buf = io.BytesIO()
        pq.write_table(table, buf)
        if self._local:
            tmp = f"{path}.{uuid.uuid4().hex}.tmp"
            self.fs.pipe_file(tmp, buf.getvalue())
            os.replace(tmp, path)
        else:
            self.fs.pipe_file(path, buf.getvalue())

    def _commit(self, key: TaskKey, tables: dict[str, pa.Table]) -> bool:
        folder = self._task_dir(key)
        if self.has(key):
            return False
        if self.fs.exists(folder):  # leftovers of an attempt that died before its commit
            self.fs.rm(folder, recursive=True)
        for name in ("scalars", "arrays", "tasks"):  # tasks.parquet last: the commit
            if name in tables:
                self._put(f"{folder}/{name}.parquet", tables[name])
        return True

    def _failure_path(self, key: TaskKey) -> str:  # type: ignore[override]
        rel = key.relpath()
        return f"{self.path}/failures/{rel.parent.as_posix()}/{rel.name}.parquet"

    def _put_failure(self, key: TaskKey, table: pa.Table) -> None:
        self._put(self._failure_path(key), table)

    def clear_failure(self, key: TaskKey) -> None:
        path = self._failure_path(key)
        if self.fs.exists(path):
            self.fs.rm(path)

    def _replace_derived(self, name: str, suite: str, tables: dict[str, pa.Table]) -> None:
        folder = f"{self.path}/derived/{quote(name, safe='')}/{quote(suite, safe='')}"
        for table_name, table in tables.items():
            self._put(f"{folder}/{table_name}.parquet", table)
        for stale in {"scalars", "events"} - set(tables):
            path = f"{folder}/{stale}.parquet"
            if self.fs.exists(path):
                self.fs.rm(path)

    # -- reading --------------------------------------------------------------------
    def _files(self, table: str) -> list[str]:
        glob = self.fs.glob
        if table in ("scalars", "arrays", "tasks"):
            committed = {
                p.rsplit("/", 1)[0] for p in glob(f"{self.path}/parts/*/*/*/*/tasks.parquet")
            }
            files = sorted(
                p
                for p in glob(f"{self.path}/parts/*/*/*/*/{table}.parquet")
                if p.rsplit("/", 1)[0] in committed
            )
            if table == "scalars":
                files += sorted(glob(f"{self.path}/derived/*/*/scalars.parquet"))
            return files
        if table == "events":
            return sorted(glob(f"{self.path}/derived/*/*/events.parquet"))
        if table == "failures":
            return sorted(glob(f"{self.path}/failures/*/*/*/*.parquet"))
        return super()._files(table)  # raises for an unknown table

    def _register(self, con: duckdb.DuckDBPyConnection, table: str, files: list[str]) -> str:
        data: Any = ds.dataset(
            files, format="parquet", filesystem=self.fs, schema=getattr(schema, table.upper())
        )
        con.register(f"_{table}_objects", data)
        return f"_{table}_objects"
