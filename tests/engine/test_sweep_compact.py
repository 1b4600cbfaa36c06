"""A sweep after a compaction writes only the new tasks; rows equal an uncompacted sweep."""

import pandas as pd

from ckptscope.engine import SweepConfig, run_sweep
from ckptscope.store import Store
from fakes import FakeSuite

SORT = ["model", "step", "component", "block", "param", "head", "metric"]


def _frame(root) -> pd.DataFrame:
    return Store(root).scalars().sort_values(SORT).reset_index(drop=True)


def test_sweep_compact_sweep_equals_one_sweep(tmp_path):
    suite = FakeSuite(models=("a",), steps=(0, 1, 2, 3))
    ref = SweepConfig(suite="fake", out=tmp_path / "ref", analyses=("weights",))
    assert run_sweep(ref, suite=suite).exit_code == 0
    config = SweepConfig(suite="fake", out=tmp_path / "store", analyses=("weights",), steps="0,1")
    assert run_sweep(config, suite=suite).exit_code == 0
    assert Store(tmp_path / "store").compact() == {"fake": 2}
    result = run_sweep(SweepConfig(**{**config.__dict__, "steps": None}), suite=suite)
    assert result.exit_code == 0 and result.skipped_done == 2 and result.written == 2
    assert len(list((tmp_path / "store/parts").rglob("tasks.parquet"))) == 2  # the new ones
    pd.testing.assert_frame_equal(_frame(tmp_path / "store"), _frame(tmp_path / "ref"))
