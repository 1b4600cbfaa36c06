"""The weights analysis read tensor-major over a series of checkpoints (analyses/weights.py).

The series path must give, row for row, what the per-checkpoint path gives (three reads
per tensor per step) and what today's algorithm kept here gives; it must read each
checkpoint's tensor once per series and hold only a few tensors at a time.
"""

from __future__ import annotations

import json
import weakref
from contextlib import ExitStack

import numpy as np
import pandas as pd
import pytest

from ckptscope.adapters import get_adapter
from ckptscope.analyses.base import CheckpointContext
from ckptscope.engine import SweepConfig
from ckptscope.engine import sweep as sweep_mod
from ckptscope.engine.plan import SERIES_STEPS
from ckptscope.errors import CheckpointError
from ckptscope.sources import open_suite
from ckptscope.sources.base import Suite
from ckptscope.sources.host import HostTensor
from ckptscope.stats.moments import l2_distance_and_norm, moments
from ckptscope.store import Store
from fakes import FakeCheckpoint, FakeSuite

SORT = ["model", "step", "component", "block", "param", "metric"]


def _sweep(suite_or_path, out, monkeypatch=None, per_step=False, steps=None):
    """A weights sweep; ``per_step`` cuts the plan into one-task series (three reads/step)."""
    if per_step:
        monkeypatch.setattr(sweep_mod, "series_groups", lambda tasks: [[t] for t in tasks])
    suite = suite_or_path if isinstance(suite_or_path, Suite) else None
    path = "fake" if suite is not None else str(suite_or_path)
    config = SweepConfig(suite=path, out=out, analyses=("weights",), steps=steps)
    result = sweep_mod.run_sweep(config, suite=suite)
    if per_step:
        monkeypatch.undo()
    return result


def _frame(out) -> pd.DataFrame:
    return Store(out).scalars().sort_values(SORT).reset_index(drop=True)


def _metas(out) -> pd.DataFrame:
    """Each task's meta without its timing."""
    tasks = Store(out).query("select model, step, analysis, meta from tasks")
    tasks["meta"] = [
        json.dumps({k: v for k, v in json.loads(m).items() if k != "seconds"}, sort_keys=True)
        for m in tasks.meta
    ]
    return tasks.sort_values(["model", "step"]).reset_index(drop=True)


def _reference(path, model: str, steps: list[int]) -> pd.DataFrame:
    """Today's algorithm, kept here: per step, every tensor and its references read from
    their files, then ``moments`` and ``l2_distance_and_norm`` on each."""
    suite = open_suite(str(path))
    rows = []
    for i, step in enumerate(steps):
        with ExitStack() as stack:
            ckpt = stack.enter_context(suite.open(model, step))
            init = ckpt if i == 0 else stack.enter_context(suite.open(model, steps[0]))
            prev = None if i == 0 else stack.enter_context(suite.open(model, steps[i - 1]))
            ctx = CheckpointContext(
                "x", ckpt, get_adapter(ckpt.config()), initial=init, previous=prev
            )
            for comp in ctx.components():
                w = ctx.read(comp, dtype=None, cache=False)
                m = moments(w)
                metrics = m.as_metrics()
                for which, ref_ckpt in (("init", init), ("prev", prev)):
                    if ref_ckpt is None:
                        continue
                    if ref_ckpt is ckpt:
                        dist, ref_norm = 0.0, m.norm
                    else:
                        ref = ctx.read(
                            comp, "initial" if which == "init" else "previous", dtype=None
                        )
                        dist, ref_norm = l2_distance_and_norm(w, ref.to(w.dtype))
                    metrics[f"dist_{which}"] = dist
                    if ref_norm > 0:
                        metrics[f"rel_dist_{which}"] = dist / ref_norm
                for metric, value in metrics.items():
                    rows.append(
                        (model, step, comp.component, comp.block, comp.param, metric, value)
                    )
    return pd.DataFrame(rows, columns=[*SORT, "value"])


def test_series_rows_equal_per_step_rows_and_the_kept_reference(
    neox_folder_suite, tmp_path, monkeypatch
):
    series, per_step = tmp_path / "series", tmp_path / "per_step"
    assert not _sweep(neox_folder_suite, series).failed
    assert not _sweep(neox_folder_suite, per_step, monkeypatch, per_step=True).failed
    got, want = _frame(series), _frame(per_step)
    assert len(got) > 0
    pd.testing.assert_frame_equal(got, want)  # exact: same kernels, same data
    pd.testing.assert_frame_equal(_metas(series), _metas(per_step))

    model = "tiny-a"
    ref = _reference(neox_folder_suite, model, [0, 1, 2, 4, 8])
    mine = got[got.model == model].reset_index(drop=True)[[*SORT, "value"]]
    ref = ref[ref.metric != "numel"].sort_values(SORT).reset_index(drop=True)  # bookkeeping
    mine = mine[mine.metric.isin(set(ref.metric))].reset_index(drop=True)  # not derived rows
    mine = mine.assign(block=mine.block.astype("float64"))
    ref = ref.assign(block=ref.block.astype("float64"))
    pd.testing.assert_frame_equal(mine, ref, check_dtype=False, rtol=0, atol=0)


def test_series_distances_against_numpy_float64(tmp_path):
    suite = FakeSuite(models=("a",), steps=(0, 1, 2, 4))
    _sweep(suite, tmp_path / "s")
    df = Store(tmp_path / "s").scalars(model="a", component="embed", param="weight")
    got = df.set_index(["step", "metric"])["value"]
    w = {s: suite.tensors_at("a", s)["embed.weight"].double().numpy() for s in (0, 1, 2, 4)}
    for step, prev in ((1, 0), (2, 1), (4, 2)):
        assert got[(step, "dist_prev")] == pytest.approx(
            np.linalg.norm(w[step] - w[prev]), rel=1e-12
        )
        assert got[(step, "dist_init")] == pytest.approx(np.linalg.norm(w[step] - w[0]), rel=1e-12)
        assert got[(step, "norm")] == pytest.approx(np.linalg.norm(w[step]), rel=1e-12)


class CountingSuite(FakeSuite):
    """A fake suite that counts reads per (model, step, tensor) and tracks live tensors."""

    def __init__(self, *args, missing=None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.reads: dict[tuple[str, int, str], int] = {}
        self.alive = 0
        self.max_alive = 0
        self.missing = missing or {}  # (model, step) -> tensor name left out

    def tensors_at(self, model, step):
        out = super().tensors_at(model, step)
        out.pop(self.missing.get((model, step), ""), None)
        return out

    def open(self, model, step):
        suite = self
        base = super().open(model, step)

        class Counting(FakeCheckpoint):
            def read(self, name):
                return suite._count((model, step, name), self._read(name))

            def read_host(self, name):  # what the weights analysis reads
                host = HostTensor.from_torch(self._read(name))
                return suite._count((model, step, name), host)

            def _read(self, name):
                if name not in self._t:  # as a file reader says it
                    raise CheckpointError(f"fake/{model}/step{step}: no tensor {name!r}")
                return super().read(name)

        return Counting(model, step, base._t, base._fail)

    def _count(self, key, tensor):
        """Count a read of ``key`` and keep track of ``tensor`` until it is freed."""
        self.reads[key] = self.reads.get(key, 0) + 1
        self.alive += 1
        self.max_alive = max(self.max_alive, self.alive)
        weakref.finalize(tensor, self._freed)
        return tensor

    def _freed(self) -> None:
        self.alive -= 1


def test_each_tensor_is_read_once_per_series(tmp_path, monkeypatch):
    steps = (0, 1, 2, 4, 8)
    suite = CountingSuite(models=("a", "b"), steps=steps)
    _sweep(suite, tmp_path / "series")
    names = suite.tensors_at("a", 0)
    assert set(suite.reads) == {(m, s, n) for m in ("a", "b") for s in steps for n in names}
    assert set(suite.reads.values()) == {1}

    # the per-step path (what other executors run): current, initial and previous each
    suite = CountingSuite(models=("a",), steps=steps)
    _sweep(suite, tmp_path / "per_step", monkeypatch, per_step=True)
    per_tensor = {s: suite.reads[("a", s, "embed.weight")] for s in steps}
    # step 0: as current, initial of all 4 later steps; step 1 as current and previous ...
    assert per_tensor == {0: 1 + 4, 1: 2, 2: 2, 4: 2, 8: 1}


def test_resumed_series_reads_its_references_once(tmp_path):
    steps = (0, 1, 2, 4, 8)
    out = tmp_path / "s"
    suite = CountingSuite(models=("a",), steps=steps)
    _sweep(suite, out, steps="0,1")
    suite = CountingSuite(models=("a",), steps=steps)
    _sweep(suite, out)  # steps 2, 4, 8 remain: initial 0 and previous 1 come from files
    assert {k[1] for k in suite.reads} == {0, 1, 2, 4, 8}
    assert set(suite.reads.values()) == {1}
    assert set(_frame(out).step) == set(steps)


def test_a_series_holds_at_most_four_tensors(tmp_path):
    steps = tuple(range(SERIES_STEPS))
    suite = CountingSuite(models=("a",), steps=steps)
    assert not _sweep(suite, tmp_path / "s").failed
    assert len({k[1] for k in suite.reads}) == SERIES_STEPS  # one series of 8 checkpoints
    # initial, previous, current, and the next one read ahead
    assert 3 <= suite.max_alive <= 4


@pytest.mark.parametrize(
    "kind", ["corrupt", "missing"], ids=["corrupt-step", "tensor-missing-at-a-step"]
)
def test_a_bad_step_in_a_series_fails_as_it_does_per_step(tmp_path, monkeypatch, kind):
    def suite():
        if kind == "corrupt":
            return CountingSuite(models=("a",), steps=(0, 1, 2, 4, 8), corrupt={("a", 2)})
        return CountingSuite(
            models=("a",), steps=(0, 1, 2, 4, 8), missing={("a", 2): "blocks.0.mlp_in.bias"}
        )

    series = _sweep(suite(), tmp_path / "series")
    per_step = _sweep(suite(), tmp_path / "per_step", monkeypatch, per_step=True)
    assert series.failed == per_step.failed
    assert len(series.failed) == (1 if kind == "corrupt" else 0)
    got, want = _frame(tmp_path / "series"), _frame(tmp_path / "per_step")
    pd.testing.assert_frame_equal(got, want)
    pd.testing.assert_frame_equal(_metas(tmp_path / "series"), _metas(tmp_path / "per_step"))
    after = got[(got.step == 4) & (got.component == "mlp_in") & (got.block == 0)]
    after = after[after.param == "weight"]
    # step 4's previous is the bad step: distances to it are left out (from the first
    # tensor that cannot be read there on), those to the initial kept
    assert "dist_init" in set(after.metric) and "dist_prev" not in set(after.metric)
    assert "dist_prev" in set(got[got.step == 8].metric)
