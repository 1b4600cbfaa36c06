"""A store on any fsspec filesystem: ``s3://``, ``gs://``, ``file://``, ``memory://``.

Object stores have no atomic folder rename, so a folder is committed by its last object.
Each file is written whole with one ``pipe`` (a single PUT: readers see the old object or
the new one, never a part), ``tasks.parquet`` last::

    parts/<suite>/<model>/step=<N>/<analysis>/scalars.parquet, arrays.parquet
    parts/<suite>/<model>/step=<N>/<analysis>/tasks.parquet      <- the commit

A task (or a compacted generation) is in the store iff its ``tasks.parquet`` exists;
readers skip folders without it (a killed attempt's leftovers), and the next attempt
deletes such leftovers before writing. Paths are keyed by task, so a retried attempt
overwrites the same objects and every row is stored once. Derivations overwrite their
files in place, then remove the ones they no longer write.

``file://`` URLs use this code path on a local or shared (NFS) folder, which is how the
tests cover it across Ray workers. ``s3://`` needs ``s3fs`` (``pip install ckptscope[s3]``).
Readers see Arrow datasets registered on the connection, so the query lockdown of
``guard.py`` allows no file path at all.
"""

from __future__ import annotations

import io
import os
import uuid
from collections.abc import Mapping
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from ckptscope.store import layout, schema
from ckptscope.store.backend import Backend, TableData
from ckptscope.store.tables import write_parquet


class FsspecBackend(Backend):
    """Objects under a URL."""

    reads_local_files = False

    def __init__(self, url: str) -> None:
        import fsspec

        try:
            self.fs, path = fsspec.core.url_to_fs(url)
        except (ImportError, ValueError) as err:  # unknown protocol, or its package missing
            raise ValueError(f"cannot open store {url}: {err}") from None
        self._local = "file" in self.fs.protocol or "local" in self.fs.protocol
        if self._local:
            self.fs.auto_mkdir = True  # a folder per task, as object stores imply
        self.url = url.rstrip("/")
        self.path = path.rstrip("/")

    def __reduce__(self) -> tuple[type[FsspecBackend], tuple[str]]:
        # rebuilt from its URL in a worker: the filesystem settings made here come back
        return (FsspecBackend, (self.url,))

    @property
    def location(self) -> str:
        return self.url

    def _p(self, rel: str) -> str:
        return f"{self.path}/{rel}"

    def exists(self, rel: str) -> bool:
        return bool(self.fs.exists(self._p(rel)))

    def glob(self, pattern: str) -> list[str]:
        prefix = len(self.path) + 1
        return sorted(str(p)[prefix:] for p in self.fs.glob(self._p(pattern)))

    def committed(self, pattern: str) -> list[str]:
        # a folder without its last object is an attempt that died (or is still writing)
        return [p.rsplit("/", 1)[0] for p in self.glob(f"{pattern}/{layout.COMMIT}")]

    def read_bytes(self, rel: str) -> bytes:
        return bytes(self.fs.cat_file(self._p(rel)))

    def write_bytes(self, rel: str, data: bytes) -> None:
        path = self._p(rel)
        if self._local:  # a temp file renamed: atomic on a local or NFS folder
            tmp = f"{path}.{uuid.uuid4().hex}.tmp"
            self.fs.pipe_file(tmp, data)
            os.replace(tmp, path)
        else:
            self.fs.pipe_file(path, data)

    def create_exclusive(self, rel: str, data: bytes) -> bool:
        # object stores have no create-if-absent in fsspec: check, then write (a narrow race)
        if self.exists(rel):
            return False
        self.write_bytes(rel, data)
        return True

    def remove(self, rel: str) -> None:
        if self.exists(rel):
            self.fs.rm(self._p(rel), recursive=True)

    def move(self, rel: str, to: str) -> bool:
        if not self.exists(rel):
            return False
        self.fs.mv(self._p(rel), self._p(to))
        return True

    def read_table(self, rel: str) -> pa.Table:
        return pq.read_table(io.BytesIO(self.read_bytes(rel)))

    def parquet_file(self, rel: str) -> pq.ParquetFile:
        return pq.ParquetFile(self.fs.open(self._p(rel), "rb"))

    def put_table(self, rel: str, table: pa.Table, what: str | None = None) -> None:
        buf = io.BytesIO()
        pq.write_table(table, buf, row_group_size=1 << 16)
        self.write_bytes(rel, buf.getvalue())

    def commit_folder(
        self,
        rel: str,
        tables: Mapping[str, TableData],
        replace: bool = False,
        what: str | None = None,
    ) -> bool:
        if not replace:
            if self.exists(f"{rel}/{layout.COMMIT}"):
                return False
            self.remove(rel)  # leftovers of an attempt that died before its commit
        names = sorted(tables, key=lambda n: n == "tasks")  # tasks.parquet last: the commit
        for name in names:
            data = tables[name]
            if isinstance(data, pa.Table):
                self.put_table(f"{rel}/{name}.parquet", data)
            else:  # a stream (compaction): written in parts, committed by tasks.parquet last
                path = self._p(f"{rel}/{name}.parquet")  # a kind's file: in its own folder
                self.fs.makedirs(path.rsplit("/", 1)[0], exist_ok=True)
                with self.fs.open(path, "wb") as f:
                    write_parquet(f, data, schema.SCHEMAS[name.split("/")[0]])
        if replace:
            for path in self.glob(f"{rel}/*.parquet"):
                if path.rsplit("/", 1)[1].removesuffix(".parquet") not in tables:
                    self.remove(path)
        return True

    def problems(self, rel: str, required: tuple[str, ...] = ()) -> dict[str, str]:
        return {
            self.display(f"{rel}/{name}"): "missing"
            for name in required
            if not self.exists(f"{rel}/{name}")
        }

    def quarantine(self, rel: str) -> None:
        self.remove(rel)  # no rename on an object store: the next sweep recomputes it

    def source(self, con: duckdb.DuckDBPyConnection, table: str, files: list[str]) -> str:
        import pyarrow.dataset as ds  # imports pandas: only where a dataset is read

        data: Any = ds.dataset(
            [self._p(f) for f in files],
            format="parquet",
            filesystem=self.fs,
            schema=getattr(schema, table.upper()),
        )
        con.register(f"_{table}_objects", data)
        return f"_{table}_objects"

    def display(self, rel: str) -> str:
        return f"{self.url}/{rel}"
