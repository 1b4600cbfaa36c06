"""F13 drawing: files written from stored rows, the last step's order, frame capping."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ckptscope.plots.embeddings import draw_f13, even_pick, final_order
from ckptscope.records import Array
from ckptscope.report.figures import ReportOptions
from ckptscope.store import Store
from ckptscope.store.store import TaskKey


def _store(root: Path, steps=(0, 10, 20)) -> Store:
    store = Store(root)
    rng = np.random.default_rng(0)
    labels = tuple(["$x$", "<script>alert(1)</script>", *[f"t{i}" for i in range(6)]])
    for step in steps:
        x = rng.normal(size=(8, 5))
        corr = np.corrcoef(x)
        order = np.arange(8)[::-1] if step == steps[-1] else np.arange(8)
        recs = [
            Array("embed", None, "weight", "embed_corr", corr, labels),
            Array("embed", None, "weight", "embed_order", order),
            Array("embed", None, "weight", "embed_corr_tokens", corr[:4, :4], labels[:4]),
            Array("embed", None, "weight", "embed_order_tokens", np.arange(4)),
        ]
        store.write_task(TaskKey("s", "m/1", step, "embeddings"), recs)
    return store


def test_draw_f13_writes_png_and_gif(tmp_path: Path) -> None:
    store = _store(tmp_path / "store")
    paths = draw_f13(store, tmp_path / "out", ReportOptions())
    names = {p.name for p in paths}
    assert {"F13_m_1.png", "F13_m_1.gif"} <= names
    assert all(p.stat().st_size > 0 for p in paths)


def test_draw_f13_static_only_and_empty(tmp_path: Path) -> None:
    store = _store(tmp_path / "store")
    paths = draw_f13(
        store, tmp_path / "out", ReportOptions(animations=False, formats=("png", "svg"))
    )
    assert sorted(p.suffix for p in paths) == [".png", ".svg"]
    assert draw_f13(Store(tmp_path / "empty"), tmp_path / "o2", ReportOptions()) == []


def test_final_order_is_last_steps_row(tmp_path: Path) -> None:
    arrays = _store(tmp_path / "store").arrays(kind="embed_order")
    np.testing.assert_array_equal(final_order(arrays, "m/1", "embed_order"), np.arange(8)[::-1])
    assert final_order(arrays, "other", "embed_order") is None


@pytest.mark.parametrize(("n", "cap"), [(5, 60), (200, 60), (61, 60), (2, 1)])
def test_even_pick(n: int, cap: int) -> None:
    picks = even_pick(n, cap)
    assert len(picks) <= max(cap, 2) and picks[0] == 0 and picks[-1] == n - 1
    assert picks == sorted(set(picks))
