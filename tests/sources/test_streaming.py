"""Bounded streaming never holds more bytes on disk than its budget."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from ckptscope.errors import CheckpointError, UsageError
from ckptscope.sources.streaming import Streamer, parse_bytes

SIZE = 1000  # bytes per checkpoint (two files)


def disk_bytes(root: Path) -> int:
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file())


class FakeFetcher:
    """Writes each checkpoint as two files, slowly, measuring the disk after every write."""

    def __init__(self, root: Path, budget: int) -> None:
        self.root, self.budget = root, budget
        self.peak = 0
        self.fetched: list[int] = []
        self.lock = threading.Lock()

    def size(self, model: str, step: int) -> int:
        return SIZE

    def fetch(self, model: str, step: int) -> list[Path]:
        files = []
        for part in range(2):
            path = self.root / model / f"step{step}" / f"part{part}"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(b"x" * (SIZE // 2))
            files.append(path)
            with self.lock:
                self.peak = max(self.peak, disk_bytes(self.root))
            time.sleep(0.002)
        self.fetched.append(step)
        return files


def sweep(streamer: Streamer, fetcher: FakeFetcher, steps: list[int]) -> list[int]:
    """What the sweep engine does, in order; returns bytes on disk after every step."""
    after = []
    streamer.prefetch("m", steps[0])
    for i, step in enumerate(steps):
        if i + 1 < len(steps):
            streamer.prefetch("m", steps[i + 1])
        held = [step, steps[0]] + ([steps[i - 1]] if i else [])  # current, initial, previous
        for s in held:
            streamer.acquire("m", s)  # Suite.open(model, s) does this
        time.sleep(0.003)  # analysis; the next checkpoint downloads meanwhile
        for s in held:
            streamer.done_with("m", s)  # Checkpoint.close() does this
        if i > 1:  # the previous one is done with; steps[0] stays until the model ends
            streamer.release("m", steps[i - 1])
        after.append(disk_bytes(fetcher.root))
        assert streamer.reserved_bytes() <= streamer.max_disk
    streamer.release("m", steps[-1])
    streamer.release("m", steps[0])
    streamer.close()
    return after


@pytest.mark.parametrize("n_fit", [3, 4, 6])
def test_never_exceeds_budget(tmp_path, n_fit):
    budget = n_fit * SIZE
    fetcher = FakeFetcher(tmp_path, budget)
    streamer = Streamer(fetcher, budget)
    steps = [0, 1, 2, 4, 8, 1000, 2000, 3000, 4000, 5000]
    after = sweep(streamer, fetcher, steps)
    assert max(after) <= budget
    assert fetcher.peak <= budget
    assert sorted(fetcher.fetched) == steps  # each fetched exactly once
    assert disk_bytes(tmp_path) == 0  # everything released at the end


def test_budget_must_hold_three_checkpoints(tmp_path):
    streamer = Streamer(FakeFetcher(tmp_path, 0), 3 * SIZE - 1)
    with pytest.raises(UsageError, match="cannot hold 3 checkpoints"):
        streamer.prefetch("m", 0)


def test_holding_too_much_open_is_an_error_not_a_hang(tmp_path):
    streamer = Streamer(FakeFetcher(tmp_path, 0), 3 * SIZE)
    for step in (0, 1, 2):
        streamer.acquire("m", step)  # opened and never closed
    with pytest.raises(CheckpointError, match=r"disk budget \d+ bytes is full"):
        streamer.acquire("m", 3)
    streamer.release("m", 1)  # still open: deleted when closed
    streamer.done_with("m", 1)
    streamer.acquire("m", 3)
    assert streamer.resident() == [("m", 0), ("m", 2), ("m", 3)]
    streamer.close()


@pytest.mark.parametrize("n_fit", [3, 4])
def test_evicts_idle_checkpoints_without_release(tmp_path, n_fit):
    """A sweep that only opens and closes (initial, previous, current) stays in budget."""
    budget = n_fit * SIZE
    fetcher = FakeFetcher(tmp_path, budget)
    streamer = Streamer(fetcher, budget)
    steps = [0, 10, 20, 30, 40, 50, 60]
    for i, step in enumerate(steps):
        if i + 1 < len(steps):
            streamer.prefetch("m", steps[i + 1])
        held = [step, steps[0]] + ([steps[i - 1]] if i else [])
        for s in held:
            streamer.acquire("m", s)
        assert disk_bytes(tmp_path) <= budget
        for s in held:
            streamer.done_with("m", s)
    streamer.close()
    assert fetcher.peak <= budget
    assert sorted(fetcher.fetched) == steps
    assert ("m", 0) in streamer.resident()  # the initial checkpoint is kept


def test_parse_bytes():
    assert parse_bytes("20GB") == 20 * 10**9
    assert parse_bytes("1.5GiB") == int(1.5 * 2**30)
    assert parse_bytes("500 mb") == 500 * 10**6
    assert parse_bytes(123) == 123
    with pytest.raises(UsageError, match="bad byte size"):
        parse_bytes("lots")
