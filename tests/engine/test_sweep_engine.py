import numpy as np
import pytest

from ckptscope.engine import EXIT_SOME_FAILED, SweepConfig, run_sweep
from ckptscope.engine.plan import plan_sweep
from ckptscope.store import Store, TaskKey
from fakes import FakeSuite


def _config(tmp_path, **kw):
    return SweepConfig(suite="fake", out=tmp_path / "store", analyses=("weights",), **kw)


def _run(tmp_path, suite, **kw):
    from ckptscope.engine import sweep as sweep_mod

    # the fake suite is passed in directly; step selection still goes through select_steps
    cfg = _config(tmp_path, **kw)
    return sweep_mod.run_sweep(cfg, suite=suite)


def test_exact_rows_for_a_fake_suite(tmp_path):
    suite = FakeSuite()
    result = _run(tmp_path, suite)
    assert result.exit_code == 0 and not result.failed
    df = Store(tmp_path / "store").scalars()
    # 2 models x 4 steps x 6 tensors
    keys = df[["model", "step", "component", "block", "param"]].drop_duplicates()
    assert len(keys) == 2 * 4 * 6
    assert not df.duplicated(["model", "step", "component", "block", "param", "metric"]).any()
    first = df[(df.model == "a") & (df.step == 0) & (df.component == "embed")].set_index("metric")[
        "value"
    ]
    assert first["dist_init"] == 0.0 and "dist_prev" not in first.index
    later = df[(df.model == "a") & (df.step == 2) & (df.component == "embed")].set_index("metric")[
        "value"
    ]
    assert {"dist_init", "dist_prev", "rel_dist_init", "rel_dist_prev"} <= set(later.index)
    # zero-initialised biases have no relative distance from init, rather than a NaN
    bias = df[(df.step == 4) & (df.param == "bias")]
    assert "rel_dist_init" not in set(bias.metric) and not bias.value.isna().any()


def test_distances_match_numpy(tmp_path):
    suite = FakeSuite(models=("a",))
    _run(tmp_path, suite)
    df = Store(tmp_path / "store").scalars(model="a", component="mlp_in", block=1, param="weight")
    got = df.set_index(["step", "metric"])["value"]
    w = {s: suite.tensors_at("a", s)["blocks.1.mlp_in.weight"].double().numpy() for s in (0, 2, 4)}
    assert got[(4, "dist_init")] == pytest.approx(np.linalg.norm(w[4] - w[0]), rel=1e-12)
    assert got[(4, "dist_prev")] == pytest.approx(np.linalg.norm(w[4] - w[2]), rel=1e-12)
    assert got[(4, "rel_dist_init")] == pytest.approx(
        np.linalg.norm(w[4] - w[0]) / np.linalg.norm(w[0]), rel=1e-12
    )
    assert got[(4, "norm")] == pytest.approx(np.linalg.norm(w[4]), rel=1e-12)


def test_corrupt_checkpoint_is_recorded_and_others_complete(tmp_path):
    suite = FakeSuite(corrupt={("b", 2)})
    result = _run(tmp_path, suite)
    assert result.exit_code == EXIT_SOME_FAILED
    assert list(result.failed) == ["fake/b@step2:weights"]
    store = Store(tmp_path / "store")
    fails = store.failures()
    assert len(fails) == 1 and "corrupt" in fails.error[0] and fails.step[0] == 2
    assert len(store.done()) == 2 * 4 - 1
    # the failure stays until the checkpoint is readable; then a rerun fills the gap
    result = _run(tmp_path, FakeSuite())
    assert result.exit_code == 0 and result.written == 1
    assert store.failures().empty and len(store.done()) == 8


def test_rerun_skips_stored_tasks(tmp_path):
    suite = FakeSuite()
    _run(tmp_path, suite, steps="0,1")
    store = Store(tmp_path / "store")
    tasks, already = plan_sweep(suite, store, ("weights",), {"a": [0, 1, 2, 4], "b": [0, 1, 2, 4]})
    assert already == 4 and [(t.model, t.step) for t in tasks] == [
        ("a", 2),
        ("a", 4),
        ("b", 2),
        ("b", 4),
    ]
    assert tasks[0].previous_step == 1 and tasks[0].initial_step == 0
    result = _run(tmp_path, suite)
    assert result.skipped_done == 4 and result.written == 4


def test_unknown_analysis_and_model_are_usage_errors(tmp_path):
    from ckptscope.errors import UsageError

    with pytest.raises(ValueError, match="unknown analysis 'nope'"):
        run_sweep(SweepConfig(suite="fake", out=tmp_path, analyses=("nope",)), suite=FakeSuite())
    with pytest.raises(UsageError, match="no model 'zzz'"):
        run_sweep(
            SweepConfig(suite="fake", out=tmp_path, analyses=("weights",), models=("zzz",)),
            suite=FakeSuite(),
        )


def test_store_write_is_idempotent(tmp_path):
    store = Store(tmp_path)
    key = TaskKey("s", "m", 1, "weights")
    assert store.write_task(key, [])
    assert not store.write_task(key, [])
    assert store.done() == {key}


def test_rerun_with_other_options_warns_and_keeps_rows(tmp_path, caplog):
    suite = FakeSuite(models=("a",), steps=(0, 1))
    both = ("weights", "distributions")
    assert (
        run_sweep(SweepConfig(suite="fake", out=tmp_path, analyses=both), suite=suite).written == 4
    )
    cfg = SweepConfig(
        suite="fake", out=tmp_path, analyses=both, extra={"distribution_max_samples": 100}
    )
    with caplog.at_level("WARNING"):
        result = run_sweep(cfg, suite=suite)
    assert result.written == 0 and result.skipped_done == 4
    assert "made with other options" in caplog.text
    assert '"distribution_max_samples": 100' in caplog.text


def test_an_option_no_analysis_reads_is_refused(tmp_path):
    from ckptscope.errors import UsageError

    cfg = SweepConfig(
        suite="fake",
        out=tmp_path,
        analyses=("weights", "distributions"),
        extra={"distribution_max_sample": 100},
    )
    with pytest.raises(UsageError, match="'distribution_max_sample' is read by none"):
        run_sweep(cfg, suite=FakeSuite())


def test_nonfinite_metrics_are_left_out_and_named(tmp_path, monkeypatch):
    from ckptscope.analyses import base
    from ckptscope.analyses.base import Analysis, Scalar

    class _Nan(Analysis):
        name = "test_nan"

        def run(self, ctx):
            return [
                Scalar("embed", None, "weight", "ok", 1.0),
                Scalar("embed", None, "weight", "bad", float("nan")),
            ]

    monkeypatch.setitem(base._ANALYSES, "test_nan", _Nan)
    cfg = SweepConfig(suite="fake", out=tmp_path, analyses=("test_nan",))
    assert run_sweep(cfg, suite=FakeSuite(models=("a",), steps=(0,))).exit_code == 0
    store = Store(tmp_path)
    assert list(store.scalars().metric) == ["ok"]
    assert '"nonfinite_metrics": ["bad"]' in store.query("select meta from tasks").meta[0]
