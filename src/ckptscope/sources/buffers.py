"""Memory for tensor reads, used again once nothing refers to it.

A weight sweep reads every tensor of every checkpoint into memory of its own
(:meth:`ckptscope.sources.formats.SafetensorsFile.read_host`). Fresh memory costs a page
fault per page, with the kernel zeroing each page, before the file's bytes are copied in:
on a 2-core VM, reading six 325 MB checkpoints from the page cache took 1.5x as long
into fresh memory as into memory used before (benchmarks/NOTES.md). A sweep reads the same
tensor of checkpoint after checkpoint (and a model swap the same shapes block after
block), so the buffer of a tensor it has let go of fits a later read.

A buffer is handed out again only when nothing refers to it any more: every NumPy view
of it (a dtype view, a slice, a torch tensor sharing its memory) holds a reference to
it, so its reference count says whether one is alive. Free buffers are let go, least
recently used first, whenever keeping them would make the pool hold more bytes than the
reads in use ever held at once: the pool never raises the memory the reads peak at. The
sweep's runner lets every free buffer go when a series of checkpoints is done
(:func:`ckptscope.engine.runner.run_series`).
"""

from __future__ import annotations

import sys
import threading

import numpy as np


class ReadBuffers:
    """Byte buffers for reads: one of ``n`` bytes is a free buffer of ``n`` bytes (a
    sweep reads each tensor's bytes again at every checkpoint), else new memory."""

    def __init__(self) -> None:
        self._buffers: list[np.ndarray] = []  # least recently handed out first
        self._peak = 0  # the most bytes the buffers in use held at once (since release)
        self._lock = threading.Lock()
        # a free-threaded Python may count references lazily: no reuse there
        self._reuse = getattr(sys, "_is_gil_enabled", lambda: True)()
        self._buffers.append(np.empty(1, dtype=np.uint8))
        # the count of a buffer only this pool refers to, taken as _free takes it
        self._free_refs = sys.getrefcount(self._buffers[0])
        self._buffers.clear()

    def _free(self) -> list[int]:
        """Indices of the buffers nothing but the pool refers to (no other reference to
        a buffer may be held while they are counted)."""
        return [
            i
            for i in range(len(self._buffers))
            if sys.getrefcount(self._buffers[i]) <= self._free_refs
        ]

    def take(self, nbytes: int) -> np.ndarray:
        """``nbytes`` of writable ``uint8`` memory, not shared with any live array."""
        if nbytes < 0:
            raise ValueError(f"a read of {nbytes} bytes")
        with self._lock:
            if not self._reuse:
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

    def release(self) -> None:
        """Let every free buffer go (a reader done with a series of reads calls this)."""
        with self._lock:
            free = set(self._free())
            self._buffers = [b for i, b in enumerate(self._buffers) if i not in free]
            self._peak = sum(b.size for b in self._buffers)  # the next series' own peak

    def held_bytes(self) -> int:
        """Bytes of every buffer the pool keeps, in use or free."""
        with self._lock:
            return sum(b.size for b in self._buffers)


#: the process's buffers for tensor reads
READS = ReadBuffers()
