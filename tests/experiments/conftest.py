"""Fixtures for the experiment tests: a micro source suite trained inside the session."""

from __future__ import annotations

from pathlib import Path

import pytest

from ckptscope.data.corpus import train_text
from ckptscope.train import ModelSize, SuiteConfig, TrainConfig, train_suite


@pytest.fixture(autouse=True)
def _token_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep the token cache inside the test session, never in the user's home."""
    monkeypatch.setenv("CKPTSCOPE_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "cache"))


MICRO = SuiteConfig(
    name="micro",
    sizes=(ModelSize(32, 1),),
    seeds=(0,),
    train=TrainConfig(
        steps=16, batch_size=4, seq_len=16, lr=3e-3, n_even_checkpoints=4, heldout_tokens=256
    ),
)


@pytest.fixture(scope="session")
def source_suite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A one-model (``w32``) offline-trained suite on a 100 kB corpus: seconds."""
    root = tmp_path_factory.mktemp("source")
    corpus = root / "small.txt"
    corpus.write_text(train_text()[:100_000])
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CKPTSCOPE_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "cache"))
        return train_suite(root / "suite", config=MICRO, corpus=corpus)
