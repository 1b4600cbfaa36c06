"""One forward (+ backward) pass over the evaluation batch, in micro-batches.

Peak memory is the parameters, their gradients, and the activations of ONE micro-batch
(``micro_batch x seq_len`` tokens: the residuals autograd keeps for every block plus the
``(micro_batch, seq_len, vocab)`` logits); residual statistics are reduced per micro-batch
through the hook callback, never gathered.
"""

from __future__ import annotations

from contextlib import nullcontext

import torch
import torch.nn.functional as F
from torch import nn

from ckptscope.models.hooks import ResidFn, residual_hooks


def forward_backward(
    model: nn.Module,
    ids: torch.Tensor,
    *,
    micro_batch: int,
    on_resid: ResidFn | None = None,
    backward: bool = False,
) -> float:
    """Mean next-token cross-entropy over all ``ids`` (n_seqs, seq_len); grads in ``.grad``.

    With ``backward`` the parameters' ``.grad`` hold the gradient of that mean loss: each
    micro-batch's summed loss is divided by the token count of the whole batch, so the
    accumulated gradient equals one pass over the whole batch.
    """
    device = next(model.parameters()).device
    n_tokens = ids.shape[0] * (ids.shape[1] - 1)
    if backward:
        model.zero_grad(set_to_none=True)
    total = 0.0
    hooks = residual_hooks(model, on_resid) if on_resid is not None else nullcontext()
    with hooks, torch.set_grad_enabled(backward):
        for mb in ids.split(micro_batch):  # (micro_batch, seq_len)
            mb = mb.to(device)
            logits = model(input_ids=mb, use_cache=False).logits  # (b, seq_len, vocab)
            # float32 cross-entropy whatever the model dtype: a bf16 log-softmax is too coarse.
            ce = F.cross_entropy(
                logits[:, :-1].flatten(0, 1).float(), mb[:, 1:].flatten(), reduction="sum"
            )
            if backward:
                (ce / n_tokens).backward()
            total += float(ce.detach())
            del logits, ce
    return total / n_tokens
