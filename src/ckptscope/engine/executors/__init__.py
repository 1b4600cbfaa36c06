"""Executors: the same plan in-process, in a local process pool, or (optionally) on Ray.

``make_executor(name)`` picks one: ``local`` and ``process`` (``local.py``), ``ray``
(``ray_cluster.py``, imported only when chosen: Ray is an optional extra), or one added
with ``register_executor``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ckptscope.engine.executors.base import Executor
from ckptscope.engine.executors.local import InProcessExecutor, ProcessPoolSweepExecutor
from ckptscope.errors import UsageError


def _ray(workers: int = 1, address: str | None = None, **options: Any) -> Executor:
    from ckptscope.engine.executors.ray_cluster import RayExecutor

    return RayExecutor(workers=workers, address=address, **options)


_EXECUTORS: dict[str, Callable[..., Executor]] = {
    "local": lambda workers, **_: InProcessExecutor(),
    "process": lambda workers, **_: ProcessPoolSweepExecutor(workers),
    "ray": _ray,
}


def register_executor(name: str, factory: Callable[..., Executor]) -> None:
    """Make an executor selectable by name (``factory(workers=..., **options)``)."""
    _EXECUTORS[name] = factory


def make_executor(name: str, workers: int = 1, **options: Any) -> Executor:
    """An executor by name: ``local``, ``process``, or a registered one such as ``ray``."""
    try:
        factory = _EXECUTORS[name]
    except KeyError:
        raise UsageError(
            f"unknown executor {name!r}; available: {', '.join(sorted(_EXECUTORS))}"
        ) from None
    return factory(workers=workers, **options)


__all__ = [
    "Executor",
    "InProcessExecutor",
    "ProcessPoolSweepExecutor",
    "make_executor",
    "register_executor",
]
