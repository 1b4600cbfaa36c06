"""Compaction: a suite's per-task folders merged into one generation of three Parquet files.

A sweep writes a folder per (model, step, analysis) task: ~3 files each, ~74k for all of
Pythia. ``Store.compact`` (``ckptscope store compact STORE``) merges each suite's task
folders, and its previous generation if any, into ``compacted/<suite>/gen-<G+1>/`` with
``scalars``, ``arrays`` and ``tasks`` Parquet files (row groups of ~64 MiB; the previous
generation's row groups first, as they are, then the new tasks' rows in (analysis, model,
step) order, so that a figure, which reads one analysis, skips the others' row groups; a
store compacted in pieces keeps one such run per compaction).

Crash safety, step by step:

1. the new generation is written and committed like a task folder (staged and renamed,
   or ``tasks.parquet`` last on an object store). Before the commit readers see the old
   files only;
2. from the commit on, readers use the highest committed generation, and task folders
   whose key its ``tasks`` holds are *shadowed*: not read (``snapshot.py``). The old
   generation and the merged folders are never counted beside it;
3. the old generation and the merged folders are removed. A crash before that leaves them
   as garbage that readers ignore and the next compaction removes.

So at any point a task's rows are visible exactly once. Compaction takes the store's
exclusive lock and refuses (one line) while a sweep holds its lock (``lock.py``).
``done()`` reads the generation's ``tasks``; a damaged generation is skipped whole with a
warning, its tasks are not done, and the next sweep recomputes them. A later sweep writes
task folders beside the generation again; the next compaction folds them in.
"""

from __future__ import annotations

from collections.abc import Iterator

import pyarrow as pa

from ckptscope.store import layout
from ckptscope.store.backend import Backend, TableData
from ckptscope.store.lock import exclusive_lock
from ckptscope.store.snapshot import TASK_TABLES, Snapshot, scan

#: the sort keys of each table's rows within a task
SORT_KEYS = {
    "scalars": ["component", "block", "param", "head", "metric"],
    "arrays": ["component", "block", "param", "head", "kind"],
    "tasks": ["analysis"],
}


def compact(backend: Backend, suite: str | None = None) -> dict[str, int]:
    """Compact one suite (None: every suite); returns task folders merged per suite."""
    with exclusive_lock(backend, "store compaction"):
        snap = scan(backend)
        suites = {k.suite for k in snap.tasks} | set(snap.generations)
        suites |= {layout.suite_of(rel) for rel in snap.shadowed + snap.older}
        chosen = sorted(suites) if suite is None else [suite]
        return {s: compact_suite(backend, snap, s) for s in chosen}


def compact_suite(backend: Backend, snap: Snapshot, suite: str) -> int:
    """Merge one suite's visible task folders into a new generation; then clean up."""
    folders = sorted(rel for key, rel in snap.tasks.items() if key.suite == suite)
    current = snap.generations.get(suite)
    garbage = [rel for rel in snap.shadowed + snap.older if layout.suite_of(rel) == suite]
    if folders:
        numbers = [layout.generation_number(r) for r in backend.committed(_gens(suite))]
        new = layout.generation_dir(suite, max(numbers, default=0) + 1)
        tables: dict[str, TableData] = {
            "scalars": _stream(backend, current, folders, "scalars"),
            "arrays": _stream(backend, current, folders, "arrays"),
            # the commit of an object-store generation: one whole object, not a stream
            "tasks": pa.concat_tables(list(_stream(backend, current, folders, "tasks"))),
        }
        commit_generation(backend, new, tables)
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
) -> Iterator[pa.Table]:
    """The rows of ``table``: the current generation's row groups, then each folder's."""
    name = f"{table}.parquet"
    if current is not None and backend.exists(f"{current}/{name}"):
        pf = backend.parquet_file(f"{current}/{name}")
        for i in range(pf.num_row_groups):
            yield pf.read_row_group(i)
    present = set(backend.glob(f"{layout.TASK_GLOB}/{name}"))
    for rel in sorted(folders, key=_order):
        if f"{rel}/{name}" in present:
            rows = backend.read_table(f"{rel}/{name}")
            yield rows.sort_by([(k, "ascending") for k in SORT_KEYS[table]])


def _order(rel: str) -> tuple[str, str, int]:
    """Rows clustered by analysis, then model and step: a figure reads one analysis's rows,
    so the row groups of the others are skipped by their statistics."""
    key = layout.parse_task_dir(rel)
    return key.analysis, key.model, key.step


__all__ = ["TASK_TABLES", "compact", "compact_suite"]
