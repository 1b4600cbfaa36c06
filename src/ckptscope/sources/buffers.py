"""Memory for tensor reads, used again once nothing refers to it.

A weight sweep reads every tensor of every checkpoint into memory of its own
(:meth:`ckptscope.sources.formats.SafetensorsFile.read_host`). Fresh memory costs a page
fault per page, with the kernel zeroing each page, before the file's bytes are copied in:
on a 2-core VM, reading six 325 MB checkpoints from the page cache took 1.5x as long
into fresh memory as into memory used before (benchmarks/NOTES.md). A sweep reads the same
tensor of checkpoint after checkpoint (and a model swap the same shapes block after
block), so the buffer of a tensor it has let go of fits a later read.

Reuse happens only inside :meth:`ReadBuffers.scope` (the sweep's runner opens one per
series of checkpoints, :func:`ckptscope.engine.runner.run_series`); when the last scope
closes, the pool forgets every buffer (free ones go, those in use stay their users').
Outside a scope a read gets fresh memory and the pool keeps nothing, so a notebook that
reads a model and drops it holds nothing here.

A buffer is handed out again only when nothing refers to it any more: every NumPy view
of it (a dtype view, a slice, a torch tensor sharing its memory) holds a reference to
it, so its reference count says whether one is alive. The count is compared with that of
a sentinel buffer nothing else refers to, counted in the same expression, so the test
does not depend on how the interpreter passes references. Free buffers are let go, least
recently used first, whenever keeping them would make the pool hold more bytes than the
reads in use held at once: the pool's own bytes never exceed the reads' peak.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np


class ReadBuffers:
    """Byte buffers for reads: inside a scope, one of ``n`` bytes is a free buffer of ``n``
    bytes (a sweep reads each tensor's bytes again at every checkpoint), else new memory."""

    def __init__(self) -> None:
        self._buffers: list[np.ndarray] = []  # least recently handed out first
        self._sentinel = np.empty(0, dtype=np.uint8)  # referred to by this attribute only
        self._peak = 0  # the most bytes the buffers in use held at once (this scope)
        self._scopes = 0
        self._lock = threading.Lock()
        # a free-threaded Python may count references lazily: no reuse there
        self._reuse = getattr(sys, "_is_gil_enabled", lambda: True)()

    def _after_fork(self) -> None:
        """In a forked child: a fresh lock (another thread may have held this one)."""
        self._lock = threading.Lock()

    def _free(self) -> list[int]:
        """Indices of the buffers nothing but the pool refers to.

        Each buffer's count is taken in the same comprehension as the sentinel's, which
        only the pool refers to: a buffer is free when its count is no higher."""
        counts = [sys.getrefcount(b) for b in (self._sentinel, *self._buffers)]
        return [i for i, n in enumerate(counts[1:]) if n <= counts[0]]

    @contextmanager
    def scope(self) -> Iterator[None]:
        """Reads inside reuse memory; when the last scope closes, the pool forgets it all."""
        with self._lock:
            self._scopes += 1
        try:
            yield
        finally:
            with self._lock:
                self._scopes -= 1
                if self._scopes == 0:  # forget every buffer: those in use stay their users'
                    self._buffers = []
                    self._peak = 0

    def take(self, nbytes: int) -> np.ndarray:
        """``nbytes`` of writable ``uint8`` memory, not shared with any live array."""
        if nbytes < 0:
            raise ValueError(f"a read of {nbytes} bytes")
        with self._lock:
            if not (self._reuse and self._scopes):
                return np.empty(nbytes, dtype=np.uint8)
            free = self._free()
            fits = [i for i in free if self._buffers[i].size == nbytes]
            if fits:
                buf = self._buffers.pop(fits[0])
                self._buffers.append(buf)
                return buf
            held = sum(b.size for b in self._buffers)
            in_use = held - sum(self._buffers[i].size for i in free)
            self._peak = max(self._peak, in_use + nbytes)
            dropped = set()
            for i in free:  # least recently used first, until the new one fits the peak
                if held + nbytes <= self._peak:
                    break
                dropped.add(i)
                held -= self._buffers[i].size
            self._buffers = [b for i, b in enumerate(self._buffers) if i not in dropped]
            buf = np.empty(nbytes, dtype=np.uint8)
            self._buffers.append(buf)
            return buf

    def held_bytes(self) -> int:
        """Bytes of every buffer the pool keeps, in use or free."""
        with self._lock:
            return sum(b.size for b in self._buffers)


#: the process's buffers for tensor reads
READS = ReadBuffers()
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=READS._after_fork)
