"""Tiny GPT-NeoX checkpoint folders built from a config: for tests and benchmarks, offline."""

from __future__ import annotations

from pathlib import Path

import torch


def write_tiny_checkpoints(
    root: Path,
    steps: tuple[int, ...] = (0, 1, 2),
    *,
    d_model: int = 32,
    n_layers: int = 2,
    n_heads: int = 4,
    vocab_size: int = 4096,
    max_positions: int = 64,
    tokenizer: bool = True,
    seed: int = 0,
    dtype: torch.dtype = torch.float32,
) -> list[Path]:
    """One ``root/step<N>`` Hugging Face folder per step, each with different random weights.

    With ``tokenizer`` the shipped tokenizer is saved beside the weights (vocab 4096).
    ``dtype``: the weights' dtype on disk (drawn in float32, then cast).
    """
    from transformers import GPTNeoXConfig, GPTNeoXForCausalLM

    config = GPTNeoXConfig(
        vocab_size=vocab_size,
        hidden_size=d_model,
        num_hidden_layers=n_layers,
        num_attention_heads=n_heads,
        intermediate_size=4 * d_model,
        max_position_embeddings=max_positions,
        rotary_pct=0.25,
        use_parallel_residual=True,
        tie_word_embeddings=False,
    )
    folders = []
    for i, step in enumerate(steps):
        torch.manual_seed(seed * 1000 + i)
        model = GPTNeoXForCausalLM(config)
        with torch.no_grad():  # non-trivial LayerNorms and biases, so every tensor matters
            for name, p in model.named_parameters():
                if "layernorm" in name or "layer_norm" in name or name.endswith("bias"):
                    p.add_(0.1 * torch.randn_like(p))
        folder = Path(root) / f"step{step}"
        model.to(dtype).save_pretrained(folder)
        if tokenizer:
            from ckptscope.data.tokenizer import save_hf_tokenizer

            save_hf_tokenizer(folder, model_max_length=max_positions)
        folders.append(folder)
    return folders
