"""Residual capture agrees with Hugging Face's hidden states; micro-batched passes add up."""

from __future__ import annotations

from pathlib import Path

import torch
from transformers import AutoModelForCausalLM

from ckptscope.models.forward import forward_backward
from ckptscope.models.hooks import capture_residuals, find_blocks


def test_residuals_equal_hidden_states(tiny_folders: list[Path]) -> None:
    model = AutoModelForCausalLM.from_pretrained(tiny_folders[1]).eval()
    ids = torch.randint(0, 4096, (3, 20), generator=torch.Generator().manual_seed(0))
    resid = capture_residuals(model, ids)  # [embed, block 0, ..., block L-1]
    n_layers = len(find_blocks(model))
    assert len(resid) == n_layers + 1
    with torch.no_grad():
        hidden = model(input_ids=ids, output_hidden_states=True).hidden_states
    assert len(hidden) == n_layers + 1
    # HF's last hidden state has the final LayerNorm applied; ours is the raw block output.
    for i in range(n_layers):
        torch.testing.assert_close(resid[i], hidden[i], rtol=0, atol=0)
    with torch.no_grad():
        normed = model.gpt_neox.final_layer_norm(resid[-1])
    torch.testing.assert_close(normed, hidden[-1], rtol=0, atol=0)
    assert not torch.allclose(resid[-1], hidden[-1])


def test_micro_batches_give_the_whole_batch_loss_and_grads(tiny_folders: list[Path]) -> None:
    model = AutoModelForCausalLM.from_pretrained(tiny_folders[0]).eval()
    ids = torch.randint(0, 4096, (5, 12), generator=torch.Generator().manual_seed(2))
    loss = forward_backward(model, ids, micro_batch=2, backward=True)
    grads = {n: p.grad.clone() for n, p in model.named_parameters()}
    model.zero_grad()
    reference = model(input_ids=ids, labels=ids).loss  # mean over every shifted token
    reference.backward()
    assert abs(loss - reference.item()) < 1e-5
    for name, p in model.named_parameters():
        torch.testing.assert_close(grads[name], p.grad, rtol=1e-4, atol=1e-7, msg=name)
