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
