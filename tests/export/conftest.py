"""The exporters' store (``stores.py``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ckptscope.store import Store
from export.stores import build_store


@pytest.fixture
def small_store(tmp_path: Path) -> Store:
    return build_store(tmp_path / "store")
