"""F15's rows: the stored log-spaced spectra, or whole spectra of older sweeps thinned alike."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ckptscope.figures import FIGURES, Query
from ckptscope.records import Array
from ckptscope.store import Store, TaskKey
from ckptscope.views.spectra import LOG_KIND, log_grid, log_meta, log_spectrum

MATRICES = [("embed", None), ("qkv", 0), ("qkv", 1), ("mlp_in", 0), ("mlp_in", 1)]
STEPS = (0, 10, 20, 30)


def spectrum(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    s = np.sort(rng.gamma(2.0, size=n))[::-1].copy()
    s[-2:] = 0  # rank-deficient: zeros are not drawn
    return s


def records(step: int, with_log: bool) -> list[Array]:
    """A spectra task: every singular value of each matrix (and of a head, which F15 does
    not draw); with the log-spaced copy when swept by a version that stores it."""
    out = []
    for i, (comp, block) in enumerate(MATRICES):
        s = spectrum(300 + 100 * i, seed=step * 10 + i)
        out.append(Array(comp, block, "weight", "singular_values", s))
        if with_log:
            values, positive = log_spectrum(s)
            out.append(Array(comp, block, "weight", LOG_KIND, values, meta=log_meta(positive)))
    out.append(Array("q", 0, "weight", "singular_values", spectrum(16, step), head=0))
    return out


def make(root, stored: dict[str, set[int]]) -> Store:
    """Models m1, m2 at STEPS; the steps in ``stored[model]`` hold the log-spaced copy."""
    store = Store(root)
    for model in ("m1", "m2"):
        for step in STEPS:
            store.write_task(TaskKey("S", model, step, "spectra"),
                             records(step, step in stored.get(model, set())))  # fmt: skip
    return store


def f15_rows(store: Store) -> pd.DataFrame:
    rows = FIGURES["F15"].rows(store, Query())
    return rows[["model", "step", "component", "block", "kind", "values", "ranks"]]


def assert_same(a: pd.DataFrame, b: pd.DataFrame) -> None:
    assert len(a) == len(b)
    for (_, x), (_, y) in zip(a.iterrows(), b.iterrows(), strict=True):
        assert (x.model, x.step, x.component, x.block) == (y.model, y.step, y.component, y.block)
        np.testing.assert_array_equal(x["values"], y["values"])
        np.testing.assert_array_equal(x["ranks"], y["ranks"])


@pytest.mark.parametrize("stored", [{}, {"m1": {0, 20}}, {"m2": set(STEPS)}])
def test_rows_are_the_same_whatever_the_sweep_stored(tmp_path, stored) -> None:
    every = {m: set(STEPS) for m in ("m1", "m2")}
    want = f15_rows(make(tmp_path / "new", every))
    assert_same(f15_rows(make(tmp_path / "mixed", stored)), want)
    # each picked step's whole matrices, once each, as log-spaced positive values
    assert len(want) == 2 * len(STEPS) * len(MATRICES)
    assert set(want.kind) == {LOG_KIND} and want.block.isna().sum() == 2 * len(STEPS)
    for _, r in want.iterrows():
        i = MATRICES.index((r.component, None if pd.isna(r.block) else int(r.block)))
        s = spectrum(300 + 100 * i, seed=int(r.step) * 10 + i)
        np.testing.assert_array_equal(r["ranks"], log_grid((s > 0).sum()))
        np.testing.assert_array_equal(r["values"], s[r["ranks"] - 1])


def test_whole_spectra_are_not_read_when_every_step_has_its_log_copy(tmp_path, monkeypatch):
    store = make(tmp_path, {m: set(STEPS) for m in ("m1", "m2")})
    kinds: list[object] = []
    real = Store.arrays

    def arrays(self, **where):
        kinds.append(where.get("kind"))
        return real(self, **where)

    monkeypatch.setattr(Store, "arrays", arrays)
    assert len(f15_rows(store)) == 2 * len(STEPS) * len(MATRICES)
    assert kinds == [LOG_KIND]


def test_a_hostile_meta_is_refused_in_one_line(tmp_path) -> None:
    store = Store(tmp_path)
    s = spectrum(300, 0)
    values, _ = log_spectrum(s)
    store.write_task(TaskKey("S", "m1", 0, "spectra"),
                     [Array("qkv", 0, "weight", LOG_KIND, values, meta='{"positive": "all"}')])  # fmt: skip
    with pytest.raises(
        ValueError, match=r"^F15: S/m1 step 0 qkv block 0: singular_values_log meta"
    ):
        FIGURES["F15"].rows(store, Query())


def test_values_and_ranks_of_different_lengths_are_refused_in_one_line(tmp_path) -> None:
    store = Store(tmp_path)
    store.write_task(TaskKey("S", "m1", 0, "spectra"),
                     [Array("qkv", 1, "weight", LOG_KIND, np.ones(5), meta=log_meta(300))])  # fmt: skip
    with pytest.raises(
        ValueError, match=r"^F15: S/m1 step 0 qkv block 1: 5 values for the \d+ ranks"
    ):
        FIGURES["F15"].rows(store, Query())


def test_two_suites_sharing_a_model_name_each_get_their_rows(tmp_path) -> None:
    """Suite A swept with the log-spaced copy, suite B before it: B's spectra are thinned."""
    store = Store(tmp_path)
    for suite, with_log in (("A", True), ("B", False)):
        for step in STEPS:
            store.write_task(TaskKey(suite, "m1", step, "spectra"), records(step, with_log))
    rows = FIGURES["F15"].rows(store, Query())
    assert len(rows) == 2 * len(STEPS) * len(MATRICES)
    a, b = (rows[rows.suite == s].reset_index(drop=True) for s in ("A", "B"))
    cols = ["model", "step", "component", "block", "kind", "values", "ranks"]
    assert_same(a[cols], b[cols])  # the same spectra, one stored thinned, one thinned here
