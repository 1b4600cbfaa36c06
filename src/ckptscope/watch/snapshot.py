"""Copies of a live model's weights, served as checkpoints; the run's state left untouched.

The watcher never analyses the live tensors: at a watched step it copies them to the CPU
(``snapshot``) and the analyses read that copy, as a sweep reads a saved checkpoint. The
copies it keeps are the initial step's (distances from init) and the last watched step's
(update sizes). ``untouched`` saves and restores what the watcher's work could change in
the training process: the random number generators (torch CPU and CUDA, numpy, Python),
the grad mode and torch's thread count.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ckptscope.errors import CheckpointError
from ckptscope.sources.base import Checkpoint, Suite
from ckptscope.sources.memory import MemoryCheckpoint, StoredWeights, stored_weights


def snapshot(model: nn.Module, where: str) -> StoredWeights:
    """A CPU copy of ``model``'s tensors under their stored names (``stored_weights``)."""
    with torch.no_grad():
        live = stored_weights(model, where)
        # copy=True: a CPU tensor would otherwise be the parameter itself, which training
        # changes in place after this step
        tensors = {name: t.detach().to("cpu", copy=True) for name, t in live.tensors.items()}
    return StoredWeights(tensors, live.config)


class HeldSuite(Suite):
    """One model's held snapshots as a suite, for the sweep engine's ``run_checkpoint``."""

    local_only = "a watcher's snapshots live in the training process"

    def __init__(self, name: str, model: str, tokenizer: Path | None) -> None:
        self.name = name
        self.model = model
        self.tokenizer = tokenizer
        self.held: dict[int, StoredWeights] = {}

    def models(self) -> list[str]:
        return [self.model]

    def steps(self, model: str) -> list[int]:
        return sorted(self.held) if model == self.model else []

    def open(self, model: str, step: int) -> Checkpoint:
        weights = self.held.get(step) if model == self.model else None
        if weights is None:
            raise CheckpointError(f"{self.name}: no snapshot of {model} at step {step}")
        return MemoryCheckpoint(model, step, weights, self.tokenizer)


@contextmanager
def untouched() -> Iterator[None]:
    """Restore the process's random streams, grad mode and thread count on exit."""
    cpu = torch.get_rng_state()
    # only when the run uses CUDA already: asking otherwise would initialise it
    cuda = torch.cuda.get_rng_state_all() if torch.cuda.is_initialized() else None
    np_state = np.random.get_state()
    py_state = random.getstate()
    grad = torch.is_grad_enabled()
    threads = torch.get_num_threads()
    try:
        yield
    finally:
        torch.set_rng_state(cpu)
        if cuda is not None:
            torch.cuda.set_rng_state_all(cuda)
        np.random.set_state(np_state)
        random.setstate(py_state)
        torch.set_grad_enabled(grad)
        if torch.get_num_threads() != threads:
            torch.set_num_threads(threads)
