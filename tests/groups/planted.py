"""Planted stores of several suites and seeds, written through the real Store."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from ckptscope.analyses.base import Scalar
from ckptscope.store import Store
from ckptscope.store.store import TaskKey

STEPS = (0, 10, 20, 40, 80)
N_BLOCKS = 2

#: (suite, model) -> value of (component, block, step index)
Curve = Callable[[str, int | None, int], float]


def seed_curve(offset: float) -> Curve:
    """A rising norm, shifted by ``offset`` (a seed's own level)."""
    return lambda comp, block, i: 10.0 + 1.5 * i + (block or 0) + offset + 0.37 * i * offset


def write(root: Path, curves: dict[tuple[str, str], Curve], steps=STEPS) -> Store:
    """One ``weights`` task per (suite, model, step): mlp_in per block and the embedding."""
    store = Store(root)
    for (suite, model), curve in curves.items():
        for i, step in enumerate(steps):
            recs = [Scalar("mlp_in", b, "weight", "norm", curve("mlp_in", b, i))
                    for b in range(N_BLOCKS)]  # fmt: skip
            recs.append(Scalar("embed", None, "weight", "norm", curve("embed", None, i)))
            store.write_task(TaskKey(suite, model, step, "weights"), recs)
    return store
