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
            backend.remove(rel)  # its process died without releasing it
            return None
        except PermissionError:
            pass  # alive, another user's
    return owner


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
