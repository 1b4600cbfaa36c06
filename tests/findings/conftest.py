"""Planted stores: trajectories whose verdicts are known, written through the real Store."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from ckptscope.analyses.base import Scalar
from ckptscope.store import Store
from ckptscope.store.store import TaskKey

STEPS = (0, 100, 200, 400, 800, 1600, 3200, 6400)

#: (model, component, block, param, metric) -> values per step
Rows = dict[tuple[str, str, int | None, str, str], list[float]]


def write_store(root: Path, rows: Rows, steps: tuple[int, ...] = STEPS) -> Store:
    """One ``weights`` task per (model, step) holding the planted scalars."""
    store = Store(root)
    models = sorted({k[0] for k in rows})
    for model in models:
        for i, step in enumerate(steps):
            recs = [
                Scalar(comp, block, param, metric, float(values[i]))
                for (m, comp, block, param, metric), values in rows.items()
                if m == model and i < len(values)
            ]
            store.write_task(TaskKey("planted", model, step, "weights"), recs)
    return store


def peaked(n: int = len(STEPS), peak: int = 4, base: float = 10.0) -> list[float]:
    """Rises 20% to index ``peak``, then declines 10%."""
    up = np.linspace(base, base * 1.2, peak + 1)
    down = np.linspace(base * 1.2, base * 1.08, n - peak)[1:]
    return [*up, *down]


def rising(n: int = len(STEPS), base: float = 10.0) -> list[float]:
    return list(np.linspace(base, base * 1.3, n))


@pytest.fixture
def planted(tmp_path: Path) -> Callable[..., Store]:
    def make(rows: Rows, steps: tuple[int, ...] = STEPS) -> Store:
        return write_store(tmp_path / "store", rows, steps)

    return make
