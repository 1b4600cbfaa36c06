"""Executors: the same plan in-process, in a local process pool, or (optionally) on Ray."""

from __future__ import annotations

import multiprocessing
import os
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from typing import Any

from ckptscope.errors import UsageError


class Executor(ABC):
    """Runs ``fn(item)`` for every item, yielding results as they complete."""

    name: str

    @abstractmethod
    def map_unordered(
        self, fn: Callable[..., Any], items: Sequence[tuple[Any, ...]]
    ) -> Iterator[Any]:
        """Yield ``fn(*item)`` for each item, in completion order."""

    def close(self) -> None:
        """Release workers."""


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
    import torch

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
        saved = {k: os.environ.get(k) for k in _THREAD_VARS}
        os.environ.update({k: str(self.threads) for k in _THREAD_VARS})  # read at worker start
        try:
            with ProcessPoolExecutor(
                max_workers=self.workers,
                mp_context=ctx,
                initializer=_limit_threads,
                initargs=(self.threads,),
            ) as pool:
                futures = [pool.submit(fn, *item) for item in items]
                for fut in as_completed(futures):
                    yield fut.result()
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v


_EXECUTORS: dict[str, Callable[..., Executor]] = {
    "local": lambda workers, **_: InProcessExecutor(),
    "process": lambda workers, **_: ProcessPoolSweepExecutor(workers),
}


def register_executor(name: str, factory: Callable[..., Executor]) -> None:
    """Make an executor selectable by name (``factory(workers=..., **options)``)."""
    _EXECUTORS[name] = factory


def make_executor(name: str, workers: int = 1, **options: Any) -> Executor:
    """An executor by name: ``local``, ``process``, or a registered one such as ``ray``."""
    if name == "ray" and "ray" not in _EXECUTORS:
        from ckptscope.engine import ray_executor  # noqa: F401  (registers "ray")
    try:
        factory = _EXECUTORS[name]
    except KeyError:
        raise UsageError(
            f"unknown executor {name!r}; available: {', '.join(sorted(_EXECUTORS))}"
        ) from None
    return factory(workers=workers, **options)
