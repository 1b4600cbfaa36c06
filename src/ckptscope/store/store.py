"""The results store: Parquet parts written atomically per task, queried through DuckDB.

Layout under the store root::

    parts/<suite>/<model>/step=<N>/<analysis>/{scalars,arrays}.parquet + tasks.parquet
    derived/<derivation>/<suite>/{scalars,events}.parquet
    failures/<suite>/<model>/step=<N>/<analysis>.parquet
    .tmp/                      staging; never read
    quarantine/                damaged folders moved aside (``check.py``); never read

A task's folder is staged under ``.tmp`` and renamed into ``parts`` in one ``os.rename``:
a task is either wholly in the store or absent, so a sweep killed at any moment and run
again ends with exactly the rows of an uninterrupted run. Names are percent-encoded.
A ``scheme://`` URL (``s3://``, ``file://``) opens the same layout through fsspec, with
the commit made by each task's last object instead of a rename (``objectstore.py``).

Each committed folder holds a ``manifest.json`` of its files' sizes and hashes; a task
whose files are damaged is skipped by readers (one warning per file), is not ``done``, and
is recomputed by the next sweep (``check.py``). Queries run locked down (``guard.py``).
A disk that is full or read-only raises :class:`~ckptscope.store.errors.StoreError`.
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

import pyarrow as pa
import pyarrow.parquet as pq

from ckptscope import __version__
from ckptscope.analyses.base import Array, Derived, Record, Scalar
from ckptscope.store import schema
from ckptscope.store.check import (
    clean_tmp,
    folder_problems,
    quarantine,
    warn_once,
    write_manifest,
)
from ckptscope.store.errors import write_errors
from ckptscope.store.reader import TABLES, StoreReader
from ckptscope.store.tables import arrays_table, scalars_table

__all__ = ["TABLES", "Store", "TaskKey", "arrays_table", "scalars_table"]


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


class Store(StoreReader):
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
            clean_tmp(self.root)  # staging leftovers of sweeps that died long ago
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
        """Whether the task's results are wholly and undamaged in the store."""
        folder = self.root / "parts" / key.relpath()
        return folder.is_dir() and not self._damaged(folder)

    def _damaged(self, folder: Path) -> bool:
        """Whether a task folder's files are damaged (cheap check; warns once per file)."""
        problems = folder_problems(folder, ("tasks.parquet",))
        for path, reason in problems.items():
            warn_once(path, reason)
        return bool(problems)

    def done(self) -> set[TaskKey]:
        """Every task whose results are in the store."""
        found: set[TaskKey] = set()
        parts = self.root / "parts"
        for suite in _subdirs(parts):
            for model in _subdirs(suite):
                for step in _subdirs(model):
                    for analysis in _subdirs(step):
                        if self._damaged(analysis):
                            continue  # recomputed by the next sweep
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
        """Write one task's records atomically; False when it was already there (a retry).

        Raises :class:`~ckptscope.store.errors.StoreError` when the disk is full or
        read-only; nothing of the task is left behind then.
        """
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
            if not self._damaged(final):
                return False
            quarantine(self.root, final)  # damaged: moved aside, so this attempt replaces it
        stage = self.root / ".tmp" / uuid.uuid4().hex
        try:
            with write_errors(self.location, f"writing task {key}"):
                stage.mkdir(parents=True)
                for name, table in tables.items():
                    pq.write_table(table, stage / f"{name}.parquet")
                write_manifest(stage)
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
        tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}")
        try:
            with write_errors(self.location, f"recording the failure of {key}"):
                path.parent.mkdir(parents=True, exist_ok=True)
                pq.write_table(table, tmp)
                os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)

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
        stage = self.root / ".tmp" / uuid.uuid4().hex
        try:
            with write_errors(self.location, f"writing derivation {name} of suite {suite}"):
                folder.parent.mkdir(parents=True, exist_ok=True)
                stage.mkdir(parents=True)
                for table_name, table in tables.items():
                    pq.write_table(table, stage / f"{table_name}.parquet")
                write_manifest(stage)
                old = None
                if folder.exists():
                    old = self.root / ".tmp" / uuid.uuid4().hex
                    os.rename(folder, old)
                os.rename(stage, folder)
                if old is not None:
                    shutil.rmtree(old, ignore_errors=True)
        finally:
            if stage.exists():
                shutil.rmtree(stage, ignore_errors=True)


def _subdirs(path: Path) -> list[Path]:
    try:
        return [Path(e.path) for e in os.scandir(path) if e.is_dir()]
    except FileNotFoundError:
        return []
