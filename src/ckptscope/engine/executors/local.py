"""Executors on this machine: in-process (the default) and a pool of spawned processes."""

from __future__ import annotations

import multiprocessing
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from typing import Any

from ckptscope.engine.executors.base import Executor


class InProcessExecutor(Executor):
    """Runs tasks one after another in this process (the default; easiest to debug)."""

    name = "local"

    def map_unordered(
        self, fn: Callable[..., Any], items: Sequence[tuple[Any, ...]]
    ) -> Iterator[Any]:
        for item in items:
            yield fn(*item)


_THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def _limit_threads(n: int) -> None:
    """Worker start-up (in the child process): its BLAS/OpenMP and torch thread counts.

    Set here, in the child, never in the parent's environment; a BLAS library that the
    child loads after this (numpy, scipy, torch imported by the task) reads them, and so
    does ``devices.cpu_threads`` (a weights sweep never imports torch).
    """
    os.environ.update({k: str(n) for k in _THREAD_VARS})
    torch = sys.modules.get("torch")
    if torch is not None:  # already loaded: it read the variables before they were set
        torch.set_num_threads(n)


class ProcessPoolSweepExecutor(Executor):
    """Runs tasks in a pool of spawned local processes, the cores shared out between them.

    Each worker gets ``cores // workers`` BLAS/OpenMP threads: oversubscribed OpenMP
    threads spin against each other, and a 10 ms eigendecomposition then takes seconds.
    """

    name = "process"

    def __init__(self, workers: int) -> None:
        self.workers = max(1, workers)
        self.threads = max(1, (os.cpu_count() or 1) // self.workers)

    def map_unordered(
        self, fn: Callable[..., Any], items: Sequence[tuple[Any, ...]]
    ) -> Iterator[Any]:
        ctx = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(
            max_workers=self.workers,
            mp_context=ctx,
            initializer=_limit_threads,
            initargs=(self.threads,),
        ) as pool:
            futures = [pool.submit(fn, *item) for item in items]
            try:
                for fut in as_completed(futures):
                    yield fut.result()
            except BaseException:  # a worker's error, Ctrl-C, the caller stopping early
                pool.shutdown(wait=True, cancel_futures=True)  # no queued task starts
                raise
