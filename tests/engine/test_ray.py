"""The Ray executor: same rows as the local executor, retried crashes, recorded failures.

One local Ray (2 CPUs) serves the whole module: starting Ray takes seconds.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest

from ckptscope.analyses.base import SweepOptions
from ckptscope.engine import EXIT_SOME_FAILED, SweepConfig, make_executor, run_checkpoint, run_sweep
from ckptscope.engine.plan import plan_sweep
from ckptscope.errors import UsageError
from ckptscope.store import Store
from fakes import FakeSuite

pytestmark = pytest.mark.ray

ANALYSES = ("weights", "spectra")
SORT = ["suite", "model", "step", "component", "block", "param", "metric"]
TESTS_DIR = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def ray_runtime():
    """A local Ray whose workers can import ``fakes`` and unpickle this module's helpers."""
    ray = pytest.importorskip("ray")
    path = os.pathsep.join(p for p in (str(TESTS_DIR), os.environ.get("PYTHONPATH")) if p)
    ray.init(
        address="local",  # a Ray of its own, even where one runs on this machine
        num_cpus=2,
        include_dashboard=False,
        log_to_driver=False,
        runtime_env={"env_vars": {"PYTHONPATH": path}},
    )
    # the crash helpers below live in a test module that workers cannot import by name
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    yield ray
    ray.cloudpickle.unregister_pickle_by_value(sys.modules[__name__])
    ray.shutdown()


def _frame(store: Path, table: str = "scalars") -> pd.DataFrame:
    df = Store(store).table(table)
    order = [c for c in SORT if c in df] + (["analysis"] if "analysis" in df else [])
    return df.sort_values(order).reset_index(drop=True)


def _items(suite, store: Path, **extra):
    opened = Store(store)  # travels to the workers as a value
    tasks, _ = plan_sweep(suite, opened, ANALYSES, {m: suite.steps(m) for m in suite.models()})
    return [(suite, opened, t, SweepOptions(extra=extra)) for t in tasks]


def _attempt(options: SweepOptions, task) -> int:
    """Count this attempt at ``task`` in a marker file; returns the attempt number."""
    marker = Path(options.extra["markers"]) / f"{task.model}-{task.step}"
    with open(marker, "a") as f:
        f.write("x")
    return marker.stat().st_size


def crash_first_attempt(suite, store, task, options):
    """The first attempt writes one analysis, then its worker dies (SIGKILL or exit)."""
    if (task.model, task.step) in options.extra["crash"] and _attempt(options, task) == 1:
        run_checkpoint(suite, store, replace(task, analyses=task.analyses[:1]), options)
        if task.model == "a":
            os.kill(os.getpid(), signal.SIGKILL)
        os._exit(1)
    return run_checkpoint(suite, store, task, options)


def fail_some(suite, store, task, options):
    """One task's worker dies on every attempt; another raises (not retried)."""
    if (task.model, task.step) == ("a", 2):
        _attempt(options, task)
        os._exit(1)
    if (task.model, task.step) == ("b", 1):
        _attempt(options, task)
        raise RuntimeError("boom in the worker")
    return run_checkpoint(suite, store, task, options)


@pytest.mark.parametrize("url", [False, True], ids=["folder", "fsspec-url"])
def test_ray_sweep_equals_local_row_for_row(ray_runtime, tmp_path, url):
    suite = FakeSuite(corrupt={("b", 2)})
    # the Ray side writes to a folder, or through fsspec to a URL (what s3:// would use)
    outs = {
        "local": tmp_path / "local",
        "ray": f"file://{tmp_path}/ray" if url else tmp_path / "ray",
    }
    results = {}
    for executor in ("local", "ray"):
        config = SweepConfig(suite="fake", out=outs[executor], analyses=ANALYSES, executor=executor)
        results[executor] = run_sweep(config, suite=suite)
    local, remote = results["local"], results["ray"]
    assert remote.written == local.written == 2 * 4 * 2 - 2
    assert remote.failed == local.failed and remote.exit_code == EXIT_SOME_FAILED
    for table in ("scalars", "arrays", "events"):
        pd.testing.assert_frame_equal(_frame(outs["ray"], table), _frame(outs["local"], table))
    fails = _frame(outs["ray"], "failures")
    assert sorted(zip(fails.model, fails.step, fails.analysis, strict=True)) == [
        ("b", 2, a) for a in sorted(ANALYSES)
    ]
    # resumable as ever: a second Ray sweep finds everything stored
    again = run_sweep(replace(config, out=outs["ray"]), suite=FakeSuite())
    assert again.skipped_done == 2 * 4 * 2 - 2 and again.written == 2 and not again.failed


@pytest.mark.parametrize("url", [False, True], ids=["folder", "fsspec-url"])
def test_killed_worker_is_retried_and_each_task_written_once(ray_runtime, tmp_path, url):
    suite, markers = FakeSuite(), tmp_path / "markers"
    markers.mkdir()
    where = f"file://{tmp_path}/store" if url else tmp_path / "store"
    items = _items(suite, where, markers=str(markers), crash=[("a", 1), ("b", 4)])
    executor = make_executor("ray", max_retries=2)
    outcomes = list(executor.map_unordered(crash_first_attempt, items))
    executor.close()
    assert ray_runtime.is_initialized()  # a Ray it did not start is left running
    assert len(outcomes) == 8 and not any(o.failed for o in outcomes)
    for o in outcomes:
        crashed = (o.task.model, o.task.step) in {("a", 1), ("b", 4)}
        # the retry finds the analysis the killed attempt wrote, and writes only the rest
        assert (o.already, o.written) == (
            (["weights"], ["spectra"]) if crashed else ([], list(ANALYSES))
        )
    assert (markers / "a-1").read_text() == "xx" and (markers / "b-4").read_text() == "xx"
    store = Store(where)
    assert len(store.done()) == 2 * 4 * 2 and store.failures().empty
    tasks = _frame(where, "tasks")
    assert not tasks.duplicated(["model", "step", "analysis"]).any() and len(tasks) == 16
    reference = tmp_path / "reference"
    list(make_executor("local").map_unordered(run_checkpoint, _items(suite, reference)))
    pd.testing.assert_frame_equal(_frame(where), _frame(reference))


def test_task_that_always_fails_is_recorded_and_the_sweep_finishes(ray_runtime, tmp_path):
    suite, markers = FakeSuite(), tmp_path / "markers"
    markers.mkdir()
    items = _items(suite, tmp_path / "store", markers=str(markers))
    executor = make_executor("ray", max_retries=1)
    outcomes = {(o.task.model, o.task.step): o for o in executor.map_unordered(fail_some, items)}
    assert len(outcomes) == 8
    assert (markers / "a-2").read_text() == "xx"  # a dead worker: retried once
    assert (markers / "b-1").read_text() == "x"  # an exception: not retried
    died, raised = outcomes[("a", 2)], outcomes[("b", 1)]
    assert set(died.failed) == set(raised.failed) == set(ANALYSES)
    assert "lost on Ray after 2 attempt(s)" in died.failed["weights"]
    assert "raised on a Ray worker: RuntimeError: boom in the worker" in raised.failed["spectra"]
    store = Store(tmp_path / "store")
    fails = _frame(tmp_path / "store", "failures")
    assert sorted(zip(fails.model, fails.step, strict=True)) == [("a", 2)] * 2 + [("b", 1)] * 2
    assert len(store.done()) == 6 * 2


def test_cli_sweep_on_an_existing_cluster(ray_runtime, neox_folder_suite, tmp_path):
    address = ray_runtime.get_runtime_context().gcs_address
    cmd = [sys.executable, "-m", "ckptscope", "sweep", str(neox_folder_suite), "--out", "store",
           "--analyses", "weights", "--steps", "0,4", "--executor", "ray", "--address", address]  # fmt: skip
    # a relative store path: the executor hands workers an absolute one
    res = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr[-2000:]
    assert "4 tasks written" in res.stdout
    config = SweepConfig(
        suite=str(neox_folder_suite), out=tmp_path / "local", analyses=("weights",), steps="0,4"
    )
    run_sweep(config)
    pd.testing.assert_frame_equal(_frame(tmp_path / "store"), _frame(tmp_path / "local"))
    # the same to an fsspec URL, then queried through the CLI
    url = f"file://{tmp_path}/url-store"
    res = subprocess.run(
        [*cmd[:6], url, *cmd[7:]], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert res.returncode == 0, res.stderr[-2000:]
    assert not (tmp_path / "file:").exists()  # not mistaken for a relative folder
    pd.testing.assert_frame_equal(_frame(url), _frame(tmp_path / "local"))
    query = [sys.executable, "-m", "ckptscope", "query", "--store", url, "--csv",
             "select count(*) as n from tasks"]  # fmt: skip
    res = subprocess.run(query, capture_output=True, text=True, timeout=60)
    assert res.returncode == 0 and res.stdout.split() == ["n", "4"], res.stderr


def test_cuda_tasks_request_a_gpu_and_its_share_of_cpus(tmp_path):
    pytest.importorskip("ray")
    from ckptscope.engine.executors.ray_cluster import RayExecutor

    (item,) = _items(FakeSuite(), tmp_path)[:1]
    cuda = (*item[:3], SweepOptions(device="cuda"))
    executor = RayExecutor(max_retries=2)
    executor._cpus_per_gpu = 8.0  # as _connect finds on nodes of 64 CPUs and 8 GPUs
    cpu, gpu = executor._task_options(item), executor._task_options(cuda)
    assert "num_gpus" not in cpu and cpu["num_cpus"] == 1
    assert gpu["num_gpus"] == 1 and gpu["num_cpus"] == 8
    assert cpu["max_retries"] == 2 and cpu["retry_exceptions"] is False
    assert RayExecutor(cpus_per_task=2)._task_options(cuda)["num_cpus"] == 2


def test_a_streaming_suite_is_refused(tmp_path):
    pytest.importorskip("ray")
    from ckptscope.engine.executors.ray_cluster import RayExecutor

    suite = FakeSuite()
    suite.max_disk = 10**9  # as HubSuite(max_disk=...) has
    executor = RayExecutor()
    executor._connect = lambda: None  # refused before anything is submitted
    executor._check_gpus = lambda items: None
    with pytest.raises(UsageError, match="--max-disk"):
        list(executor.map_unordered(run_checkpoint, _items(suite, tmp_path)))


def test_missing_ray_is_a_usage_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray now raises ImportError
    with pytest.raises(UsageError, match=r"pip install 'ckptscope\[ray\]'"):
        make_executor("ray")
