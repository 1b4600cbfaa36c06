"""Tiny GPT-NeoX checkpoint folders shared by the model tests (built once per session)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ckptscope.models.tiny import write_tiny_checkpoints


@pytest.fixture(scope="session")
def tiny_folders(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Three checkpoints of one tiny model, each with different random weights."""
    return write_tiny_checkpoints(tmp_path_factory.mktemp("tiny"), (0, 10, 20))
