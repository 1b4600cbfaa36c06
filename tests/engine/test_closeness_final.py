"""SVD closeness is measured against the model's final checkpoint, not the last one swept."""

from ckptscope.engine import SweepConfig, run_sweep
from ckptscope.store import Store


def test_closeness_waits_for_the_final_checkpoint(neox_folder_suite, tmp_path):
    def sweep(steps):
        cfg = SweepConfig(
            suite=str(neox_folder_suite),
            out=tmp_path,
            models=("tiny-a",),
            steps=steps,
            analyses=("svd_directions",),
        )
        assert run_sweep(cfg).exit_code == 0

    sweep("0,1")
    store = Store(tmp_path)
    assert store.scalars(metric="svd_exact").empty
    (message,) = store.events().message
    assert "needs the final checkpoint (step 8)" in message

    sweep("last")
    df = store.scalars(metric="svd_exact", component="all").set_index("step")["value"]
    assert sorted(df.index) == [0, 1, 8] and df[8] == 1.0 and df[0] < 1.0
    assert store.events().empty
