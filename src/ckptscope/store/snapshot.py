"""What a reader sees: the committed, undamaged folders of a store at one moment.

A suite's compacted generation (``compact.py``) holds the rows of the tasks in its
``tasks.parquet``; only the highest committed generation counts, and task folders whose
key it holds are leftovers of a compaction that had not removed them yet: they are not
read (``shadowed``), so no row is ever counted twice. A damaged folder or generation is
left out whole with one warning per file (``check.py``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from ckptscope.store import layout
from ckptscope.store.backend import Backend
from ckptscope.store.check import MANIFEST, warn_once
from ckptscope.store.layout import TaskKey

#: the tables whose rows come from task folders and compacted generations
TASK_TABLES = ("scalars", "arrays", "tasks")


@dataclass
class Snapshot:
    """The folders of a store a reader uses, found by :func:`scan`."""

    generations: dict[str, str] = field(default_factory=dict)  # suite -> current generation
    older: list[str] = field(default_factory=list)  # superseded generations (garbage)
    compacted: set[TaskKey] = field(default_factory=set)  # tasks held by the generations
    tasks: dict[TaskKey, str] = field(default_factory=dict)  # visible task folders
    shadowed: list[str] = field(default_factory=list)  # task folders a generation holds
    keyed: bool = True  # whether ``compacted`` was read (``scan(keys=False)`` may skip it)

    def done(self) -> set[TaskKey]:
        """Every task whose rows are visible."""
        if not self.keyed:
            raise ValueError("a snapshot scanned with keys=False does not know its done tasks")
        return self.compacted | set(self.tasks)


def whole(backend: Backend, rel: str, required: tuple[str, ...] = (layout.COMMIT,)) -> bool:
    """Whether a committed folder is undamaged; warns once per damaged file."""
    problems = backend.problems(rel, required)
    for path, reason in problems.items():
        warn_once(path, reason)
    return not problems


def generation_keys(backend: Backend, rel: str) -> set[TaskKey]:
    """The tasks a compacted generation holds."""
    cols = ["suite", "model", "step", "analysis"]
    table = backend.read_table(f"{rel}/{layout.COMMIT}").select(cols).to_pydict()
    return {TaskKey(*row) for row in zip(*(table[c] for c in cols), strict=True)}


def current_generation(backend: Backend, suite: str) -> str | None:
    """A suite's highest committed compacted generation, or None."""
    pattern = f"{layout.COMPACTED}/{layout.quote_name(suite)}/gen-*"
    gens = sorted(backend.committed(pattern), key=layout.generation_number)
    return gens[-1] if gens else None


def compacted_keys(backend: Backend, suite: str) -> set[TaskKey]:
    """The tasks a suite's current compacted generation holds (none when it is damaged)."""
    rel = current_generation(backend, suite)
    return generation_keys(backend, rel) if rel is not None and whole(backend, rel) else set()


def scan(backend: Backend, keys: bool = True) -> Snapshot:
    """The store's visible folders now.

    ``keys=False`` (readers): the generations' task keys are read only when task folders
    are there to shadow, and ``compacted`` is left empty otherwise (a store compacted
    whole opens without reading its ``tasks`` file).
    """
    snap = Snapshot()
    by_suite: dict[str, list[str]] = {}
    for rel in backend.committed(layout.GENERATION_GLOB):
        by_suite.setdefault(layout.suite_of(rel), []).append(rel)
    folders = backend.committed(layout.TASK_GLOB)
    snap.keyed = keys or bool(folders) or not by_suite
    for suite, gens in by_suite.items():
        gens.sort(key=layout.generation_number)
        snap.older += gens[:-1]
        if whole(backend, gens[-1]):
            snap.generations[suite] = gens[-1]
            if snap.keyed:
                snap.compacted |= generation_keys(backend, gens[-1])
    for rel in folders:
        key = layout.parse_task_dir(rel)
        if key in snap.compacted:
            snap.shadowed.append(rel)
        elif whole(backend, rel):
            snap.tasks[key] = rel
    return snap


def generation_files(backend: Backend, rel: str, table: str) -> list[str]:
    """The files of ``table`` in the generation ``rel``, in sorted order:
    ``<table>.parquet`` and one per kind (``layout.kind_file``), as its manifest lists them
    (its files on disk where it has none); no other file is read."""
    try:
        names = list(json.loads(backend.read_bytes(f"{rel}/{MANIFEST}"))["files"])
    except FileNotFoundError:  # no manifest (an object store): the files on disk
        names = [f.removeprefix(f"{rel}/") for f in backend.glob(f"{rel}/{layout.KIND_FILE_GLOB}")]
        names += [f"{table}.parquet"] if backend.exists(f"{rel}/{table}.parquet") else []
    except (ValueError, KeyError, TypeError):
        return []  # an unreadable manifest: the generation is damaged (``whole``)
    keep = [n for n in names if n == f"{table}.parquet" or layout.is_kind_file(n, table)]
    return sorted(f"{rel}/{n}" for n in keep)


def table_files(backend: Backend, snap: Snapshot, table: str) -> list[str]:
    """The files (relative paths) holding ``table``'s rows."""
    files: list[str] = []
    if table in TASK_TABLES:
        present = set(backend.glob(f"{layout.TASK_GLOB}/{table}.parquet"))
        for rel in snap.generations.values():
            files += generation_files(backend, rel, table)
        files += [
            f"{rel}/{table}.parquet"
            for rel in snap.tasks.values()
            if f"{rel}/{table}.parquet" in present
        ]
    if table in ("scalars", "events"):
        present = set(backend.glob(f"{layout.DERIVED_GLOB}/{table}.parquet"))
        for rel in backend.glob(layout.DERIVED_GLOB):
            if f"{rel}/{table}.parquet" in present and whole(backend, rel, ()):
                files.append(f"{rel}/{table}.parquet")
    if table == "failures":
        for rel in backend.glob(layout.FAILURE_GLOB):
            reason = backend.file_problem(rel)
            if reason is None:
                files.append(rel)
            else:
                warn_once(backend.display(rel), reason)
    return files
