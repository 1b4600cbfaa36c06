"""Learning-rate schedule and Pythia-shaped checkpoint steps."""

from __future__ import annotations

import math

from ckptscope.train.config import TrainConfig


def warmup_steps(cfg: TrainConfig) -> int:
    """Linear warm-up length: ``warmup_frac`` of the steps, at least ``min_warmup_steps``."""
    return min(cfg.steps, max(cfg.min_warmup_steps, math.ceil(cfg.warmup_frac * cfg.steps)))


def lr_at(step: int, cfg: TrainConfig, peak: float | None = None) -> float:
    """LR of the update that takes the model from ``step`` to ``step + 1``.

    Linear warm-up from peak/warmup to peak over the warm-up steps, then cosine decay that
    reaches ``min_lr_ratio * peak`` at the last step (as in GPT-NeoX's ``cosine`` schedule).
    """
    peak = cfg.lr if peak is None else peak
    warm = warmup_steps(cfg)
    if step < warm:
        return peak * (step + 1) / warm
    floor = cfg.min_lr_ratio * peak
    span = max(1, cfg.steps - warm)
    progress = min(1.0, (step + 1 - warm) / span)
    return floor + (peak - floor) * 0.5 * (1.0 + math.cos(math.pi * progress))


def checkpoint_steps(total_steps: int, n_even: int = 10) -> list[int]:
    """Step 0, powers of two below the even spacing, then ``n_even`` evenly spaced steps.

    Like Pythia's 154 checkpoints (0, 1, 2, 4, ..., 512, then every 1000 to 143000):
    ``checkpoint_steps(143000, 143)`` gives exactly those. The last step is always included.
    """
    if total_steps <= 0 or n_even <= 0:
        raise ValueError(f"need positive total_steps and n_even, got {total_steps}, {n_even}")
    n_even = min(n_even, total_steps)
    even = {round(k * total_steps / n_even) for k in range(1, n_even + 1)}
    first_even = min(even)
    powers = {1 << i for i in range(total_steps.bit_length()) if (1 << i) < first_even}
    return sorted({0} | powers | even)
