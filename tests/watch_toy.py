"""Toy runs for the watcher tests (tests/watch, tests/integrations): a tiny GPT-NeoX, a
hand-written loop, a clock the test drives."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np
import pandas as pd
import torch

from ckptscope.train.config import ModelSize
from ckptscope.train.model import build_model

VOCAB = 4096  # the shipped tokenizer's
SEQ = 16
#: the evaluation pass at a toy size
EVAL = {"n_seqs": 2, "seq_len": SEQ, "micro_batch": 2, "fit_samples": 200}


class FakeClock:
    """A clock the test moves: ``clock.now += seconds``."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def tiny(seed: int = 0, width: int = 16, blocks: int = 2) -> torch.nn.Module:
    """A Pythia-style GPT-NeoX of the offline trainer at a toy size, in train mode."""
    return build_model(ModelSize(width, blocks, n_heads=2), VOCAB, SEQ, seed).train()


def train(
    model: torch.nn.Module,
    steps: int,
    on_step: Callable[[int], None] | None = None,
    start: int = 0,
    opt: torch.optim.Optimizer | None = None,
) -> torch.optim.Optimizer:
    """A plain loop whose batches come from the global torch and numpy RNG streams (so a
    watcher that moved them would change the weights); ``on_step(n)`` after update n and
    at ``start``."""
    opt = opt or torch.optim.AdamW(model.parameters(), lr=3e-3)
    if on_step is not None:
        on_step(start)
    for step in range(start + 1, steps + 1):
        ids = torch.randint(0, VOCAB, (2, SEQ))
        ids[:, 0] = int(np.random.randint(0, VOCAB))
        loss = model(ids, labels=ids).loss
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if on_step is not None:
            on_step(step)
    return opt


def table(store, name: str, drop: Iterable[str] = ()) -> pd.DataFrame:
    """A store table sorted on its keys (lists made hashable), some columns dropped."""
    df = getattr(store, name)().drop(columns=list(drop))
    for col in ("labels", "shape"):
        if col in df:
            df[col] = df[col].map(lambda v: tuple(v) if isinstance(v, list | np.ndarray) else v)
    keys = [c for c in df.columns if c not in ("value", "values", "meta")]
    return df.sort_values(keys, na_position="first").reset_index(drop=True)
