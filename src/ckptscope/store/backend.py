"""What a store needs from where its files live: a few file operations on relative paths.

:class:`~ckptscope.store.store.Store` holds one backend and does everything else (layout,
schema, damage handling, compaction) through this interface, so the rules live once:

* :class:`~ckptscope.store.local.LocalBackend` - a folder; folders commit by ``os.rename``
  and carry a ``manifest.json`` (``check.py``);
* :class:`~ckptscope.store.fsspec_backend.FsspecBackend` - any fsspec URL (``s3://``,
  ``file://``, ``memory://``); no atomic rename, so a folder commits by its last object.

Backends are plain picklable values: a store travels to sweep workers as it is.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

#: what a folder's file is written from: a table, or a stream of tables (compaction; None in
#: the stream ends a row group: ``tables.write_parquet``)
TableData = pa.Table | Iterable[pa.Table | None]


class Backend(ABC):
    """File operations under a store root; every path is relative to it (``/``-separated)."""

    #: whether DuckDB reads the files by path (then confined to them by ``guard.py``)
    reads_local_files: bool = True

    @property
    @abstractmethod
    def location(self) -> str:
        """The root for messages: an absolute path or a URL."""

    @abstractmethod
    def exists(self, rel: str) -> bool:
        """Whether a file or folder exists."""

    @abstractmethod
    def glob(self, pattern: str) -> list[str]:
        """Relative paths matching ``pattern``, sorted."""

    @abstractmethod
    def committed(self, pattern: str) -> list[str]:
        """Committed folders matching ``pattern`` (a rename commits; or their ``tasks.parquet``)."""

    @abstractmethod
    def read_bytes(self, rel: str) -> bytes:
        """A whole file."""

    @abstractmethod
    def write_bytes(self, rel: str, data: bytes) -> None:
        """Write a whole file atomically (readers see the old one or the new one)."""

    @abstractmethod
    def create_exclusive(self, rel: str, data: bytes) -> bool:
        """Create a file unless it exists (False then); atomic where the filesystem allows."""

    @abstractmethod
    def remove(self, rel: str) -> None:
        """Remove a file or a folder tree; a missing one is fine."""

    @abstractmethod
    def move(self, rel: str, to: str) -> bool:
        """Rename a file (atomic on a local filesystem); False when ``rel`` is gone."""

    def prune_empty(self, rel: str) -> None:
        """Remove the now-empty folders above ``rel`` (object stores have none to remove).

        Only for callers that hold the store's exclusive lock (compaction): a sweep may be
        about to write into a folder that is empty for a moment.
        """

    @abstractmethod
    def read_table(self, rel: str) -> pa.Table:
        """One Parquet file."""

    @abstractmethod
    def put_table(self, rel: str, table: pa.Table, what: str | None = None) -> None:
        """Write one Parquet file atomically (``what``: the write, for error messages)."""

    @abstractmethod
    def parquet_file(self, rel: str) -> pq.ParquetFile:
        """One Parquet file opened for reading row group by row group."""

    @abstractmethod
    def commit_folder(
        self,
        rel: str,
        tables: Mapping[str, TableData],
        replace: bool = False,
        what: str | None = None,
    ) -> bool:
        """Write ``<name>.parquet`` per table (or stream of tables) as one committed folder.

        ``replace=False``: False (nothing written) when the folder is committed already.
        ``replace=True``: the folder's old contents are replaced whole.
        """

    @abstractmethod
    def problems(self, rel: str, required: tuple[str, ...] = ()) -> dict[str, str]:
        """Damaged or missing files of a committed folder (path -> why); empty when whole."""

    def file_problem(self, rel: str) -> str | None:
        """Why a single file (a failure record) is damaged, or None."""
        return None

    @abstractmethod
    def quarantine(self, rel: str) -> None:
        """Move a damaged folder out of the readers' way."""

    @abstractmethod
    def source(self, con: duckdb.DuckDBPyConnection, table: str, files: list[str]) -> str:
        """The SQL source reading ``files`` of ``table`` on ``con``."""

    def allowed_paths(self, files: list[str]) -> list[str]:
        """The paths a locked-down connection may read for ``files`` (none: not by path)."""
        return []

    def prepare(self, create: bool) -> None:
        """Make the root usable (``create``: its folders; removes old staging leftovers)."""

    def display(self, rel: str) -> str:
        """A file's full path or URL, for messages."""
        return f"{self.location.rstrip('/')}/{rel}"
