"""update_rates: distances to the previous swept checkpoint per training step."""

from __future__ import annotations

import numpy as np

from ckptscope.analyses.updates import UpdateRates
from ckptscope.records import Scalar
from ckptscope.store import Store
from ckptscope.store.store import TaskKey

#: uneven spacing, as Pythia's (log-spaced early, then every 1000)
STEPS = (0, 1, 2, 4, 8, 16, 100, 1000, 2000, 3000)
DRIFT = 0.003  # distance moved per step (a straight walk)
NORM = 10.0


def _planted(root) -> Store:
    store = Store(root)
    for i, step in enumerate(STEPS):
        prev = STEPS[i - 1] if i else None
        recs = [Scalar("mlp_in", b, "weight", "norm", NORM) for b in range(2)]
        if prev is not None:
            gap = step - prev
            recs += [Scalar("mlp_in", b, "weight", "dist_prev", DRIFT * gap) for b in range(2)]
            recs += [Scalar("mlp_in", b, "weight", "rel_dist_prev", DRIFT * gap / NORM)
                     for b in range(2)]  # fmt: skip
        meta = {"initial_step": 0, "previous_step": prev, "final_step": STEPS[-1]}
        store.write_task(TaskKey("s", "m", step, "weights"), recs, meta=meta)
    return store


def test_uneven_spacing_gives_a_constant_rate(tmp_path) -> None:
    store = _planted(tmp_path / "store")
    derived = UpdateRates().derive(store.for_suite("s"))
    store.write_derived(UpdateRates.name, "s", derived)
    rates = store.scalars(metric="dist_prev_per_step").sort_values("step")
    assert sorted(set(rates.step)) == list(STEPS[1:])  # step 0 has no previous checkpoint
    np.testing.assert_allclose(rates.value, DRIFT, rtol=1e-6)
    rel = store.scalars(metric="rel_dist_prev_per_step")
    np.testing.assert_allclose(rel.value, DRIFT / NORM, rtol=1e-6)
    raw = store.scalars(metric="dist_prev")
    assert raw.value.max() / raw.value.min() > 100  # the raw distance follows the spacing


def test_no_previous_step_no_rate(tmp_path) -> None:
    store = Store(tmp_path / "store")
    store.write_task(TaskKey("s", "m", 5, "weights"),
                     [Scalar("qkv", 0, "weight", "dist_prev", 1.0)], meta={"previous_step": None})  # fmt: skip
    store.write_task(TaskKey("s", "m", 6, "weights"),
                     [Scalar("qkv", 0, "weight", "dist_prev", 1.0)], meta={})  # fmt: skip
    assert UpdateRates().derive(store.for_suite("s")).scalars == []
