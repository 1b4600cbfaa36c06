"""What an executor is: something that runs ``fn(*item)`` for each item of a plan."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from typing import Any


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
