"""Build a Pythia-style ``GPTNeoXForCausalLM`` from a size, with Pythia's initialisation."""

from __future__ import annotations

import math

import torch
from transformers import GPTNeoXConfig, GPTNeoXForCausalLM

from ckptscope.data.tokenizer import EOT_ID
from ckptscope.train.config import ModelSize

ROTARY_PCT = 0.25
# Output projections get Pythia's wang_init; every other matrix and the embeddings small_init.
WANG_INIT_SUFFIXES = ("attention.dense.weight", "mlp.dense_4h_to_h.weight")


def neox_config(size: ModelSize, vocab_size: int, seq_len: int) -> GPTNeoXConfig:
    """A GPT-NeoX config: parallel residual, rotary on 25% of head dims, untied, no dropout."""
    config = GPTNeoXConfig(
        vocab_size=vocab_size,
        hidden_size=size.width,
        num_hidden_layers=size.n_layers,
        num_attention_heads=size.heads,
        intermediate_size=4 * size.width,
        hidden_act="gelu",
        attention_dropout=0.0,
        hidden_dropout=0.0,
        max_position_embeddings=seq_len,
        layer_norm_eps=1e-5,
        bos_token_id=EOT_ID,
        eos_token_id=EOT_ID,
        tie_word_embeddings=False,
        use_parallel_residual=True,
        use_cache=True,  # for generation from a checkpoint; training passes use_cache=False
        dtype="float32",
        rope_parameters={
            "rope_type": "default",
            "rope_theta": 10000.0,
            "partial_rotary_factor": ROTARY_PCT,
        },
    )
    # Older transformers (4.x) read these names from config.json.
    config.rotary_pct = ROTARY_PCT
    config.rotary_emb_base = 10000
    config.architectures = ["GPTNeoXForCausalLM"]
    return config


@torch.no_grad()
def pythia_init(model: GPTNeoXForCausalLM, seed: int) -> None:
    """Re-initialise in place: small_init, wang_init for output projections, zero biases."""
    d = model.config.hidden_size
    n_layers = model.config.num_hidden_layers
    small = math.sqrt(2.0 / (5.0 * d))
    wang = 2.0 / (n_layers * math.sqrt(d))
    gen = torch.Generator().manual_seed(seed)
    # named_parameters order is fixed by the module tree, so the init is a function of seed.
    for name, p in model.named_parameters():
        if "layernorm" in name or "layer_norm" in name:
            p.fill_(1.0 if name.endswith("weight") else 0.0)
        elif name.endswith("bias"):
            p.zero_()
        else:
            std = wang if name.endswith(WANG_INIT_SUFFIXES) else small
            p.copy_(torch.randn(p.shape, generator=gen) * std)


def build_model(size: ModelSize, vocab_size: int, seq_len: int, seed: int) -> GPTNeoXForCausalLM:
    """A freshly initialised fp32 model (step 0) for ``size`` and ``seed``."""
    config = neox_config(size, vocab_size, seq_len)
    model = GPTNeoXForCausalLM(config)
    pythia_init(model, seed)
    return model.float()
