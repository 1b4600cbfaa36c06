"""The offline trainer watching its own models: same weights, a sweep's rows, a report."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import torch
from safetensors.torch import load_file
from typer.testing import CliRunner

import ckptscope as cs
from ckptscope.cli.app import app
from ckptscope.data import train_text
from ckptscope.train import ModelSize, SuiteConfig, TrainConfig, checkpoint_steps, train_suite
from ckptscope.watch.training import TrainWatch
from watch_toy import table

pytestmark = pytest.mark.slow

MICRO = SuiteConfig(
    name="micro",
    sizes=(ModelSize(32, 1),),
    train=TrainConfig(
        steps=12, batch_size=4, seq_len=16, lr=3e-3, n_even_checkpoints=3, heldout_tokens=256
    ),
)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("corpus") / "small.txt"
    path.write_text(train_text()[:100_000])
    return path


def weights(suite: Path) -> dict[str, dict[str, torch.Tensor]]:
    return {
        f"{p.parent.parent.name}/{p.parent.name}": load_file(str(p))
        for p in sorted(suite.glob("*/step*/model.safetensors"))
    }


def test_watched_training_is_bit_identical_and_writes_a_sweeps_weights(
    tmp_path: Path, corpus: Path
) -> None:
    plain = train_suite(tmp_path / "plain", config=MICRO, corpus=corpus)
    watch = TrainWatch(tmp_path / "store", analyses=("weights", "spectra"), budget=1.0)
    watched = train_suite(tmp_path / "watched", config=MICRO, corpus=corpus, watch=watch)
    a, b = weights(plain), weights(watched)
    assert a.keys() == b.keys() and len(a) == len(checkpoint_steps(12, 3))
    for key in a:
        for name in a[key]:
            assert torch.equal(a[key][name], b[key][name]), f"{key} {name}"
    swept = cs.sweep(watched, tmp_path / "swept", analyses=["weights"], progress=False)
    assert swept.failed == {}
    live = cs.Store(tmp_path / "store")
    tasks = live.query("select step from tasks where analysis = 'weights'")
    assert sorted(tasks.step) == checkpoint_steps(12, 3)
    # every row of the sweep (the weight statistics and what derives from them) is in the
    # watched store with the same value
    keys = ["suite", "model", "step", "component", "block", "param", "head", "metric"]
    post = table(cs.Store(tmp_path / "swept"), "scalars")
    both = post.merge(table(live, "scalars"), on=keys, how="left", suffixes=("", "_live"))
    assert len(post) > 0 and len(both) == len(post)
    pd.testing.assert_series_equal(both.value, both.value_live, check_names=False)
    ran = set(live.query("select step from tasks where analysis = 'spectra'").step)
    # spectra ran where they fit and were recorded as skipped elsewhere
    events = live.events()
    skipped = set(events[events.kind == "skipped"].step)
    assert ran | skipped == set(checkpoint_steps(12, 3)) and not ran & skipped


def test_train_watch_cli_then_report(tmp_path: Path, corpus: Path) -> None:
    runner = CliRunner()
    store = tmp_path / "store"
    args = ["train", str(tmp_path / "suite"), "--preset", "tiny", "--sizes", "32x1"]
    args += ["--steps", "8", "--corpus", str(corpus), "--watch", str(store), "-q"]
    done = runner.invoke(app, args)
    assert done.exit_code == 0, done.output
    assert f"ckptscope report {store}" in done.output
    steps = set(cs.Store(store).query("select step from tasks where analysis='weights'").step)
    assert steps == set(checkpoint_steps(8, 4))
    before = cs.Store(store).table("tasks")
    again = runner.invoke(app, args)  # finished: nothing retrained, nothing rewritten
    assert again.exit_code == 0 and "suite written" in again.output, again.output
    pd.testing.assert_frame_equal(cs.Store(store).table("tasks"), before)
    report = runner.invoke(app, ["report", str(store), "--no-animations", "--no-progress"])
    assert report.exit_code == 0, report.output
    assert (store / "report" / "report.html").is_file()
    bad = runner.invoke(app, [*args[:-3], "--watch-budget", "2", "--watch", str(store)])
    assert bad.exit_code == 1 and "budget 2.0 is not a fraction" in bad.output


def test_an_interrupted_watched_run_resumes_with_every_distance(
    tmp_path: Path, corpus: Path
) -> None:
    from ckptscope.train import TrainProgress

    class Stop(Exception):
        pass

    def interrupt(p: TrainProgress) -> None:
        if p.event == "checkpoint" and p.step == 4:
            raise Stop

    whole = TrainWatch(tmp_path / "whole", analyses=("weights",), budget=1.0)
    train_suite(tmp_path / "a", config=MICRO, corpus=corpus, watch=whole)
    resumed = TrainWatch(tmp_path / "resumed", analyses=("weights",), budget=1.0)
    with pytest.raises(Stop):
        train_suite(tmp_path / "b", config=MICRO, corpus=corpus, watch=resumed, progress=interrupt)
    train_suite(tmp_path / "b", config=MICRO, corpus=corpus, watch=resumed)
    a, b = table(cs.Store(whole.store), "scalars"), table(cs.Store(resumed.store), "scalars")
    late = b[(b.step > 4) & b.metric.isin(["dist_init", "dist_prev"])]
    assert len(late) > 0 and set(late.metric) == {"dist_init", "dist_prev"}
    pd.testing.assert_frame_equal(a, b)
    wa, wb = weights(tmp_path / "a"), weights(tmp_path / "b")
    assert wa.keys() == wb.keys()
    assert all(torch.equal(wa[k][n], wb[k][n]) for k in wa for n in wa[k])


@pytest.mark.parametrize(
    ("watch", "message"),
    [
        (lambda tmp: TrainWatch(tmp / "afile"), "--watch store"),
        (lambda tmp: TrainWatch(tmp / "store", analyses=("weightz",)), "weightz"),
    ],
)
def test_a_bad_watch_is_refused_before_the_suite_is_written(
    tmp_path: Path, corpus: Path, watch, message: str
) -> None:
    from ckptscope.errors import CkptscopeError

    (tmp_path / "afile").write_text("not a store")
    with pytest.raises(CkptscopeError, match=message) as err:
        train_suite(tmp_path / "suite", config=MICRO, corpus=corpus, watch=watch(tmp_path))
    assert "\n" not in str(err.value) and not (tmp_path / "suite").exists()
