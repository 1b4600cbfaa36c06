"""The suite and checkpoint abstraction every source implements.

A *suite* holds models (sizes, seeds), each with checkpoints at integer training steps.
A *checkpoint* lists its tensors without reading data and reads one tensor at a time.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from ckptscope.sources.host import HostTensor

if TYPE_CHECKING:
    import torch


@dataclass(frozen=True)
class TensorInfo:
    """Name, shape and dtype of one stored tensor, known without reading its data."""

    name: str
    shape: tuple[int, ...]
    dtype: str  # torch dtype name without the prefix: "float16", "bfloat16", "float32"

    @property
    def numel(self) -> int:
        n = 1
        for s in self.shape:
            n *= s
        return n


class Checkpoint(ABC):
    """One model at one training step. Use as a context manager; reads are lazy."""

    model: str
    step: int
    #: whether ``read`` returns tensors the caller may keep and write into (a file's
    #: tensors); False where they are someone else's (a model held in memory)
    reads_are_private: bool = True

    @abstractmethod
    def config(self) -> dict[str, Any]:
        """The Hugging Face ``config.json`` of this checkpoint."""

    @abstractmethod
    def tensors(self) -> list[TensorInfo]:
        """Every stored tensor's name, shape and dtype, without reading data."""

    @abstractmethod
    def read(self, name: str) -> torch.Tensor:
        """Read one tensor in its stored dtype (CPU). Raises CheckpointError naming it."""

    def read_host(self, name: str) -> HostTensor:
        """:meth:`read` as a :class:`HostTensor`: NumPy memory, without importing torch
        where the source can (safetensors files); by default a view of :meth:`read`."""
        return HostTensor.from_torch(self.read(name))

    def tokenizer_dir(self) -> Path | None:
        """A folder with Hugging Face tokenizer files for this checkpoint, if any."""
        return None

    def files(self) -> list[Path]:
        """The local files this checkpoint reads (for hashing, sizes and eviction)."""
        return []

    def close(self) -> None:
        """Release file handles and memory maps."""

    def __enter__(self) -> Checkpoint:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Suite(ABC):
    """A set of models, each with checkpoints at training steps."""

    name: str
    #: why this suite sweeps only in the calling process (its checkpoints live in this
    #: process's memory), or None: a sweep with another executor is refused with this line
    local_only: ClassVar[str | None] = None

    @abstractmethod
    def models(self) -> list[str]:
        """Model names in this suite (e.g. ``pythia-160m``, ``w64``)."""

    @abstractmethod
    def steps(self, model: str) -> list[int]:
        """Sorted training steps with a checkpoint for ``model``."""

    @abstractmethod
    def open(self, model: str, step: int) -> Checkpoint:
        """Open one checkpoint; raises CheckpointError when it cannot be opened."""

    def preflight(self, steps_by_model: dict[str, list[int]]) -> None:
        """Refuse, in one line, a sweep of these steps that cannot start (e.g. no network
        and the checkpoints are not cached); called once before any task runs."""

    def prefetch(self, model: str, step: int) -> None:
        """Hint that ``open(model, step)`` comes soon (a streaming suite starts fetching it)."""

    def release(self, model: str, step: int) -> None:
        """Hint that the sweep is done with a checkpoint (a streaming suite deletes its files)."""

    def describe(self) -> dict[str, Any]:
        """Provenance for reports: whatever identifies this suite (paths, repos, hashes)."""
        return {"suite": self.name}

    def iter_checkpoints(self, model: str) -> Iterator[Checkpoint]:
        """Open each checkpoint of ``model`` in step order."""
        for step in self.steps(model):
            yield self.open(model, step)
