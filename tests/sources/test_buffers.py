"""ReadBuffers: memory handed out again only when nothing refers to it, within the peak."""

from __future__ import annotations

import random
import sys
import threading

import numpy as np
import pandas as pd
import pytest

from ckptscope.sources.buffers import ReadBuffers
from ckptscope.sources.host import HostTensor


def _address(a: np.ndarray) -> int:
    return a.__array_interface__["data"][0]


def test_memory_in_use_is_never_handed_out_again():
    pool = ReadBuffers()
    first = pool.take(64)
    address = _address(first)
    views = {
        "a dtype view": HostTensor.from_buffer(first, "float16", (32,)).data,
        "a slice": first[8:16],
        "the buffer protocol": np.frombuffer(memoryview(first), dtype=np.uint8),
    }
    del first
    for name in list(views):
        again = pool.take(64)  # the first buffer is still seen through a view
        assert not any(np.shares_memory(again, v) for v in views.values()), name
        del again, views[name]  # this one is free again for the next take
    again = pool.take(64)  # nothing refers to the first buffer any more: handed out again
    assert _address(again) == address


def test_only_a_free_buffer_of_the_same_size_is_reused():
    pool = ReadBuffers()
    first = pool.take(100)
    address = _address(first)
    del first
    other = pool.take(60)  # another size: new memory (the free one goes only past the peak)
    assert _address(other) != address and other.size == 60
    same = pool.take(100)
    assert _address(same) == address and same.flags.writeable
    with pytest.raises(ValueError, match="-1 bytes"):
        pool.take(-1)


def test_the_pool_never_holds_more_than_the_reads_in_use_held_at_once():
    """Random takes and drops against a naive account of the bytes in use: the pool's
    bytes never exceed the most the live reads held at once (the request included), live
    reads never share memory, and release keeps exactly the live ones."""
    rng = random.Random(0)
    pool = ReadBuffers()
    live: list[np.ndarray] = []
    peak = 0
    for _ in range(2000):
        if live and rng.random() < 0.5:
            live.pop(rng.randrange(len(live)))
        else:
            n = rng.choice([16, 24, 40, 64, 100, 1000, 4096])
            peak = max(peak, sum(a.size for a in live) + n)
            live.append(pool.take(n))  # no other name refers to it: live is what is in use
            live[-1][:] = len(live) % 251  # every live read keeps what was written to it
            assert not any(np.shares_memory(live[-1], other) for other in live[:-1])
        assert pool.held_bytes() <= peak
    marks = [int(a[0]) if a.size else None for a in live]
    pool.release()
    assert pool.held_bytes() == sum(a.size for a in live)
    assert [int(a[0]) if a.size else None for a in live] == marks
    live.clear()
    pool.release()
    assert pool.held_bytes() == 0


def test_threads_taking_at_once_never_share_memory():
    pool = ReadBuffers()
    errors: list[str] = []

    def reader(mark: int) -> None:
        for _ in range(300):
            buf = pool.take(4096)
            buf[:] = mark
            if not (buf == mark).all():  # another thread wrote into this read's memory
                errors.append(f"thread {mark}: overwritten")
            del buf

    threads = [threading.Thread(target=reader, args=(m,)) for m in range(1, 5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert pool.held_bytes() <= 4 * 4096


def test_no_reuse_where_references_may_be_counted_lazily(monkeypatch):
    monkeypatch.setattr(sys, "_is_gil_enabled", lambda: False, raising=False)
    pool = ReadBuffers()
    for _ in range(3):
        assert pool.take(64).size == 64
        assert pool.held_bytes() == 0  # nothing kept, so nothing handed out again


def test_a_weights_sweep_reuses_read_memory_and_lets_it_go(tmp_path, monkeypatch):
    """A sweep of safetensors checkpoints reads into memory used before, with the rows of
    a sweep that reads into fresh memory, and holds no read memory once it is done."""
    from ckptscope.engine import SweepConfig, run_sweep
    from ckptscope.sources import buffers
    from ckptscope.store import Store
    from sources.builders import write_checkpoint

    for step in (0, 10, 20, 30):
        write_checkpoint(tmp_path / "run" / f"checkpoint-{step}", seed=step, fmt="safetensors")
    addresses: list[int] = []
    take = buffers.ReadBuffers.take

    def recorded(self: ReadBuffers, nbytes: int) -> np.ndarray:
        out = take(self, nbytes)
        addresses.append(_address(out))
        return out

    monkeypatch.setattr(buffers.ReadBuffers, "take", recorded)
    rows = {}
    for reuse in (True, False):
        monkeypatch.setattr(buffers.READS, "_reuse", reuse)
        addresses.clear()
        out = tmp_path / f"store-{reuse}"
        cfg = SweepConfig(suite=str(tmp_path / "run"), out=out, analyses=("weights",))
        assert run_sweep(cfg).exit_code == 0
        assert buffers.READS.held_bytes() == 0  # let go when the series ended
        rows[reuse] = Store(out).scalars().drop(columns=["suite"])
        if reuse:
            assert len(set(addresses)) < len(addresses) / 2  # most reads into used memory
    pd.testing.assert_frame_equal(rows[True], rows[False])
