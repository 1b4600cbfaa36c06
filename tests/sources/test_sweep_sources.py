"""`run_sweep` over every kind of source: the Hub cache (offline, streaming too) and folders."""

from __future__ import annotations

import pytest

from ckptscope.engine import SweepConfig, run_sweep
from ckptscope.store import Store
from sources.builders import add_revision, write_checkpoint

REPO = "EleutherAI/pythia-14m"


@pytest.fixture
def hub_suite(hub_cache, tmp_path):
    """Three revisions in three formats; step 2 repeats step 0's weights (as on the Hub)."""
    for step, seed, fmt in ((0, 0, "safetensors"), (1, 1, "bin"), (2, 0, "sharded")):
        src = write_checkpoint(tmp_path / "src" / f"step{step}", seed=seed, fmt=fmt)
        add_revision(hub_cache, REPO, f"step{step}", src)
    return hub_cache


@pytest.mark.parametrize("max_disk", [None, "1GB"])
def test_sweep_from_the_hub_cache_offline(hub_suite, tmp_path, max_disk):
    out = tmp_path / "store"
    cfg = SweepConfig(
        suite=f"hf:{REPO}",
        out=out,
        steps="0,1,2",
        analyses=("weights", "integrity"),
        max_disk=max_disk,
    )
    result = run_sweep(cfg)
    assert result.exit_code == 0, result.failed
    store = Store(out)
    df = store.scalars(metric="norm")
    assert sorted(df.step.unique()) == [0, 1, 2]
    dist = store.scalars(metric="dist_init", step=2)
    assert (dist.value == 0).all()  # step 2 holds step 0's weights
    events = store.events()
    assert any(events.kind == "duplicate_checkpoint") and "0 and 2" in " ".join(events.message)


def test_sweep_folder_of_checkpoints_by_name(tmp_path):
    for name, seed in (("checkpoint-10", 0), ("checkpoint-20", 1)):
        write_checkpoint(tmp_path / "run" / name, seed=seed, fmt="safetensors")
    result = run_sweep(
        SweepConfig(suite=str(tmp_path / "run"), out=tmp_path / "s", analyses=("weights",))
    )
    assert result.exit_code == 0
    assert sorted(Store(tmp_path / "s").scalars().step.unique()) == [10, 20]
