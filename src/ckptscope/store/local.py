"""A store in a local (or POSIX shared) folder: folders staged under ``.tmp`` and renamed.

A folder is written under ``.tmp`` with its ``manifest.json`` (sizes and sha256 of its
files) and renamed into place in one ``os.rename``: it is either wholly there or absent,
so a process killed at any moment leaves no part of it visible. Reading checks each file
cheaply against the manifest (``check.py``). A disk that is full or read-only raises
:class:`~ckptscope.store.errors.StoreError` naming the store.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Mapping
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from ckptscope.store import layout, schema
from ckptscope.store.backend import Backend, TableData
from ckptscope.store.check import (
    clean_tmp,
    folder_problems,
    footer_problem,
    quarantine,
    write_manifest,
)
from ckptscope.store.errors import write_errors
from ckptscope.store.guard import sql_literal
from ckptscope.store.tables import write_parquet


def _kind_file(rel: str, table: str) -> bool:
    """Whether ``rel`` is a compacted generation's file of one kind (``layout.kind_file``)
    whose path holds no other "=" (DuckDB would read one as a column)."""
    parts = rel.split("/", 3)  # compacted/<suite>/gen-<G>/<name>
    return parts[0] == layout.COMPACTED and rel.count("=") == 1 and len(parts) == 4 and (
        layout.is_kind_file(parts[3], table))  # fmt: skip


class LocalBackend(Backend):
    """Files under a folder."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    @property
    def location(self) -> str:
        return str(self.root.resolve())

    def _p(self, rel: str) -> Path:
        return self.root / rel

    def prepare(self, create: bool) -> None:
        if create:
            with write_errors(self.location, "creating the store"):
                for sub in layout.FOLDERS:
                    self._p(sub).mkdir(parents=True, exist_ok=True)
            clean_tmp(self.root)  # staging leftovers of sweeps that died long ago

    def exists(self, rel: str) -> bool:
        return self._p(rel).exists()

    def glob(self, pattern: str) -> list[str]:
        return sorted(p.relative_to(self.root).as_posix() for p in self.root.glob(pattern))

    def committed(self, pattern: str) -> list[str]:
        # a folder is renamed into place whole; a missing tasks.parquet is damage, reported
        return [rel for rel in self.glob(pattern) if self._p(rel).is_dir()]

    def read_bytes(self, rel: str) -> bytes:
        return self._p(rel).read_bytes()

    def write_bytes(self, rel: str, data: bytes) -> None:
        path = self._p(rel)
        tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}")
        try:
            with write_errors(self.location, f"writing {rel}"):
                path.parent.mkdir(parents=True, exist_ok=True)
                tmp.write_bytes(data)
                os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)

    def create_exclusive(self, rel: str, data: bytes) -> bool:
        path = self._p(rel)
        with write_errors(self.location, f"creating {rel}"):
            path.parent.mkdir(parents=True, exist_ok=True)
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            except FileExistsError:
                return False
            with os.fdopen(fd, "wb") as f:
                f.write(data)
        return True

    def remove(self, rel: str) -> None:
        path = self._p(rel)
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)

    def move(self, rel: str, to: str) -> bool:
        try:
            os.rename(self._p(rel), self._p(to))
        except FileNotFoundError:
            return False
        return True

    def prune_empty(self, rel: str) -> None:
        parent = self._p(rel).parent
        top = self._p(rel.split("/", 1)[0])  # parts/, derived/, ...: kept
        while parent != top and top in parent.parents:
            try:
                parent.rmdir()
            except OSError:  # not empty (or gone): stop
                return
            parent = parent.parent

    def read_table(self, rel: str) -> pa.Table:
        return pq.read_table(self._p(rel))

    def parquet_file(self, rel: str) -> pq.ParquetFile:
        return pq.ParquetFile(self._p(rel))

    def put_table(self, rel: str, table: pa.Table, what: str | None = None) -> None:
        path = self._p(rel)
        tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}")
        try:
            with write_errors(self.location, what or f"writing {rel}"):
                path.parent.mkdir(parents=True, exist_ok=True)
                pq.write_table(table, tmp)
                os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)

    def commit_folder(
        self,
        rel: str,
        tables: Mapping[str, TableData],
        replace: bool = False,
        what: str | None = None,
    ) -> bool:
        final = self._p(rel)
        if final.is_dir() and not replace:
            return False
        stage = self._p(layout.tmp_path(uuid.uuid4().hex))
        old: Path | None = None
        try:
            with write_errors(self.location, what or f"writing {rel}"):
                stage.mkdir(parents=True)
                for name, data in tables.items():
                    path = stage / f"{name}.parquet"  # a kind's file: in its own folder
                    path.parent.mkdir(parents=True, exist_ok=True)
                    write_parquet(str(path), data, schema.SCHEMAS[name.split("/")[0]])
                write_manifest(stage)
                final.parent.mkdir(parents=True, exist_ok=True)
                if replace and final.exists():
                    old = self._p(layout.tmp_path(uuid.uuid4().hex))
                    os.rename(final, old)
                try:
                    os.rename(stage, final)
                except OSError:
                    if final.is_dir() and not replace:  # a concurrent retry won the race
                        return False
                    raise
        finally:
            for leftover in (stage, old):
                if leftover is not None and leftover.exists():
                    shutil.rmtree(leftover, ignore_errors=True)
        return True

    def problems(self, rel: str, required: tuple[str, ...] = ()) -> dict[str, str]:
        found = folder_problems(self._p(rel), required)
        return {str(path): reason for path, reason in found.items()}

    def file_problem(self, rel: str) -> str | None:
        return footer_problem(self._p(rel))

    def quarantine(self, rel: str) -> None:
        quarantine(self.root, self._p(rel))

    def source(self, con: duckdb.DuckDBPyConnection, table: str, files: list[str]) -> str:
        # a generation's file per kind is read by its path's kind=<kind> (hive layout):
        # DuckDB opens none of the files of kinds a query leaves out (but the first, to
        # bind it). Not where the root's own path holds a "=": DuckDB would read it too.
        hive = "=" not in str(self.root.absolute())
        kinds = [f for f in files if hive and _kind_file(f, table)]
        # DuckDB opens the first file to bind every query: the smallest one
        kinds.sort(key=self._size)
        chosen = set(kinds)
        others = [f for f in files if f not in chosen]
        parts = []
        if kinds:
            listing = ", ".join(sql_literal(f) for f in self.allowed_paths(kinds))
            parts.append(f"SELECT * FROM read_parquet([{listing}], hive_partitioning=true, "
                         "hive_types={'kind': VARCHAR})")  # fmt: skip
        if others:
            listing = ", ".join(sql_literal(f) for f in self.allowed_paths(others))
            if not kinds:
                return f"read_parquet([{listing}], union_by_name=true)"
            parts.append(f"SELECT * FROM read_parquet([{listing}], union_by_name=true)")
        return "(" + " UNION ALL BY NAME ".join(parts) + ")"

    def _size(self, rel: str) -> int:
        try:
            return self._p(rel).stat().st_size
        except OSError:  # removed since the scan (a compaction): DuckDB says so in one line
            return 0

    def allowed_paths(self, files: list[str]) -> list[str]:
        return [str(self._p(f)) for f in files]

    def display(self, rel: str) -> str:
        return str(self._p(rel))
