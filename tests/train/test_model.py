"""The Pythia-style model: architecture flags and initialisation."""

from __future__ import annotations

import math

import pytest
import torch

from ckptscope.errors import UsageError
from ckptscope.train import ModelSize, build_model


def test_architecture_flags() -> None:
    m = build_model(ModelSize(64, 2), vocab_size=300, seq_len=32, seed=0)
    c = m.config
    assert c.use_parallel_residual and not c.tie_word_embeddings
    assert c.rope_parameters["partial_rotary_factor"] == 0.25
    assert c.hidden_dropout == 0.0 and c.attention_dropout == 0.0
    assert c.intermediate_size == 256 and c.num_attention_heads == 2
    assert m.get_output_embeddings().weight.data_ptr() != m.gpt_neox.embed_in.weight.data_ptr()


def test_pythia_init_stds() -> None:
    d, n_layers = 256, 4
    m = build_model(ModelSize(d, n_layers), vocab_size=4096, seq_len=32, seed=3)
    small = math.sqrt(2 / (5 * d))
    wang = 2 / (n_layers * math.sqrt(d))
    for name, p in m.named_parameters():
        if "layernorm" in name or "layer_norm" in name:
            expected = 1.0 if name.endswith("weight") else 0.0
            assert torch.all(p == expected), name
        elif name.endswith("bias"):
            assert torch.all(p == 0), name
        else:
            std = (
                wang if name.endswith(("attention.dense.weight", "dense_4h_to_h.weight")) else small
            )
            assert p.double().std().item() == pytest.approx(std, rel=0.05), name
            assert abs(p.double().mean().item()) < 0.1 * std, name


def test_init_is_a_function_of_seed() -> None:
    a = build_model(ModelSize(32, 1), 300, 16, seed=1).state_dict()
    b = build_model(ModelSize(32, 1), 300, 16, seed=1).state_dict()
    c = build_model(ModelSize(32, 1), 300, 16, seed=2).state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not torch.equal(a["gpt_neox.embed_in.weight"], c["gpt_neox.embed_in.weight"])


def test_bad_size() -> None:
    with pytest.raises(UsageError, match="heads"):
        ModelSize(48, 1, n_heads=5)
    with pytest.raises(UsageError, match="positive"):
        ModelSize(0, 1)


def test_auto_threads() -> None:
    from ckptscope.train.loop import auto_threads

    assert auto_threads(ModelSize(64, 2)) == 1
    assert 1 <= auto_threads(ModelSize(1024, 2)) <= 8
