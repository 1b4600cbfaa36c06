"""Executors by name, and a process pool that changes nothing in the parent process."""

from __future__ import annotations

import os

import pytest

from ckptscope.engine.executors import (
    InProcessExecutor,
    ProcessPoolSweepExecutor,
    make_executor,
)
from ckptscope.errors import UsageError


def _threads(tag: str) -> tuple[str, str | None, int]:
    import torch

    return tag, os.environ.get("OMP_NUM_THREADS"), torch.get_num_threads()


def test_make_executor_by_name() -> None:
    assert isinstance(make_executor("local"), InProcessExecutor)
    assert isinstance(make_executor("process", workers=2), ProcessPoolSweepExecutor)
    with pytest.raises(UsageError, match="unknown executor 'slurm'"):
        make_executor("slurm")


def test_process_pool_sets_threads_in_workers_only(monkeypatch) -> None:
    monkeypatch.setenv("OMP_NUM_THREADS", "parent-value")
    before = dict(os.environ)
    pool = ProcessPoolSweepExecutor(workers=2)
    results = sorted(pool.map_unordered(_threads, [("a",), ("b",)]))
    expected = str(pool.threads)
    assert [(t, env) for t, env, _ in results] == [("a", expected), ("b", expected)]
    assert all(n == pool.threads for _, _, n in results)
    assert dict(os.environ) == before  # the parent's environment is untouched


def _mark(folder: str, i: int) -> int:
    import time
    from pathlib import Path

    if i == 0:
        raise RuntimeError("disk full")
    time.sleep(0.3)
    (Path(folder) / f"{i}.done").touch()
    return i


def test_an_error_stops_the_pool_without_running_the_queue(tmp_path) -> None:
    pool = ProcessPoolSweepExecutor(workers=2)
    items = [(str(tmp_path), i) for i in range(40)]
    with pytest.raises(RuntimeError, match="disk full"):
        list(pool.map_unordered(_mark, items))
    ran = len(list(tmp_path.glob("*.done")))
    assert ran < 10, f"{ran} of 39 queued tasks still ran after the error"
