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


def _views(buf: np.ndarray) -> dict[str, object]:
    """Objects that see ``buf``'s memory, made as the readers and the model swap make them."""
    import torch

    host = HostTensor.from_buffer(buf, "bfloat16", (4, 8))
    param = torch.nn.Parameter(torch.zeros(4, 8, dtype=torch.bfloat16))
    param.data = host.to_torch().contiguous()  # models/swap.py adopts a read's memory
    return {
        "a dtype view": HostTensor.from_buffer(buf, "float16", (32,)).data,
        "a slice": buf[8:16],
        "the buffer protocol": np.frombuffer(memoryview(buf), dtype=np.uint8),
        "a torch tensor": host.to_torch().reshape(8, 4)[1:],
        "a parameter that adopted it": param,
    }


def _memory(seen: object) -> np.ndarray:
    """What ``seen`` sees, as a NumPy array over the same memory."""
    if isinstance(seen, np.ndarray):
        return seen
    import torch

    assert isinstance(seen, torch.Tensor)
    return seen.detach().reshape(-1).view(torch.uint8).numpy()


def test_memory_in_use_is_never_handed_out_again():
    pool = ReadBuffers()
    with pool.scope():
        first = pool.take(64)
        address = _address(first)
        views = _views(first)
        del first
        for name in list(views):
            again = pool.take(64)  # the first buffer is still seen through a view
            assert not np.shares_memory(again, _memory(views[name])), name
            del again, views[name]  # this one is free again for the next take
        again = pool.take(64)  # nothing refers to the first buffer any more: used again
        assert _address(again) == address


def test_only_a_free_buffer_of_the_same_size_is_reused():
    pool = ReadBuffers()
    with pool.scope():
        first = pool.take(100)
        address = _address(first)
        del first
        other = pool.take(60)  # another size: new memory (the free one goes past the peak)
        assert _address(other) != address and other.size == 60
        same = pool.take(100)
        assert _address(same) == address and same.flags.writeable
        with pytest.raises(ValueError, match="-1 bytes"):
            pool.take(-1)


def test_the_pool_never_holds_more_than_the_reads_in_use_held_at_once():
    """Random takes and drops against a naive account of the bytes in use: the pool's
    bytes never exceed the most the live reads held at once (the request included), live
    reads never share memory or lose what was written to them, and the pool forgets every
    buffer when its scope closes."""
    rng = random.Random(0)
    pool = ReadBuffers()
    live: list[np.ndarray] = []
    peak = 0
    with pool.scope():
        for _ in range(2000):
            if live and rng.random() < 0.5:
                live.pop(rng.randrange(len(live)))
            else:
                n = rng.choice([16, 24, 40, 64, 100, 1000, 4096])
                peak = max(peak, sum(a.size for a in live) + n)
                live.append(pool.take(n))  # no other name refers to it: live is in use
                live[-1][:] = len(live) % 251  # every live read keeps what was written
                assert not any(np.shares_memory(live[-1], other) for other in live[:-1])
            assert pool.held_bytes() <= peak
        marks = [int(a[0]) if a.size else None for a in live]
    assert pool.held_bytes() == 0
    assert [int(a[0]) if a.size else None for a in live] == marks


def test_outside_a_scope_nothing_is_kept_or_reused():
    pool = ReadBuffers()
    for _ in range(3):
        assert pool.take(64).size == 64
        assert pool.held_bytes() == 0
    with pool.scope(), pool.scope():  # nested: memory goes when the outer one closes
        kept = pool.take(64)
        del kept
    assert pool.held_bytes() == 0


def test_no_reuse_where_references_may_be_counted_lazily(monkeypatch):
    monkeypatch.setattr(sys, "_is_gil_enabled", lambda: False, raising=False)
    pool = ReadBuffers()
    with pool.scope():
        for _ in range(3):
            assert pool.take(64).size == 64
            assert pool.held_bytes() == 0  # nothing kept, so nothing handed out again


def test_threads_taking_at_once_never_share_memory():
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as the interpreter allows
    pool = ReadBuffers()
    errors: list[str] = []

    def reader(mark: int) -> None:
        for _ in range(300):
            buf = pool.take(4096)
            buf[:] = mark
            if not (buf == mark).all():  # another thread wrote into this read's memory
                errors.append(f"thread {mark}: overwritten")
            del buf

    try:
        with pool.scope():
            threads = [threading.Thread(target=reader, args=(m,)) for m in range(1, 5)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            assert pool.held_bytes() <= 4 * 4096
    finally:
        sys.setswitchinterval(interval)
    assert errors == []


def test_a_weights_sweep_reuses_read_memory_and_lets_it_go(tmp_path, monkeypatch):
    """A sweep of safetensors checkpoints reads into memory used before, with the rows of
    a sweep that reads into fresh memory, and the pool holds nothing once it is done."""
    from ckptscope.engine import SweepConfig, run_sweep
    from ckptscope.sources import buffers
    from ckptscope.store import Store
    from sources.builders import write_checkpoint

    for step in (0, 10, 20, 30):
        write_checkpoint(tmp_path / "run" / f"checkpoint-{step}", seed=step, fmt="safetensors")
    reused: list[bool] = []  # per read: whether it went into a buffer the pool held
    take = buffers.ReadBuffers.take

    def recorded(self: ReadBuffers, nbytes: int) -> np.ndarray:
        held = {id(b) for b in self._buffers}
        out = take(self, nbytes)
        reused.append(id(out) in held)
        return out

    monkeypatch.setattr(buffers.ReadBuffers, "take", recorded)
    rows = {}
    for reuse in (True, False):
        monkeypatch.setattr(buffers.READS, "_reuse", reuse)
        reused.clear()
        out = tmp_path / f"store-{reuse}"
        cfg = SweepConfig(suite=str(tmp_path / "run"), out=out, analyses=("weights",))
        assert run_sweep(cfg).exit_code == 0
        assert buffers.READS.held_bytes() == 0  # forgotten when the series ended
        rows[reuse] = Store(out).scalars()
        assert sum(reused) > len(reused) / 2 if reuse else not any(reused)
    pd.testing.assert_frame_equal(rows[True], rows[False])
