"""Damage detection, verification and repair of a local store's files.

Every committed folder (a task's ``parts/.../<analysis>/``, a compacted generation's
``compacted/<suite>/gen-<G>/``, a derivation's ``derived/<name>/<suite>/``) holds ``manifest.json``: the size and sha256 of each Parquet
file, written before the folder is renamed into place. Reading checks each file cheaply:
its size against the manifest and the Parquet magic bytes and footer length at both ends.
Folders of stores written before manifests existed get the footer check only.
``ckptscope store check`` (:func:`check_store`) also hashes every file, and with
``repair=True`` moves damaged folders to ``quarantine/`` so the next sweep recomputes them.

Staging folders under ``.tmp`` older than :data:`TMP_MAX_AGE_S` belong to no running
sweep (a task is staged and renamed within seconds) and are removed when a store is opened
for writing; ``repair`` removes every staging leftover, so run it while no sweep writes.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow.parquet as pq

log = logging.getLogger(__name__)

MANIFEST = "manifest.json"
#: staging folders older than this (seconds) are leftovers of a dead sweep
TMP_MAX_AGE_S = 3600.0
_MAGIC = b"PAR1"
_warned: set[str] = set()


def sha256(path: Path) -> str:
    """The hex sha256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def write_manifest(folder: Path) -> None:
    """Record the size and sha256 of every Parquet file in ``folder`` and its subfolders
    (a generation's files per kind), before its commit."""
    files = {
        p.relative_to(folder).as_posix(): {"size": p.stat().st_size, "sha256": sha256(p)}
        for p in sorted(folder.rglob("*.parquet"))
    }
    (folder / MANIFEST).write_text(json.dumps({"files": files}, sort_keys=True))


def footer_problem(path: Path) -> str | None:
    """Why ``path`` is not a whole Parquet file (magic bytes, footer length), or None."""
    try:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            if size < 12:
                return f"truncated Parquet file ({size} bytes)"
            head = f.read(4)
            f.seek(size - 8)
            tail = f.read(8)
    except OSError as err:
        return f"unreadable: {os.strerror(err.errno) if err.errno else err}"
    if head != _MAGIC or tail[4:] != _MAGIC:
        return "no Parquet magic bytes (truncated or overwritten)"
    if int.from_bytes(tail[:4], "little") > size - 12:
        return "Parquet footer longer than the file (truncated)"
    return None


def folder_problems(
    folder: Path, required: tuple[str, ...] = (), deep: bool = False
) -> dict[Path, str]:
    """Damaged files of one committed folder, each with why; empty when it is whole.

    ``required`` names files the folder must hold (``tasks.parquet`` for a task); ``deep``
    also compares each file's sha256 with its manifest, or reads it whole when there is none.
    """
    problems: dict[Path, str] = {}
    expected: dict[str, dict[str, object]] | None = None
    manifest = folder / MANIFEST
    if manifest.exists():
        try:
            expected = json.loads(manifest.read_text())["files"]
            if not isinstance(expected, dict):
                raise TypeError("files is not an object")
        except (OSError, ValueError, KeyError, TypeError) as err:
            problems[manifest] = f"unreadable manifest: {err}"
            expected = None
    names = (
        set(expected)
        if expected is not None
        else {p.relative_to(folder).as_posix() for p in folder.rglob("*.parquet")}
    )
    for name in sorted(names | set(required)):
        if ".." in Path(name).parts or Path(name).is_absolute():
            problems[manifest] = f"manifest names a file outside its folder: {name!r}"
            continue
        path = folder / name
        if not path.exists():
            problems[path] = "missing"
            continue
        want = (expected or {}).get(name)
        size = path.stat().st_size
        if isinstance(want, dict) and size != want.get("size"):
            problems[path] = f"{size} bytes where {want.get('size')} were written (truncated?)"
            continue
        reason = footer_problem(path)
        if reason is None and deep:
            reason = _deep_problem(path, want)
        if reason is not None:
            problems[path] = reason
    return problems


def _deep_problem(path: Path, want: object) -> str | None:
    if isinstance(want, dict) and "sha256" in want:
        return None if sha256(path) == want["sha256"] else "sha256 differs from the one at commit"
    try:
        pq.ParquetFile(path).read()
    except Exception as err:  # any decoding error means the file is damaged
        return f"unreadable Parquet: {str(err).splitlines()[0] if str(err) else type(err)}"
    return None


def warn_once(path: Path, reason: str) -> None:
    """Log one warning line per damaged file per process."""
    if str(path) in _warned:
        return
    _warned.add(str(path))
    log.warning(
        "skipping damaged store file %s: %s (`ckptscope store check --repair` quarantines it)",
        path,
        reason,
    )


def quarantine(root: Path, path: Path) -> Path | None:
    """Move ``path`` under ``root/quarantine`` (same relative path, a unique suffix).

    None when it is gone already (a concurrent repair or sweep moved it first).
    """
    rel = path.relative_to(root)
    dest = root / "quarantine" / rel.parent / f"{rel.name}.{time.strftime('%Y%m%dT%H%M%S')}"
    dest = dest.with_name(f"{dest.name}-{uuid.uuid4().hex[:8]}")
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.rename(path, dest)
    except FileNotFoundError:
        return None
    return dest


def clean_tmp(root: Path, max_age_s: float | None = TMP_MAX_AGE_S) -> list[Path]:
    """Remove staging leftovers under ``root/.tmp`` older than ``max_age_s`` (None: all)."""
    removed: list[Path] = []
    now = time.time()
    try:
        entries = list(os.scandir(root / ".tmp"))
    except OSError:
        return removed
    for entry in entries:
        try:
            age = now - entry.stat(follow_symlinks=False).st_mtime
            if max_age_s is not None and age < max_age_s:
                continue
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(entry.path)
            else:
                os.unlink(entry.path)
        except OSError:
            continue  # read-only, or another process removed it first
        removed.append(Path(entry.path))
    return removed


@dataclass
class CheckReport:
    """What :func:`check_store` found and did."""

    damaged: dict[Path, str] = field(default_factory=dict)  # file -> why
    quarantined: list[Path] = field(default_factory=list)  # where damaged folders went
    tmp_removed: list[Path] = field(default_factory=list)
    checked: int = 0  # folders and failure files verified


def check_store(root: Path, repair: bool = False) -> CheckReport:
    """Verify every file of the store at ``root`` (hashing each); optionally repair."""
    report = CheckReport()
    units: list[tuple[Path, dict[Path, str]]] = []
    for folder in sorted((root / "parts").glob("*/*/*/*")):
        if folder.is_dir():
            units.append((folder, folder_problems(folder, ("tasks.parquet",), deep=True)))
    for folder in sorted((root / "compacted").glob("*/gen-*")):
        if folder.is_dir():
            units.append((folder, folder_problems(folder, ("tasks.parquet",), deep=True)))
    for folder in sorted((root / "derived").glob("*/*")):
        if folder.is_dir():
            units.append((folder, folder_problems(folder, deep=True)))
    for path in sorted((root / "failures").glob("*/*/*/*.parquet")):
        reason = footer_problem(path) or _deep_problem(path, None)
        units.append((path, {path: reason} if reason else {}))
    report.checked = len(units)
    for unit, problems in units:
        report.damaged.update(problems)
        if repair and problems:
            dest = quarantine(root, unit)
            if dest is not None:
                report.quarantined.append(dest)
    if repair:
        report.tmp_removed = clean_tmp(root, max_age_s=None)
    return report
