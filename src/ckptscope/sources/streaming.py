"""Bounded disk streaming: fetch checkpoint i+1 while i is analysed, under a byte budget.

A :class:`Streamer` owns one background thread. ``Suite.open`` waits for a checkpoint
(``acquire``) and its ``close`` hands it back (``done_with``); ``prefetch`` queues the next
one to download meanwhile, ``release`` deletes one at once. Each fetch reserves the
checkpoint's size before downloading and first evicts idle checkpoints (lowest step first,
never a model's initial step, never one still open), so the bytes on disk never exceed
``max_disk``. The budget must hold three checkpoints (initial, previous, current);
a fourth lets the next one download while the current one is analysed.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from ckptscope.errors import CheckpointError, UsageError

log = logging.getLogger(__name__)

_UNITS = {"": 1, "B": 1, "K": 10**3, "M": 10**6, "G": 10**9, "T": 10**12,
          "KI": 2**10, "MI": 2**20, "GI": 2**30, "TI": 2**40}  # fmt: skip


def parse_bytes(value: int | str) -> int:
    """Bytes from an int or a string such as ``"20GB"``, ``"1.5 GiB"``, ``"500M"``."""
    if isinstance(value, int):
        return value
    m = re.fullmatch(r"\s*([\d.]+)\s*([KMGT]?I?)B?\s*", value.upper())
    if m is None or m.group(2) not in _UNITS:
        raise UsageError(f"bad byte size {value!r} (e.g. 20GB, 1.5GiB, 500MB)")
    return int(float(m.group(1)) * _UNITS[m.group(2)])


class Fetcher(Protocol):
    """Downloads checkpoints for a :class:`Streamer`."""

    def size(self, model: str, step: int) -> int:
        """Bytes the checkpoint's files take on disk once fetched."""
        ...

    def fetch(self, model: str, step: int) -> list[Path]:
        """Download the checkpoint; return the files this call created (safe to delete)."""
        ...


@dataclass(eq=False)
class _Job:
    key: tuple[str, int]
    size: int
    awaited: bool = False
    released: bool = False
    users: list[int] = field(default_factory=list)  # thread ids holding it open
    used: bool = False  # opened at least once (a prefetched, unused one is never evicted)
    last_used: int = 0
    files: list[Path] = field(default_factory=list)
    error: BaseException | None = None
    done: threading.Event = field(default_factory=threading.Event)


class Streamer:
    """Fetches in the background and never holds more than ``max_disk`` bytes.

    Room is made by evicting checkpoints that are resident, not open, opened at least once
    and not the model's initial (lowest) step, lowest step first; a background prefetch
    also keeps each model's latest opened step (the next task's "previous"). ``release``
    evicts one at once.
    """

    def __init__(self, fetcher: Fetcher, max_disk: int) -> None:
        self.fetcher = fetcher
        self.max_disk = max_disk
        self._cond = threading.Condition()
        self._pending: list[_Job] = []
        self._inflight: _Job | None = None
        self._resident: dict[tuple[str, int], _Job] = {}
        self._initial: dict[str, int] = {}  # model -> lowest step seen: kept
        self._clock = 0
        self._closed = False
        self._thread: threading.Thread | None = None

    # -- public -------------------------------------------------------------------------
    def prefetch(self, model: str, step: int) -> None:
        """Queue a checkpoint to be fetched in the background when the budget allows."""
        with self._cond:
            self._job(model, step)

    def acquire(self, model: str, step: int) -> None:
        """Block until the checkpoint is on disk and hold it open until ``done_with``."""
        with self._cond:
            job = self._job(model, step)
            job.awaited = True
            job.users.append(threading.get_ident())
            self._cond.notify_all()
        job.done.wait()
        if job.error is not None:
            with self._cond:
                job.users.remove(threading.get_ident())
                if self._resident.get(job.key) is job:
                    del self._resident[job.key]
            raise job.error

    def done_with(self, model: str, step: int) -> None:
        """The caller closed a checkpoint it acquired; it may now be evicted."""
        with self._cond:
            job = self._resident.get((model, step))
            if job is None or threading.get_ident() not in job.users:
                return
            job.users.remove(threading.get_ident())
            job.used = True
            self._clock += 1
            job.last_used = self._clock
            if job.released and not job.users:
                del self._resident[job.key]
                self._evict(job)
            self._cond.notify_all()

    def release(self, model: str, step: int) -> None:
        """The checkpoint is no longer needed: delete its files now (or once closed)."""
        key = (model, step)
        with self._cond:
            for job in list(self._pending):
                if job.key == key:
                    self._pending.remove(job)
                    job.error = CheckpointError(f"{model} step {step} was released before use")
                    job.done.set()
            if self._inflight is not None and self._inflight.key == key:
                self._inflight.released = True
                return
            job = self._resident.get(key)
            if job is not None:
                job.released = True
                if not job.users:
                    del self._resident[key]
                    self._evict(job)
            self._cond.notify_all()

    def resident(self) -> list[tuple[str, int]]:
        """Checkpoints on disk."""
        with self._cond:
            return sorted(self._resident)

    def reserved_bytes(self) -> int:
        """Bytes held by resident checkpoints plus the one being fetched."""
        with self._cond:
            return self._used()

    def close(self) -> None:
        """Stop the background thread (files stay on disk)."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join()

    # -- internals ----------------------------------------------------------------------
    def _job(self, model: str, step: int) -> _Job:
        key = (model, step)
        self._initial[model] = min(step, self._initial.get(model, step))
        if key in self._resident:
            return self._resident[key]
        if self._inflight is not None and self._inflight.key == key:
            return self._inflight
        for job in self._pending:
            if job.key == key:
                return job
        size = self.fetcher.size(model, step)
        if 3 * size > self.max_disk:
            raise UsageError(
                f"max_disk {self.max_disk} bytes cannot hold 3 checkpoints of {model} "
                f"({size} bytes each at step {step}); raise it to at least {3 * size}"
            )
        job = _Job(key, size)
        self._pending.append(job)
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._run, name="ckptscope-prefetch", daemon=True
            )
            self._thread.start()
        self._cond.notify_all()
        return job

    def _used(self) -> int:
        used = sum(j.size for j in self._resident.values())
        return used + (self._inflight.size if self._inflight is not None else 0)

    def _make_room(self, job: _Job) -> bool:
        """Evict idle checkpoints, lowest step first, until ``job`` fits.

        Never evicted: open ones, ones not opened yet (prefetched), each model's initial
        step; and, for a prefetch, each model's latest opened step (the next "previous").
        """
        latest: dict[str, int] = {}
        for j in self._resident.values():
            if j.used:
                latest[j.key[0]] = max(j.key[1], latest.get(j.key[0], j.key[1]))
        idle = sorted(
            (j for j in self._resident.values()
             if j.used and not j.users and self._initial.get(j.key[0]) != j.key[1]
             and (job.awaited or latest.get(j.key[0]) != j.key[1])),
            key=lambda j: (j.key[1], j.last_used),
        )  # fmt: skip
        while self._used() + job.size > self.max_disk and idle:
            victim = idle.pop(0)
            del self._resident[victim.key]
            self._evict(victim)
        return self._used() + job.size <= self.max_disk

    def _next(self) -> _Job | None:
        """Under the lock: the next job that fits, failing awaited jobs that never can."""
        while not self._closed:
            job = next((j for j in self._pending if j.awaited), None) or (
                self._pending[0] if self._pending else None
            )
            if job is None:
                self._cond.wait()
                continue
            if self._make_room(job):
                self._pending.remove(job)
                self._inflight = job
                return job
            waiters = set(job.users)
            others_hold = any(set(j.users) - waiters for j in self._resident.values())
            if job.awaited and not others_hold:
                # The caller waits and holds what fills the budget: it can never fit.
                self._pending.remove(job)
                held = ", ".join(f"{m}@{s}" for m, s in sorted(self._resident))
                job.error = CheckpointError(
                    f"disk budget {self.max_disk} bytes is full ({held}); close or release() "
                    f"checkpoints before opening {job.key[0]} step {job.key[1]}"
                )
                job.done.set()
                continue
            self._cond.wait()
        return None

    def _run(self) -> None:
        while True:
            with self._cond:
                job = self._next()
                if job is None:
                    return
            try:
                job.files = self.fetcher.fetch(*job.key)
            except BaseException as err:  # handed to the thread that waits for this job
                job.error = err
            with self._cond:
                self._inflight = None
                if job.error is None and not job.released:
                    self._resident[job.key] = job
                else:
                    self._evict(job)
                job.done.set()
                self._cond.notify_all()

    def _evict(self, job: _Job) -> None:
        keep = {p.resolve() for j in self._resident.values() for p in j.files}
        for path in job.files:
            target = path.resolve()
            if target in keep:
                continue
            for p in {path, target}:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(p)
        log.info("evicted %s step %s (%d files)", job.key[0], job.key[1], len(job.files))
