"""What the trainer optimises and measures: AdamW with Pythia's decay groups, the loss."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from transformers import GPTNeoXForCausalLM

from ckptscope.train.config import TrainConfig


def optimizer(model: GPTNeoXForCausalLM, tc: TrainConfig, peak: float) -> torch.optim.AdamW:
    """AdamW with decoupled weight decay on matrices only (not biases, LayerNorms)."""
    decay = [p for _, p in model.named_parameters() if p.ndim >= 2]
    no_decay = [p for _, p in model.named_parameters() if p.ndim < 2]
    groups = [
        {"params": decay, "weight_decay": tc.weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]
    return torch.optim.AdamW(groups, lr=peak, betas=tc.betas, eps=tc.eps, foreach=False)


def next_token_loss(model: GPTNeoXForCausalLM, batch: torch.Tensor) -> torch.Tensor:
    """Mean next-token cross-entropy of windows (batch, seq_len + 1)."""
    logits = model(input_ids=batch[:, :-1], use_cache=False).logits  # (batch, seq_len, vocab)
    return F.cross_entropy(logits.flatten(0, 1), batch[:, 1:].flatten())


@torch.no_grad()
def heldout_loss(
    model: GPTNeoXForCausalLM, windows: torch.Tensor, batch_size: int, device: str = "cpu"
) -> float:
    """Mean next-token loss (nats) over fixed windows (n, seq_len + 1)."""
    was_training = model.training
    model.eval()
    total, count = 0.0, 0
    for i in range(0, len(windows), batch_size):
        batch = windows[i : i + batch_size].to(device)
        logits = model(input_ids=batch[:, :-1], use_cache=False).logits
        # Sum in float64 so the mean does not depend on how windows are batched.
        losses = F.cross_entropy(logits.flatten(0, 1), batch[:, 1:].flatten(), reduction="none")
        total += losses.double().sum().item()
        count += losses.numel()
    model.train(was_training)
    return total / count
