"""Tiny Hugging Face models built in the test, saved to tmp: no downloads."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import transformers

from ckptscope.adapters import get_adapter
from ckptscope.sources.folder_checkpoint import FolderCheckpoint


def build(kind: str, **overrides: object) -> transformers.PreTrainedModel:
    """A tiny randomly initialised causal LM of one architecture."""
    torch.manual_seed(0)
    if kind == "gpt_neox":
        cfg = transformers.GPTNeoXConfig(
            vocab_size=64, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
            intermediate_size=128, max_position_embeddings=64, rotary_pct=0.25,
            attn_implementation="eager", **overrides,
        )  # fmt: skip
        return transformers.GPTNeoXForCausalLM(cfg).eval()
    if kind == "gpt2":
        cfg = transformers.GPT2Config(
            vocab_size=64, n_embd=32, n_layer=2, n_head=4, n_positions=32,
            attn_implementation="eager", **overrides,
        )  # fmt: skip
        return transformers.GPT2LMHeadModel(cfg).eval()
    if kind == "llama":
        cfg = transformers.LlamaConfig(
            vocab_size=64, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
            num_key_value_heads=2, intermediate_size=48, max_position_embeddings=64,
            attn_implementation="eager", **overrides,
        )  # fmt: skip
        return transformers.LlamaForCausalLM(cfg).eval()
    raise ValueError(kind)


def randomise(model: torch.nn.Module) -> None:
    """Non-trivial values everywhere (zero biases and unit norms would hide mix-ups)."""
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0, 0.2)


@pytest.fixture
def saved(tmp_path: Path):
    """save(kind, **config) -> (model, FolderCheckpoint, adapter)."""

    def save(kind: str, **overrides: object):
        model = build(kind, **overrides)
        randomise(model)
        folder = tmp_path / kind
        model.save_pretrained(folder)
        ckpt = FolderCheckpoint(kind, 0, folder)
        return model, ckpt, get_adapter(ckpt.config())

    return save
