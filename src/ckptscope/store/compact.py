"""Compaction: a suite's per-task folders merged into one generation of Parquet files.

A sweep writes a folder per (model, step, analysis) task: ~3 files each, ~74k for all of
Pythia. ``Store.compact`` (``ckptscope store compact STORE``) merges each suite's task
folders, and its previous generation if any, into ``compacted/<suite>/gen-<G+1>/``:
``scalars.parquet``, ``tasks.parquet``, and the arrays in one file per kind,
``arrays/kind=<kind>/data.parquet`` (``layout.kind_file``; a kind that cannot name a
folder as it is goes to a shared ``arrays.parquet``).

Rows are laid out for the queries figures make. A figure names a ``kind`` of arrays (or
``metric``s of scalars), pooled rows or per-block ones, and picks up to 60 steps per model.
So:

- DuckDB reads a kind's file by its path (hive layout): a query of some kinds opens no
  file of the others (``LocalBackend.source``);
- within a file the rows are clustered by (kind or metric, per-block, per-head), each
  cluster in (analysis, model, step) order, in row groups that never span two clusters,
  hold at most about 16 MiB (uncompressed), and end at the next step or model once they
  hold ``STEP_GROUP_BYTES``: the large kinds (correlation matrices, spectra, histograms
  per block) get a row group per step, and a query's ``IN`` list of steps skips the
  others' row groups by their statistics (``benchmarks/NOTES.md``).

Clustering needs every input row before the first cluster is written: the rows are
spilled to a temporary folder (the arrays', then, as those are written and removed, the
scalars'), cluster by cluster, in Arrow IPC files of a few MiB, with
at most ``SPILL_BUFFER_BYTES`` held in memory. The spill takes about the generation's
uncompressed size on disk (30.6 GB at its peak for a store of the whole Pythia suite's
shapes; set ``TMPDIR`` to put it elsewhere): compressed (zstd at its fastest level) it
made compaction 1.8x slower, measured at 3 Pythia shapes.

Crash safety, step by step:

1. the new generation is written and committed like a task folder (staged and renamed,
   or ``tasks.parquet`` last on an object store). Before the commit readers see the old
   files only;
2. from the commit on, readers use the highest committed generation, and task folders
   whose key its ``tasks`` holds are *shadowed*: not read (``snapshot.py``). The old
   generation and the merged folders are never counted beside it;
3. the old generation and the merged folders are removed. A crash before that leaves them
   as garbage that readers ignore and the next compaction removes.

The spill is a temporary folder named with the compacting process's pid
(``ckptscope-compact-<pid>-*`` in ``TMPDIR``): removed when the compaction ends or fails,
and, when a process is killed mid-way, by the next compaction on this machine.

So at any point a task's rows are visible exactly once. Compaction takes the store's
exclusive lock and refuses (one line) while a sweep holds its lock (``lock.py``).
``done()`` reads the generation's ``tasks``; a damaged generation is skipped whole with a
warning, its tasks are not done, and the next sweep recomputes them. A later sweep writes
task folders beside the generation again; the next compaction folds them in.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.ipc as ipc

from ckptscope.errors import first_line
from ckptscope.store import layout, schema
from ckptscope.store.backend import Backend, TableData
from ckptscope.store.errors import StoreError
from ckptscope.store.lock import exclusive_lock
from ckptscope.store.snapshot import TASK_TABLES, Snapshot, generation_files, scan
from ckptscope.store.tables import as_schema

#: the sort keys of each table's rows within a task
SORT_KEYS = {
    "scalars": ["component", "block", "param", "head", "metric"],
    "arrays": ["component", "block", "param", "head", "kind"],
    "tasks": ["analysis"],
}
#: the column a figure's query names, by table: its rows are clustered by it
CLUSTER_BY = {"scalars": "metric", "arrays": "kind"}
#: the rows held in memory while clustering, at most (the largest cluster's are spilled first)
SPILL_BUFFER_BYTES = 64 * 2**20
#: a cluster's rows are spilled in files of about this size
SPILL_FILE_BYTES = 8 * 2**20
#: a row group of arrays ends at the next step once it holds this much: the largest kinds
#: (correlation matrices, spectra) get a row group per step, so a figure that shows 60 of
#: 154 steps reads about 60 steps' rows
STEP_GROUP_BYTES = 64 * 2**10
#: the spill folder's name in the temporary folder: then the compacting process's pid
SPILL_PREFIX = "ckptscope-compact-"


def compact(backend: Backend, suite: str | None = None, rewrite: bool = False) -> dict[str, int]:
    """Compact one suite (None: every suite); returns task folders merged per suite.

    ``rewrite``: write a suite's generation anew even with no task folder to merge (a
    store compacted by an older ckptscope gets this layout)."""
    with exclusive_lock(backend, "store compaction"):
        raise_schema(backend)  # before any generation of files per kind is committed
        remove_dead_spills()
        snap = scan(backend)
        suites = {k.suite for k in snap.tasks} | set(snap.generations)
        suites |= {layout.suite_of(rel) for rel in snap.shadowed + snap.older}
        chosen = sorted(suites) if suite is None else [suite]
        return {s: compact_suite(backend, snap, s, rewrite) for s in chosen}


def raise_schema(backend: Backend) -> None:
    """Mark the store as of this ckptscope's schema (before a compaction commits files per
    kind: a ckptscope that reads an older schema then refuses the store in one line
    instead of missing its arrays)."""
    try:
        schema = layout.marker_schema(backend.read_bytes(layout.MARKER))
    except (FileNotFoundError, ValueError):  # none (created without it) or refused on open
        schema = 0
    if schema < layout.SCHEMA_VERSION:
        backend.write_bytes(layout.MARKER, layout.marker())


def compact_suite(backend: Backend, snap: Snapshot, suite: str, rewrite: bool = False) -> int:
    """Merge one suite's visible task folders into a new generation (``rewrite``: also
    when there are none); then clean up."""
    folders = sorted(rel for key, rel in snap.tasks.items() if key.suite == suite)
    current = snap.generations.get(suite)
    garbage = [rel for rel in snap.shadowed + snap.older if layout.suite_of(rel) == suite]
    if folders or (rewrite and current is not None):
        numbers = [layout.generation_number(r) for r in backend.committed(_gens(suite))]
        new = layout.generation_dir(suite, max(numbers, default=0) + 1)
        scalars = _clustered(backend, current, folders, "scalars")
        arrays = Spilled(backend, current, folders, "arrays")
        try:
            # the arrays first: their spill is read (and removed) before the scalars' fills
            tables: dict[str, TableData] = {**arrays.files(), "scalars": scalars}
            # the commit of an object-store generation: one whole object, not a stream
            tables["tasks"] = pa.concat_tables(
                [_sorted(t, ordered, "tasks")
                 for t, ordered in _stream(backend, current, folders, "tasks")]
            )  # fmt: skip
            commit_generation(backend, new, tables)
        finally:  # an unfinished stream's spill is removed now, not when collected
            scalars.close()
            arrays.close()
        garbage += folders + ([current] if current is not None else [])
    remove_merged(backend, garbage)
    return len(folders)


def commit_generation(backend: Backend, rel: str, tables: dict[str, TableData]) -> None:
    """Step 1: write and commit the new generation (from here on readers use it)."""
    backend.commit_folder(rel, tables)


def remove_merged(backend: Backend, garbage: list[str]) -> None:
    """Step 3: remove what the new generation holds (readers ignore it already)."""
    for rel in garbage:
        backend.remove(rel)
        backend.prune_empty(rel)


def _gens(suite: str) -> str:
    return f"{layout.COMPACTED}/{layout.quote_name(suite)}/gen-*"


def _stream(
    backend: Backend, current: str | None, folders: list[str], table: str
) -> Iterator[tuple[pa.Table, bool]]:
    """The rows of ``table``: the current generation's row groups, then each folder's; each
    with whether its rows are in order already (a folder's are sorted by ``SORT_KEYS``)."""
    name = f"{table}.parquet"
    for rel in generation_files(backend, current, table) if current is not None else []:
        pf = backend.parquet_file(rel)
        for i in range(pf.num_row_groups):
            yield pf.read_row_group(i), True
    present = set(backend.glob(f"{layout.TASK_GLOB}/{name}"))
    for rel in sorted(folders, key=_order):
        if f"{rel}/{name}" in present:
            yield backend.read_table(f"{rel}/{name}"), False


def _sorted(rows: pa.Table, ordered: bool, table: str) -> pa.Table:
    return rows if ordered else rows.sort_by([(k, "ascending") for k in SORT_KEYS[table]])


def _clustered(
    backend: Backend, current: str | None, folders: list[str], table: str
) -> Iterator[pa.Table | None]:
    """The rows of ``table`` cluster by cluster (:func:`split_clusters`), each cluster's rows
    in :func:`_stream`'s order and followed by None: the end of a row group. Spilled on the
    first ``next()``, not before."""
    spilled = Spilled(backend, current, folders, table)
    try:
        yield from spilled.stream(sorted(spilled.spill.files))
    finally:
        spilled.close()


class Spilled:
    """Every row of ``table`` set aside by cluster in a temporary folder (:class:`Spill`),
    read back as one stream (:func:`_clustered`) or as one file per ``kind``
    (:meth:`files`). ``close()`` removes the folder."""

    def __init__(self, backend: Backend, current: str | None, folders: list[str],
                 table: str) -> None:  # fmt: skip
        self.table = table
        self.tmp = tempfile.TemporaryDirectory(prefix=f"{SPILL_PREFIX}{os.getpid()}-")
        try:
            self.spill = Spill(Path(self.tmp.name))
            for chunk, ordered in _stream(backend, current, folders, table):
                keys = () if ordered else SORT_KEYS[table]
                for key, part in split_clusters(chunk, CLUSTER_BY[table], keys):
                    self.spill.add(key, as_schema(part, schema.SCHEMAS[table]))
            self.spill.flush_all()
        except BaseException:
            self.tmp.cleanup()
            raise

    def files(self) -> dict[str, Iterator[pa.Table | None]]:
        """A stream per file (:func:`layout.kind_file`, without ``.parquet``), kinds in
        sorted order, each cluster's row groups cut at steps (:func:`step_groups`); kinds
        that cannot name a folder share ``<table>.parquet``."""
        by_file: dict[str, list[tuple[str, bool, bool]]] = {}
        for key in sorted(self.spill.files):
            by_file.setdefault(layout.kind_file(self.table, key[0]), []).append(key)
        return {name: self.stream(keys, STEP_GROUP_BYTES) for name, keys in by_file.items()}

    def stream(self, keys: list[tuple[str, bool, bool]], step_bytes: int | None = None
               ) -> Iterator[pa.Table | None]:  # fmt: skip
        """The clusters ``keys``' rows, each followed by None (and cut at steps once a row
        group holds ``step_bytes``, when given)."""
        for key in keys:
            rows = self.spill.read(key)
            yield from rows if step_bytes is None else step_groups(rows, step_bytes)
            yield None

    def close(self) -> None:
        self.tmp.cleanup()


def step_groups(tables: Iterable[pa.Table], least: int) -> Iterator[pa.Table | None]:
    """``tables`` (rows in (model, step) order) with a None, the end of a row group, at
    the first change of model or step after every ``least`` bytes: a query that picks
    some steps skips the row groups of the others by their statistics."""
    size, last = 0, None
    for table in tables:
        if table.num_rows == 0:
            continue
        steps = table.column("step").combine_chunks()
        models = table.column("model").combine_chunks()
        change = pc.or_(pc.not_equal(steps[1:], steps[:-1]), pc.not_equal(models[1:], models[:-1]))
        cuts = [0, *(np.flatnonzero(change.to_numpy(zero_copy_only=False)) + 1).tolist()]
        for lo, hi in zip(cuts, [*cuts[1:], table.num_rows], strict=True):
            part = table.slice(lo, hi - lo)
            key = (models[lo].as_py(), steps[lo].as_py())
            if size >= least and key != last:  # a step that goes on from the last table: not cut
                yield None
                size = 0
            yield part
            size += part.nbytes
            last = key


def remove_dead_spills(folder: str | None = None) -> list[Path]:
    """Remove the spill folders of compactions whose process is gone (killed mid-way: a
    spill can be the size of a store); returns them. ``folder``: the temporary folder."""
    gone = []
    for path in Path(folder or tempfile.gettempdir()).glob(f"{SPILL_PREFIX}*-*"):
        pid = path.name.removeprefix(SPILL_PREFIX).split("-", 1)[0]
        if path.is_dir() and pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(path, ignore_errors=True)
            gone.append(path)
    return gone


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # another user's process: alive
        return True
    return True


def split_clusters(
    rows: pa.Table, column: str, sort_keys: Sequence[str] = ()
) -> Iterator[tuple[tuple[str, bool, bool], pa.Table]]:
    """``rows`` split by cluster: (the ``column`` value, "" for NULL; per-block; per-head).

    A part's rows are sorted by ``sort_keys`` (stable), else in their order in ``rows``;
    clusters come in no particular order. One copy of the rows in all (one per part), or
    none when they are all of one cluster and need no sort.
    """
    if rows.num_rows == 0:
        return
    names = pc.dictionary_encode(rows.column(column).fill_null("")).combine_chunks()
    code = names.indices.to_numpy(zero_copy_only=False).astype(np.int64) * 4
    code += rows.column("block").is_valid().to_numpy(zero_copy_only=False) * 2
    code += rows.column("head").is_valid().to_numpy(zero_copy_only=False)
    keys = [(k, "ascending") for k in sort_keys]
    order = pc.sort_indices(rows, sort_keys=keys).to_numpy() if keys else np.arange(len(code))
    order = order[np.argsort(code[order], kind="stable")]
    starts = np.flatnonzero(np.r_[True, code[order][1:] != code[order][:-1]])
    if len(starts) == 1 and not keys:
        yield _cluster(names, int(code[0])), rows
        return
    for start, end in zip(starts.tolist(), [*starts[1:].tolist(), len(code)], strict=True):
        yield _cluster(names, int(code[order[start]])), rows.take(order[start:end])


def _cluster(names: pa.DictionaryArray, code: int) -> tuple[str, bool, bool]:
    return names.dictionary[code // 4].as_py(), bool(code & 2), bool(code & 1)


class Spill:
    """Rows set aside by cluster in a temporary folder: a cluster's parts are held in memory
    until ``SPILL_FILE_BYTES``, or until all clusters' parts pass ``SPILL_BUFFER_BYTES``
    (then the largest goes first), and written as Arrow IPC files read back in order."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.held: dict[tuple[str, bool, bool], list[pa.Table]] = {}
        self.sizes: dict[tuple[str, bool, bool], int] = {}
        self.files: dict[tuple[str, bool, bool], list[Path]] = {}

    def add(self, key: tuple[str, bool, bool], part: pa.Table) -> None:
        self.held.setdefault(key, []).append(part)
        self.sizes[key] = self.sizes.get(key, 0) + part.get_total_buffer_size()
        self.files.setdefault(key, [])
        if self.sizes[key] >= SPILL_FILE_BYTES:
            self.flush(key)
        while sum(self.sizes.values()) > SPILL_BUFFER_BYTES:
            self.flush(max(self.sizes, key=self.sizes.__getitem__))

    def flush(self, key: tuple[str, bool, bool]) -> None:
        parts = self.held.pop(key, [])
        self.sizes.pop(key, None)
        if not parts:
            return
        path = self.folder / f"{sum(map(len, self.files.values())):08d}.arrow"
        try:
            with ipc.new_file(path, parts[0].schema) as writer:
                for part in parts:
                    writer.write_table(part)
        except OSError as err:  # the spill's disk, not the store's
            why = os.strerror(err.errno) if err.errno else first_line(err)
            raise StoreError(f"compaction spill {self.folder}: {why} (set TMPDIR to a "
                             "folder with room for the store's uncompressed size)") from None  # fmt: skip
        self.files[key].append(path)

    def flush_all(self) -> None:
        for key in list(self.held):
            self.flush(key)

    def read(self, key: tuple[str, bool, bool]) -> Iterator[pa.Table]:
        """A cluster's rows in the order they were added; each file removed once read."""
        for path in self.files[key]:
            with ipc.open_file(path) as reader:
                table = reader.read_all()
            path.unlink()
            yield table


def _order(rel: str) -> tuple[str, str, int]:
    """Task folders by analysis, then model and step: the order of a cluster's rows."""
    key = layout.parse_task_dir(rel)
    return key.analysis, key.model, key.step


__all__ = ["TASK_TABLES", "compact", "compact_suite"]
