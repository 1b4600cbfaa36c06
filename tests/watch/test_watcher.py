"""The Watcher on a hand-written loop: a sweep's rows, an untouched run, the budget, resume."""

from __future__ import annotations

import copy
import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

import ckptscope as cs
from ckptscope.analyses.spectra import Spectra
from ckptscope.data.corpus import CORPUS_DIR
from ckptscope.errors import UsageError
from ckptscope.watch import OVER_BUDGET, SKIPPED
from watch_toy import EVAL, FakeClock, table, tiny, train

SCHEDULE = [0, 1, 2, 4, 8]


def test_rows_are_those_of_a_sweep_of_the_same_weights(tmp_path: Path) -> None:
    analyses = ["weights", "spectra", "activations", "gradients"]
    model, clock, copies = tiny(), FakeClock(), {}
    watcher = cs.Watcher(tmp_path / "live", model, SCHEDULE, analyses, budget=1.0, name="toy",
                         tokenizer=CORPUS_DIR, options=EVAL, clock=clock)  # fmt: skip

    def on_step(step: int) -> None:
        clock.now += 100.0  # training dominates: every analysis fits
        watcher.step(step)
        if step in SCHEDULE:
            copies[step] = copy.deepcopy(model)

    train(model, SCHEDULE[-1], on_step)
    summary = watcher.close()
    # at step 0 nothing fits (no training yet); its analyses ran later on its held copy
    assert summary.steps_watched == SCHEDULE and summary.skipped == {} and not summary.failed
    assert summary.written == len(SCHEDULE) * len(analyses)
    swept = cs.sweep(models={"toy": copies}, out=tmp_path / "swept", analyses=analyses,
                     tokenizer=CORPUS_DIR, options=EVAL, progress=False)  # fmt: skip
    assert swept.failed == {}
    live, post = cs.Store(tmp_path / "live"), cs.Store(tmp_path / "swept")
    a, b = table(live, "scalars", ["suite"]), table(post, "scalars", ["suite"])
    assert len(a) > 0 and set(a.step) == set(SCHEDULE)
    pd.testing.assert_frame_equal(a, b, check_exact=True)
    a, b = table(live, "arrays", ["suite"]), table(post, "arrays", ["suite"])
    pd.testing.assert_frame_equal(a.drop(columns="values"), b.drop(columns="values"))
    for x, y in zip(a["values"], b["values"], strict=True):
        np.testing.assert_array_equal(x, y)
    # the reference steps of each task are the sweep's
    cols = ["step", "analysis", "initial_step", "previous_step", "final_step"]
    ta, tb = (_task_refs(s)[cols] for s in (live, post))
    pd.testing.assert_frame_equal(ta, tb)
    assert not live.events()[lambda e: e.kind == SKIPPED].shape[0]


def _task_refs(store: cs.Store) -> pd.DataFrame:
    return store.query(
        "select step, analysis, cast(json_extract(meta, '$.initial_step') as bigint) as "
        "initial_step, cast(json_extract(meta, '$.previous_step') as bigint) as previous_step, "
        "cast(json_extract(meta, '$.final_step') as bigint) as final_step from tasks "
        "order by step, analysis"
    )


def _run(tmp_path: Path | None, analyses: list[str]) -> tuple[torch.nn.Module, dict]:
    """Train a toy run (with a watcher into ``tmp_path``, if given); its weights and
    optimizer state, after checking at every step that the watcher left the run alone."""
    torch.manual_seed(7)
    np.random.seed(7)
    model, clock = tiny(), FakeClock()
    watcher = None
    if tmp_path is not None:
        watcher = cs.Watcher(tmp_path, model, SCHEDULE, analyses, budget=1.0, name="toy",
                             tokenizer=CORPUS_DIR, options=EVAL, clock=clock)  # fmt: skip

    def on_step(step: int) -> None:
        clock.now += 100.0
        grads = [None if p.grad is None else p.grad.clone() for p in model.parameters()]
        if watcher is not None:
            watcher.step(step)
        assert model.training and torch.is_grad_enabled()
        for p, g in zip(model.parameters(), grads, strict=True):
            assert (p.grad is None) == (g is None) and (g is None or torch.equal(p.grad, g))

    opt = train(model, 12, on_step)
    if watcher is not None:
        watcher.close()
    return model, opt.state_dict()


def test_the_run_is_bit_identical_with_and_without_a_watcher(tmp_path: Path) -> None:
    # The loop draws its batches from the global torch and numpy streams; the evaluation
    # pass builds a model (random init) and back-propagates: all of it must stay invisible.
    analyses = ["weights", "activations", "gradients", "distributions"]
    watched, watched_opt = _run(tmp_path / "store", analyses)
    plain, plain_opt = _run(None, analyses)
    for (name, a), b in zip(watched.state_dict().items(), plain.state_dict().values(), strict=True):
        assert torch.equal(a, b), name
    for key, state in watched_opt["state"].items():
        for k, v in state.items():
            assert torch.equal(v, plain_opt["state"][key][k]), (key, k)
    ran = cs.Store(tmp_path / "store").query("select distinct analysis from tasks").analysis
    assert set(ran) == set(analyses)  # the expensive ones did run


def test_the_budget_is_kept_by_counting_the_work(tmp_path: Path, monkeypatch) -> None:
    """Spectra cost 2 s a run, training 1 s a step: unbounded they would take half the time."""
    cost, fraction, steps = 2.0, 0.05, 120
    schedule = list(range(0, steps + 1, 4))
    clock = FakeClock()
    original = Spectra.run

    def costly(self, ctx):
        clock.now += cost
        return original(self, ctx)

    monkeypatch.setattr(Spectra, "run", costly)
    model = tiny(blocks=1)
    watcher = cs.Watcher(tmp_path, model, schedule, ["weights", "spectra"], budget=fraction,
                         name="toy", clock=clock)  # fmt: skip

    def on_step(step: int) -> None:
        if step:
            clock.now += 1.0  # one training step
        watcher.step(step)
        # apart from spectra's first (unmeasured) run, the watcher stays in its budget
        assert watcher.budget.spent <= fraction * watcher.budget.training + cost

    train(model, steps, on_step)
    summary = watcher.close()
    store = cs.Store(tmp_path)
    ran = sorted(store.query("select step from tasks where analysis = 'spectra'").step)
    assert ran == _expected_spectra_steps(schedule, cost, fraction)
    assert 3 <= len(ran) < len(schedule) / 4
    assert summary.watch_seconds == pytest.approx(cost * len(ran))
    assert summary.training_seconds == pytest.approx(steps)
    weights = store.query("select step from tasks where analysis = 'weights'").step
    assert sorted(weights) == schedule  # cheap statistics at every watched step
    events = store.events()
    skipped = events[(events.kind == SKIPPED) & (events.source == "watch-toy")]
    assert sorted(skipped.step) == sorted(set(schedule) - set(ran))
    assert skipped.message.str.startswith(f"spectra: {OVER_BUDGET}").all()
    assert summary.skipped == {"spectra": len(schedule) - len(ran)}


def _expected_spectra_steps(schedule: list[int], cost: float, fraction: float) -> list[int]:
    """The budget's rule, replayed naively: a run of unknown cost goes while under budget,
    later runs when ``spent + cost <= fraction * training``; step 0's left-out run goes
    first at a later step, on its held copy."""
    spent = training = 0.0
    known, pending, ran = False, False, []
    for step in range(schedule[-1] + 1):
        if step:
            training += 1.0
        if step not in schedule:
            continue
        for target in ([0] if pending else []) + [step]:
            fits = spent + cost <= fraction * training if known else spent < fraction * training
            if fits:
                spent, known = spent + cost, True
                ran.append(target)
                pending = pending and target != 0
            elif target == step == 0:
                pending = True
    return sorted(ran)


def test_a_resumed_run_appends(tmp_path: Path) -> None:
    schedule = [0, 2, 4, 8, 12, 16]
    torch.manual_seed(0)
    model, clock = tiny(), FakeClock()
    first = cs.Watcher(tmp_path, model, schedule, ["weights"], name="toy", clock=clock)

    def tick(watcher):
        def on_step(step: int) -> None:
            clock.now += 1.0
            watcher.step(step)

        return on_step

    opt = train(model, 10, tick(first))  # "crashes" after step 10: never closed
    assert first.steps_watched == [0, 2, 4, 8]
    # a new process resumes at step 8 from its checkpoint (here: the same weights again)
    second = cs.Watcher(tmp_path, model, schedule, ["weights"], name="toy", clock=clock)
    train(model, 16, tick(second), start=10, opt=opt)
    assert second.close().written == 2 and second.steps_watched == [12, 16]
    tasks = cs.Store(tmp_path).query("select step, count(*) as n from tasks group by step")
    assert dict(zip(tasks.step, tasks.n, strict=True)) == dict.fromkeys(schedule, 1)
    # it holds no copy of steps it did not watch: step 12 has no distances, step 16 has
    # the one from 12; neither has one from the initial weights (no copy of them held)
    store = cs.Store(tmp_path)
    assert set(store.scalars(metric="dist_prev").step) == {2, 4, 8, 16}
    for metric in ("dist_init", "rel_dist_init"):
        assert set(store.scalars(metric=metric).step) == {0, 2, 4, 8}


def test_held_weights_give_a_resumed_run_its_distances(tmp_path: Path) -> None:
    schedule = [0, 2, 4, 8, 12, 16]
    torch.manual_seed(0)
    model, clock = tiny(), FakeClock()
    initial = copy.deepcopy(model)
    first = cs.Watcher(tmp_path, model, schedule, ["weights"], name="toy", clock=clock)

    def tick(watcher):
        def on_step(step: int) -> None:
            clock.now += 1.0
            watcher.step(step)

        return on_step

    opt = train(model, 8, tick(first))
    at_8 = copy.deepcopy(model)
    second = cs.Watcher(tmp_path, model, schedule, ["weights"], name="toy", clock=clock)
    second.hold(0, initial)
    second.hold(8, at_8)
    train(model, 16, tick(second), start=8, opt=opt)
    assert second.close().steps_watched == [12, 16]
    store = cs.Store(tmp_path)
    assert set(store.scalars(metric="dist_init").step) == set(schedule)
    assert set(store.scalars(metric="dist_prev").step) == {2, 4, 8, 12, 16}
    refs = _task_refs(store).set_index("step")
    assert refs.loc[12, "previous_step"] == 8 and refs.loc[12, "initial_step"] == 0
    for bad in (3, -1, True):
        with pytest.raises(UsageError, match="hold step"):
            second.hold(bad, initial)


class FakeLogger:
    def __init__(self) -> None:
        self.calls: list[tuple[str, int, int]] = []
        self.closed = 0

    def write_step(self, store, model: str, step: int) -> None:
        rows = store.scalars(model=model, step=step)  # what an exporter would forward
        self.calls.append((model, step, len(rows)))

    def close(self) -> None:
        self.closed += 1


class BrokenLogger:
    def write_step(self, store, model: str, step: int) -> None:
        raise ConnectionError("wandb unreachable")


def test_loggers_get_each_watched_step(tmp_path: Path, caplog) -> None:
    logger = FakeLogger()
    model = tiny(blocks=1)
    watcher = cs.Watcher(tmp_path, model, [0, 2, 4], ["weights"], name="toy",
                         loggers=[logger, BrokenLogger()])  # fmt: skip
    with caplog.at_level(logging.WARNING):
        train(model, 5, watcher.step)
    watcher.close()
    watcher.close()
    assert [c[:2] for c in logger.calls] == [("toy", 0), ("toy", 2), ("toy", 4)]
    assert all(n > 0 for _, _, n in logger.calls) and logger.closed == 1
    assert "wandb unreachable" in caplog.text  # warned, and training went on


def test_loggers_see_only_the_watched_suite(tmp_path: Path) -> None:
    from ckptscope.records import Scalar
    from ckptscope.store import TaskKey

    cs.Store(tmp_path).write_task(TaskKey("other", "toy", 0, "weights"),
                                  [Scalar("embed", None, "weight", "norm", -1.0)])  # fmt: skip
    seen: list[set[str]] = []

    class SuiteLogger:
        def write_step(self, store, model: str, step: int) -> None:
            seen.append(set(store.scalars(model=model, step=step).suite))

    model = tiny(blocks=1)
    watcher = cs.Watcher(tmp_path, model, [0, 2], ["weights"], name="toy",
                         loggers=[SuiteLogger()])  # fmt: skip
    train(model, 2, watcher.step)
    watcher.close()
    assert seen == [{"watch"}, {"watch"}]


@pytest.mark.parametrize(
    ("kwargs", "says"),
    [
        ({"schedule": [0, -1]}, "step -1 is not a non-negative integer"),
        ({"schedule": [0, 10, 5]}, "step 5 after step 10"),
        ({"analyses": ["weights", "spectrum"]}, "unknown analysis 'spectrum'"),
        ({"budget": 0}, "budget 0 is not a fraction"),
        ({"budget": 1.5}, "budget 1.5 is not a fraction"),
        ({"budget": -0.05}, "budget -0.05 is not a fraction"),
        ({"analyses": ["activations"]}, "need evaluation data"),
        ({"batch": "missing.npy"}, "batch 'missing.npy' is not a file"),
        ({"tokenizer": "."}, "is not a folder with"),
        ({"loggers": [object()]}, "has no write_step"),
        ({"options": {"n_seq": 2}}, "option 'n_seq' is read by none"),
        ({"name": ""}, "name '' is not a non-empty string"),
        ({"model": torch.nn.Linear(2, 2)}, "without a Hugging Face config"),
    ],
)
def test_bad_input_is_refused_before_the_store_is_made(tmp_path: Path, kwargs, says) -> None:
    args = {"schedule": [0, 4], "analyses": ["weights"], "model": None, **kwargs}
    args["model"] = args["model"] or tiny(blocks=1)
    with pytest.raises(UsageError) as err:
        cs.Watcher(tmp_path / "store", **args)
    assert says in str(err.value) and "\n" not in str(err.value)
    assert not (tmp_path / "store").exists()


def test_steps_must_increase(tmp_path: Path) -> None:
    watcher = cs.Watcher(tmp_path, tiny(blocks=1), [0, 4], ["weights"], name="toy")
    watcher.step(0)
    for bad, says in ((0, "step 0 after step 0"), (-1, "not a non-negative"), (1.0, "not a")):
        with pytest.raises(UsageError, match=says):
            watcher.step(bad)
    watcher.close()
    with pytest.raises(UsageError, match="closed"):
        watcher.step(4)
