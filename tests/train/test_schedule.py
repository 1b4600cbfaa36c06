"""Checkpoint steps and the learning-rate schedule."""

from __future__ import annotations

import math
from itertools import pairwise

import pytest

from ckptscope.train import TrainConfig, checkpoint_steps, lr_at, warmup_steps


def test_pythia_checkpoint_steps() -> None:
    steps = checkpoint_steps(143000, 143)
    assert len(steps) == 154
    assert steps[:11] == [0, 1, 2, 4, 8, 16, 32, 64, 128, 256, 512]
    assert steps[11:] == list(range(1000, 143001, 1000))


def test_small_checkpoint_steps() -> None:
    assert checkpoint_steps(40, 4) == [0, 1, 2, 4, 8, 10, 20, 30, 40]
    assert checkpoint_steps(200, 10) == [0, 1, 2, 4, 8, 16, *range(20, 201, 20)]


@pytest.mark.parametrize(("total", "n"), [(1, 1), (7, 3), (13, 5), (600, 20), (5, 10)])
def test_checkpoint_steps_invariants(total: int, n: int) -> None:
    steps = checkpoint_steps(total, n)
    assert steps == sorted(set(steps))
    assert steps[0] == 0 and steps[-1] == total
    assert all(0 <= s <= total for s in steps)


def test_checkpoint_steps_rejects_nonpositive() -> None:
    with pytest.raises(ValueError, match="positive"):
        checkpoint_steps(0, 3)


def test_lr_schedule_shape() -> None:
    cfg = TrainConfig(steps=1000, batch_size=1, seq_len=8, lr=1e-3)
    warm = warmup_steps(cfg)
    assert warm == 10  # 1% of 1000
    lrs = [lr_at(s, cfg) for s in range(cfg.steps)]
    assert lrs[0] == pytest.approx(1e-4)
    assert lrs[warm - 1] == pytest.approx(1e-3)
    assert all(a < b for a, b in pairwise(lrs[:warm]))
    assert all(a >= b for a, b in pairwise(lrs[warm - 1 :]))
    assert lrs[-1] == pytest.approx(1e-4)  # 0.1 x peak at the last step
    mid = warm + (cfg.steps - warm) // 2 - 1
    assert lrs[mid] == pytest.approx(1e-4 + 0.9e-3 * 0.5 * (1 + math.cos(math.pi * 0.5)), rel=1e-2)


def test_min_warmup_for_short_runs() -> None:
    cfg = TrainConfig(steps=40, batch_size=1, seq_len=8)
    assert warmup_steps(cfg) == 5
