"""The results store: Parquet parts written atomically per task, queried through DuckDB.

``Store(location)`` opens a folder (:class:`~ckptscope.store.local.LocalBackend`) or an
fsspec URL (:class:`~ckptscope.store.fsspec_backend.FsspecBackend`); the Store holds the
backend and keeps every rule itself: the layout (``layout.py``), the schema and its
version (``schema.py``), what readers see (``snapshot.py``), locks (``lock.py``),
compaction (``compact.py``) and migration from schema 1 (``migrate.py``).

A task is either wholly in the store or absent, so a sweep killed at any moment and run
again ends with exactly the rows of an uninterrupted run. A task whose files are damaged
is skipped by readers (one warning per file), is not ``done``, and is recomputed by the
next sweep (``check.py``). Queries run locked down (``guard.py``). A disk that is full or
read-only raises :class:`~ckptscope.store.errors.StoreError`.

A Store is a plain picklable value: sweeps ship it to their workers as it is.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pyarrow as pa

from ckptscope.records import Derived, Record
from ckptscope.store import layout
from ckptscope.store.backend import Backend
from ckptscope.store.compact import compact
from ckptscope.store.errors import StoreError, StoreSchemaError
from ckptscope.store.layout import TaskKey
from ckptscope.store.local import LocalBackend
from ckptscope.store.lock import shared_lock
from ckptscope.store.reader import TABLES, TableReader
from ckptscope.store.snapshot import compacted_keys, scan, whole
from ckptscope.store.tables import events_table, failure_table, scalars_table, task_tables

__all__ = ["TABLES", "Store", "TaskKey", "backend_for", "open_schema"]


class Store(TableReader):
    """A results store at a folder or URL; safe to read while a sweep writes.

    ``create=False`` opens an existing store only (FileNotFoundError otherwise). A store of
    another schema version is refused with one line (:class:`StoreSchemaError`).
    """

    def __init__(
        self,
        root: str | os.PathLike[str],
        create: bool = True,
        suite: str | None = None,
        *,
        read_only: bool = False,
    ) -> None:
        self.backend: Backend = backend_for(root)
        #: refuse every write (a shipped reference dataset): ``StoreError`` in one line
        self.read_only = read_only
        #: the location as given: a Path, or a URL as text
        self.root: Path | str = (
            root if isinstance(root, str) and layout.is_url(root) else Path(root)
        )
        if isinstance(self.root, str):
            self.root = self.root.rstrip("/")
        self.suite = suite  # when set, every table is seen through ``WHERE suite = ...``
        open_schema(self.backend, create and not read_only)

    @classmethod
    def open(cls, location: str | os.PathLike[str], create: bool = False) -> Store:
        """An existing store (``create=True``: created when absent)."""
        return cls(location, create=create)

    def absolute(self) -> Store:
        """The same store with an absolute path (for workers that run in another folder)."""
        if isinstance(self.root, str):
            return self
        view = copy.copy(self)
        view.root = self.root.absolute()
        view.backend = backend_for(view.root)
        return view

    def for_suite(self, suite: str) -> Store:
        """The same store, its tables restricted to one suite (what derivations read)."""
        view = copy.copy(self)
        view.suite = suite
        return view

    def for_models(self, pairs: Iterable[tuple[str, str]]) -> Store:
        """The same store, its tables restricted to these (suite, model) pairs (what the
        ``--suites/--models/--groups`` filters of figures and reports read)."""
        view = copy.copy(self)
        view.only_models = tuple((str(s), str(m)) for s, m in pairs)
        view._pinned = None  # a pinned connection's views would not see the restriction
        return view

    # -- writing --------------------------------------------------------------------
    def has(self, key: TaskKey) -> bool:
        """Whether the task's results are wholly and undamaged in the store."""
        rel = layout.task_dir(key)
        if self.backend.committed(rel) and whole(self.backend, rel):
            return True
        return key in compacted_keys(self.backend, key.suite)

    def done(self) -> set[TaskKey]:
        """Every task whose results are in the store (task folders and compacted ones)."""
        return scan(self.backend).done()

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

        Bookkeeping records go into the task's ``meta`` (``schema.py``). Raises
        :class:`~ckptscope.store.errors.StoreError` when the disk is full or read-only;
        nothing of the task is left behind then.
        """
        self._writable(f"writing task {key}")
        tables = task_tables(key, records, version, seconds, meta or {})
        rel = layout.task_dir(key)
        if self.backend.committed(rel):
            if whole(self.backend, rel):
                return False
            self.backend.quarantine(rel)  # damaged: moved aside, so this attempt replaces it
        elif key in compacted_keys(self.backend, key.suite):
            return False
        if not self.backend.commit_folder(rel, tables, what=f"writing task {key}"):
            return False
        self.clear_failure(key)
        return True

    def record_failure(self, key: TaskKey, error: str) -> None:
        """Record (or replace) the failure of one task."""
        what = f"recording the failure of {key}"
        self._writable(what)
        self.backend.put_table(layout.failure_path(key), failure_table(key, error), what)

    def clear_failure(self, key: TaskKey) -> None:
        """Forget a task's earlier failure (it has now succeeded)."""
        self._writable(f"clearing the failure of {key}")
        self.backend.remove(layout.failure_path(key))

    def write_derived(self, name: str, suite: str, derived: Derived) -> None:
        """Replace a derivation's output for one suite atomically."""
        self._writable(f"writing derivation {name}")
        tables: dict[str, pa.Table] = {}
        if derived.scalars:
            keys = [(suite, d.model, d.step) for d in derived.scalars]
            tables["scalars"] = scalars_table(keys, [d.record for d in derived.scalars])
        if derived.events:
            tables["events"] = events_table(suite, name, derived.events)
        what = f"writing derivation {name} of suite {suite}"
        self.backend.commit_folder(layout.derived_dir(name, suite), tables, True, what)

    @contextmanager
    def sweep_lock(self) -> Iterator[None]:
        """Held by a sweep while it writes: refuses (one line) while compaction runs."""
        self._writable("sweeping into it")
        with shared_lock(self.backend, "sweep"):
            yield

    def compact(self, suite: str | None = None, rewrite: bool = False) -> dict[str, int]:
        """Merge per-task files into one generation per suite (``compact.py``; ``rewrite``:
        write each generation anew even with no new task, for a store compacted by an older
        ckptscope)."""
        self._writable("compacting it")
        return compact(self.backend, suite, rewrite)

    def _writable(self, what: str) -> None:
        if self.read_only:
            raise StoreError(f"store {self.backend.location} is read-only ({what})")


def backend_for(root: str | os.PathLike[str]) -> Backend:
    """The backend of a store location: a URL through fsspec, anything else a folder."""
    if layout.is_url(root):
        from ckptscope.store.fsspec_backend import FsspecBackend  # pyarrow.dataset: slow

        return FsspecBackend(str(root))
    return LocalBackend(Path(root))


def open_schema(backend: Backend, create: bool) -> None:
    """Check the store's schema version (creating a new store when ``create``)."""
    try:
        schema = layout.marker_schema(backend.read_bytes(layout.MARKER))
    except FileNotFoundError:
        if backend.exists(layout.PARTS) and backend.glob(f"{layout.PARTS}/*"):
            schema = 1  # a 0.1 folder store: parts/ and no marker
        elif create:
            backend.prepare(create=True)
            backend.write_bytes(layout.MARKER, layout.marker())
            return
        elif backend.exists(layout.PARTS):
            schema = layout.SCHEMA_VERSION  # an empty store created without its marker
        else:
            what = "parts/ folder" if backend.reads_local_files else layout.MARKER
            raise FileNotFoundError(
                f"no ckptscope store at {backend.location} (no {what})"
            ) from None
    except ValueError as err:
        raise StoreSchemaError(
            f"store {backend.location}: unreadable {layout.MARKER}: {err}"
        ) from None
    if schema < layout.OLDEST_READ:
        raise StoreSchemaError(
            f"store {backend.location} has schema {schema} (ckptscope 0.1); this ckptscope "
            f"reads schema {layout.SCHEMA_VERSION}: run `ckptscope store migrate "
            f"{backend.location}` first"
        )
    if schema > layout.SCHEMA_VERSION:
        raise StoreSchemaError(
            f"store {backend.location} has schema {schema}, newer than the schema "
            f"{layout.SCHEMA_VERSION} this ckptscope reads: upgrade ckptscope"
        )
    backend.prepare(create)
