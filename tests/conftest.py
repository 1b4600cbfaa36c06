"""Shared fixtures: small on-disk suites built inside the tests (no downloads)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch


def make_neox_folder_suite(root: Path, models=("tiny-a", "tiny-b"), steps=(0, 1, 2, 4, 8)) -> Path:
    """A folder of GPT-NeoX checkpoints ``<root>/<model>/step<N>/`` with drifting weights."""
    from transformers import GPTNeoXConfig, GPTNeoXForCausalLM

    for i, model in enumerate(models):
        config = GPTNeoXConfig(
            vocab_size=64,
            hidden_size=16 * (i + 1),
            num_hidden_layers=2,
            num_attention_heads=2,
            intermediate_size=64 * (i + 1),
            max_position_embeddings=32,
            rotary_pct=0.25,
            use_parallel_residual=True,
            tie_word_embeddings=False,
        )
        torch.manual_seed(i)
        net = GPTNeoXForCausalLM(config)
        for step in steps:
            with torch.no_grad():
                for p in net.parameters():
                    p.add_(0.01 * torch.randn_like(p))
            net.save_pretrained(root / model / f"step{step}", safe_serialization=True)
    return root


@pytest.fixture(scope="session")
def neox_folder_suite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two tiny GPT-NeoX models with five checkpoints each, as Hugging Face folders."""
    return make_neox_folder_suite(tmp_path_factory.mktemp("neox_suite"))


@pytest.fixture(scope="session")
def report_store(tmp_path_factory: pytest.TempPathFactory):
    """A small store with a row of every kind the figures draw (see ``report_store.py``)."""
    from report_store import make_report_store

    return make_report_store(tmp_path_factory.mktemp("report") / "store")
