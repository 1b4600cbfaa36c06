"""Sweeps and compaction exclude each other: lock files under ``locks/``.

A sweep holds a *shared* lock (``locks/sweep-<id>.json``) while it writes: sweeps of the
same store run side by side. Compaction and migration take the *exclusive* lock
(``locks/exclusive.json``, created only if absent) and refuse, with one line, when a sweep
holds its lock; a sweep refuses while the exclusive lock is held. Each side writes its
own file first and then looks for the other's, so of two racing processes at least one
refuses, never neither.

A lock file names its host and process; one left by a dead process of this host is
stale and removed. A lock of a process on another host that died stays until removed by
hand (the refusal names the file).
"""

from __future__ import annotations

import json
import os
import socket
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from ckptscope.store import layout
from ckptscope.store.backend import Backend
from ckptscope.store.errors import StoreBusy

EXCLUSIVE = "exclusive"


def _owner(what: str) -> bytes:
    owner = {"host": socket.gethostname(), "pid": os.getpid(), "what": what, "time": time.time()}
    return json.dumps(owner).encode()


def _live(backend: Backend, rel: str) -> dict[str, object] | None:
    """The owner of a lock file, or None when it is gone or stale (then removed)."""
    try:
        owner = json.loads(backend.read_bytes(rel))
    except (OSError, ValueError):
        return None if not backend.exists(rel) else {"what": "unknown", "host": "?"}
    if owner.get("host") == socket.gethostname() and isinstance(owner.get("pid"), int):
        try:
            os.kill(owner["pid"], 0)
        except ProcessLookupError:
            return _drop_stale(backend, rel, owner)  # its process died without releasing it
        except PermissionError:
            pass  # alive, another user's
    return owner


def _drop_stale(backend: Backend, rel: str, stale: dict[str, object]) -> dict[str, object] | None:
    """Remove the dead owner's lock file, and only that file.

    The file is moved aside first and read again: when another process replaced it with a
    live lock meanwhile, that lock is put back and its owner returned, so two processes that
    both found the same stale lock never both go on.
    """
    aside = f"{rel}.stale-{uuid.uuid4().hex}"
    if not backend.move(rel, aside):
        return None  # someone else removed it first
    try:
        moved = json.loads(backend.read_bytes(aside))
    except (OSError, ValueError):
        moved = None
    if moved == stale:
        backend.remove(aside)
        return None
    if not backend.exists(rel):
        backend.move(aside, rel)  # a live lock taken meanwhile: restore it
    else:
        backend.remove(aside)
    return moved if isinstance(moved, dict) else {"what": "unknown", "host": "?"}


def _busy(backend: Backend, rel: str, owner: dict[str, object], doing: str) -> StoreBusy:
    return StoreBusy(
        f"store {backend.location} is locked by a {owner.get('what')} "
        f"(host {owner.get('host')}, pid {owner.get('pid')}): cannot {doing} now; "
        f"retry when it ends, or remove {backend.display(rel)} if that process is gone"
    )


@contextmanager
def shared_lock(backend: Backend, what: str = "sweep") -> Iterator[None]:
    """Hold a sweep's lock; raises :class:`StoreBusy` while a compaction or migration runs."""
    mine = layout.lock_path(f"sweep-{uuid.uuid4().hex}")
    backend.write_bytes(mine, _owner(what))
    try:
        excl = layout.lock_path(EXCLUSIVE)
        owner = _live(backend, excl)
        if owner is not None:
            raise _busy(backend, excl, owner, f"run a {what}")
        yield
    finally:
        backend.remove(mine)


@contextmanager
def exclusive_lock(backend: Backend, what: str) -> Iterator[None]:
    """Hold the store alone; raises :class:`StoreBusy` while any sweep or other holds it."""
    excl = layout.lock_path(EXCLUSIVE)
    if not backend.create_exclusive(excl, _owner(what)):
        owner = _live(backend, excl)
        if owner is not None or not backend.create_exclusive(excl, _owner(what)):
            raise _busy(backend, excl, owner or {}, f"run {what}")
    try:
        for rel in backend.glob(layout.lock_path("sweep-*")):
            owner = _live(backend, rel)
            if owner is not None:
                raise _busy(backend, rel, owner, f"run {what}")
        yield
    finally:
        backend.remove(excl)
