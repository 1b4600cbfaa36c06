"""Where everything lives under a store's root: the one place that names paths and globs.

Paths are relative to the root, ``/``-separated, names percent-encoded::

    ckptscope-store.json                          the marker: {"schema": 3, "ckptscope": ...}
    parts/<suite>/<model>/step=<N>/<analysis>/    one task: {scalars,arrays,tasks}.parquet
    compacted/<suite>/gen-<G>/                    a suite's merged tasks (``compact.py``):
        scalars.parquet, tasks.parquet, arrays/kind=<kind>/data.parquet per kind
    derived/<derivation>/<suite>/                 {scalars,events}.parquet
    failures/<suite>/<model>/step=<N>/<analysis>.parquet
    locks/                                        sweep and compaction locks (``lock.py``)
    .tmp/                                         staging; never read
    quarantine/                                   damaged folders moved aside; never read

A task folder and a compacted generation are committed when their ``tasks.parquet`` exists
(written last, or renamed into place with the folder). Every folder holds a
``manifest.json`` of its files' sizes and hashes where the backend writes one (``check.py``).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, unquote

from ckptscope import __version__

MARKER = "ckptscope-store.json"
#: the store's schema: 2, the tables of ``schema.py``; 3, the same tables, and compacted
#: generations whose arrays are in a file per kind (``kind_file``), which a ckptscope that
#: reads schema 2 only would not see (and its compaction would drop)
SCHEMA_VERSION = 3
#: the oldest schema this ckptscope reads and writes as it is (schema 1: ``migrate.py``)
OLDEST_READ = 2
PARTS = "parts"
COMPACTED = "compacted"
DERIVED = "derived"
FAILURES = "failures"
LOCKS = "locks"
TMP = ".tmp"
QUARANTINE = "quarantine"
#: the folders a store has from its creation on
FOLDERS = (PARTS, DERIVED, FAILURES, TMP)
#: the file whose presence commits a task folder or a compacted generation
COMMIT = "tasks.parquet"

TASK_GLOB = f"{PARTS}/*/*/*/*"
GENERATION_GLOB = f"{COMPACTED}/*/gen-*"
DERIVED_GLOB = f"{DERIVED}/*/*"
FAILURE_GLOB = f"{FAILURES}/*/*/*/*.parquet"


#: a kind that can name a folder as it is: DuckDB reads it back from the path unchanged,
#: and no two such kinds share a folder on a case-insensitive disk (lower case only)
_PLAIN_KIND = re.compile(r"[a-z0-9_][a-z0-9_.-]{0,127}")
#: a generation's array files, one per kind, in hive layout: ``<table>/kind=<kind>/data``
KIND_FILE_GLOB = "*/kind=*/data.parquet"
_KIND_NAME = re.compile(r"([a-z]+)/kind=([^/]+)/data\.parquet")


def marker() -> bytes:
    """The marker file's contents for a store of this ckptscope's schema."""
    return json.dumps({"schema": SCHEMA_VERSION, "ckptscope": __version__}).encode()


def marker_schema(data: bytes) -> int:
    """The schema a marker file's contents name (1 where it names none: ckptscope 0.1's
    object-store marker); ValueError for anything but a JSON object with an integer."""
    body = json.loads(data)
    schema = body.get("schema", 1) if isinstance(body, dict) else None
    if isinstance(schema, bool) or not isinstance(schema, int):
        raise ValueError(f"not a JSON object with an integer schema: {data[:80]!r}")
    return schema


def kind_file(table: str, kind: str) -> str:
    """The file (without ``.parquet``) of one kind's rows in a compacted generation:
    ``arrays/kind=<kind>/data``, which DuckDB skips unopened for a query of other kinds;
    ``arrays`` (shared) for a kind that cannot name a folder as it is."""
    return f"{table}/kind={kind}/data" if _PLAIN_KIND.fullmatch(kind) else table


def is_kind_file(name: str, table: str) -> bool:
    """Whether ``name`` (relative to its generation) is the file :func:`kind_file` names
    for one plain kind of ``table``: a hand-made folder of another name is never read."""
    m = _KIND_NAME.fullmatch(name)
    return m is not None and m.group(1) == table and bool(_PLAIN_KIND.fullmatch(m.group(2)))


def quote_name(name: str) -> str:
    """A suite, model or analysis name as one path segment (percent-encoded).

    Names of dots only (``.``, ``..``) have their dots encoded too, so no name can point at
    a folder above or at its own; an empty name is refused.
    """
    if not name:
        raise ValueError("an empty name cannot name a store folder")
    if set(name) == {"."}:
        return "%2E" * len(name)
    return quote(name, safe="")


@dataclass(frozen=True, order=True)
class TaskKey:
    """One (suite, model, step, analysis): the unit the store writes atomically."""

    suite: str
    model: str
    step: int
    analysis: str

    def relpath(self) -> Path:
        """The task's folder under ``parts/`` (a relative Path)."""
        return (
            Path(quote_name(self.suite))
            / quote_name(self.model)
            / f"step={self.step}"
            / quote_name(self.analysis)
        )

    def __str__(self) -> str:
        return f"{self.suite}/{self.model}@step{self.step}:{self.analysis}"


def task_dir(key: TaskKey) -> str:
    """A task's folder."""
    return f"{PARTS}/{key.relpath().as_posix()}"


def parse_task_dir(rel: str) -> TaskKey:
    """The key of a task folder (the inverse of :func:`task_dir`)."""
    suite, model, step, analysis = rel.rstrip("/").split("/")[-4:]
    return TaskKey(
        unquote(suite), unquote(model), int(step.removeprefix("step=")), unquote(analysis)
    )


def suite_of(rel: str) -> str:
    """The suite of a task folder or a compacted generation."""
    return unquote(rel.split("/")[1])


def failure_path(key: TaskKey) -> str:
    """Where a task's failure is recorded."""
    rel = key.relpath()
    return f"{FAILURES}/{rel.parent.as_posix()}/{rel.name}.parquet"


def derived_dir(name: str, suite: str) -> str:
    """A derivation's output folder for one suite."""
    return f"{DERIVED}/{quote_name(name)}/{quote_name(suite)}"


def generation_dir(suite: str, generation: int) -> str:
    """A suite's compacted generation ``generation`` (readers use the highest committed)."""
    return f"{COMPACTED}/{quote_name(suite)}/gen-{generation:06d}"


def generation_number(rel: str) -> int:
    """The number of a compacted generation folder."""
    return int(rel.rstrip("/").rsplit("gen-", 1)[1])


def tmp_path(name: str) -> str:
    """A staging path (never read)."""
    return f"{TMP}/{name}"


def lock_path(name: str) -> str:
    """A lock file."""
    return f"{LOCKS}/{name}.json"


def is_url(root: object) -> bool:
    """Whether ``root`` names a store through fsspec (``scheme://...``) rather than a path."""
    return isinstance(root, str) and "://" in root


def store_location(arg: str | Path) -> str | Path:
    """A command-line store argument: a URL kept as text, anything else a Path."""
    return arg if is_url(arg) else Path(arg)
