"""Fixtures for the trainer tests: a small user corpus and a micro suite config."""

from __future__ import annotations

from pathlib import Path

import pytest

from ckptscope.data.corpus import train_text
from ckptscope.train import ModelSize, SuiteConfig, TrainConfig


@pytest.fixture(autouse=True)
def _token_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep the token cache inside the test session, never in the user's home."""
    monkeypatch.setenv("CKPTSCOPE_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "cache"))


@pytest.fixture(scope="session")
def small_corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 100 kB slice of the shipped train text as a user corpus file."""
    path = tmp_path_factory.mktemp("corpus") / "small.txt"
    path.write_text(train_text()[:100_000])
    return path


@pytest.fixture
def micro() -> SuiteConfig:
    """One width, two seeds, 12 steps of 4 x 16 tokens: well under a second per model."""
    return SuiteConfig(
        name="micro",
        sizes=(ModelSize(32, 1),),
        seeds=(0, 1),
        train=TrainConfig(
            steps=12, batch_size=4, seq_len=16, lr=3e-3, n_even_checkpoints=3, heldout_tokens=256
        ),
    )
