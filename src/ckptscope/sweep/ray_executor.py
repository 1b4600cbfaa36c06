"""Sweeps on Ray: one Ray task per checkpoint, written into the same store on a shared path.

Ray is optional (``pip install 'ckptscope[ray]'``); importing this module registers the
``ray`` executor either way, and choosing it without Ray installed is a :class:`UsageError`.

Each item of the plan, ``(suite, store_root, CheckpointTask, SweepOptions)``, becomes one
Ray task running ``run_checkpoint``: the checkpoint is opened once on a worker and every
pending analysis runs on it. The store root must be a path every node sees (NFS, Lustre,
a POSIX shared file system); see docs/capacity.md for object stores.

Retries: Ray re-runs a task whose worker process or node died (``max_retries``). An
exception raised by the task itself is not retried (``retry_exceptions=False``): it would
fail again, and ``run_checkpoint`` already records analysis errors as failures. Re-running
is safe because ``Store.write_task`` is idempotent per (model, step, analysis): a retry
finds what an earlier attempt wrote and skips it. A task still lost after its retries is
recorded by the driver in the failures table, for each analysis not already stored, and
the sweep goes on.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from ckptscope.analyses.base import SweepOptions
from ckptscope.errors import UsageError
from ckptscope.store import Store
from ckptscope.sweep.executors import Executor, register_executor
from ckptscope.sweep.plan import CheckpointTask
from ckptscope.sweep.runner import TaskOutcome, _one_line

log = logging.getLogger(__name__)

INSTALL_HINT = "pip install 'ckptscope[ray]'"


def _import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise UsageError(
            f"--executor ray needs Ray, which is not installed: {INSTALL_HINT}"
        ) from None
    return ray


def _checkpoint_item(item: tuple[Any, ...]) -> tuple[Any, str, CheckpointTask, SweepOptions] | None:
    """``item`` unpacked when it has ``run_checkpoint``'s arguments, else None."""
    if len(item) == 4 and isinstance(item[2], CheckpointTask) and isinstance(item[3], SweepOptions):
        return item  # type: ignore[return-value]
    return None


def lost_task_outcome(item: tuple[Any, ...], error: BaseException, attempts: int) -> TaskOutcome:
    """Record a task whose every attempt died (worker crash, lost node) as failed.

    Analyses an earlier attempt stored before dying stay stored and count as ``already``.
    """
    _, store_root, task, _ = item
    store = Store(store_root)
    cause = getattr(error, "cause", None) or error  # RayTaskError wraps the task's exception
    msg = f"{task.label()}: lost on Ray after {attempts} attempt(s): {_one_line(cause)}"
    outcome = TaskOutcome(task)
    for key in task.task_keys():
        if store.has(key):
            outcome.already.append(key.analysis)
        else:
            store.record_failure(key, msg)
            outcome.failed[key.analysis] = msg
    return outcome


class RayExecutor(Executor):
    """Runs each item as a Ray task, on a local Ray or an existing cluster.

    ``address``: a cluster address (``ray://head:10001``, ``head:6379``, ``auto``); None
    connects to ``RAY_ADDRESS`` or a Ray already started on this machine, else starts a
    local one with ``workers`` CPUs. A Ray already initialised in this process is used as
    it is (and left running). ``cpus_per_task`` is the CPUs each task requests; a task
    whose options say ``device="cuda"`` also requests one GPU. ``runtime_env`` is passed
    to ``ray.init`` (Python API only; the CLI relies on the cluster's environment).
    """

    name = "ray"

    def __init__(
        self,
        workers: int = 1,
        address: str | None = None,
        *,
        max_retries: int = 3,
        cpus_per_task: float = 1.0,
        runtime_env: dict[str, Any] | None = None,
    ) -> None:
        self._ray = _import_ray()
        if max_retries < 0:
            raise ValueError(f"max_retries must be >= 0, got {max_retries}")
        self.workers = max(1, workers)
        self.address = address
        self.max_retries = max_retries
        self.cpus_per_task = cpus_per_task
        self.runtime_env = runtime_env
        self._initialised = False  # this executor called ray.init (so close() disconnects)
        self._local = False  # ... and started a Ray of its own

    def _connect(self) -> None:
        ray = self._ray
        if ray.is_initialized():
            return
        env = {"runtime_env": self.runtime_env} if self.runtime_env else {}
        try:
            if self.address is None and "RAY_ADDRESS" not in os.environ:
                try:  # a Ray started on this machine (``ray start --head``)
                    ray.init(address="auto", **env)
                except ConnectionError:
                    ray.init(num_cpus=self.workers, include_dashboard=False, **env)
                    self._local = True
            else:
                ray.init(address=self.address, **env)
        except ConnectionError as err:
            where = self.address or os.environ.get("RAY_ADDRESS")
            raise UsageError(f"cannot connect to the Ray cluster at {where!r}: {err}") from None
        self._initialised = True
        res = ray.cluster_resources()
        log.info(
            "Ray: %d node(s), %g CPUs, %g GPUs",
            len(ray.nodes()),
            res.get("CPU", 0),
            res.get("GPU", 0),
        )

    def _check_gpus(self, items: Sequence[tuple[Any, ...]]) -> None:
        wants = any(
            (ci := _checkpoint_item(item)) is not None and ci[3].device.startswith("cuda")
            for item in items
        )
        if not wants or self._ray.cluster_resources().get("GPU", 0) > 0:
            return
        if self._local:
            raise UsageError("--device cuda, but the local Ray has no GPU; use --device cpu")
        # an autoscaler may still add GPU nodes; until then the tasks wait
        log.warning("the Ray cluster has no GPU now: cuda tasks wait until a GPU node joins")

    def _task_options(self, item: tuple[Any, ...]) -> dict[str, Any]:
        opts: dict[str, Any] = {
            "num_cpus": self.cpus_per_task,
            "max_retries": self.max_retries,
            "retry_exceptions": False,  # only system failures (a dead worker or node) retry
        }
        ci = _checkpoint_item(item)
        if ci is not None:
            opts["name"] = f"ckptscope {ci[2].label()}"
            if ci[3].device.startswith("cuda"):
                opts["num_gpus"] = 1
        return opts

    def map_unordered(
        self, fn: Callable[..., Any], items: Sequence[tuple[Any, ...]]
    ) -> Iterator[Any]:
        """Submit every item as a Ray task; yield results as they finish."""
        if not items:
            return
        ray = self._ray
        self._connect()
        self._check_gpus(items)
        remote = ray.remote(fn)
        shared: dict[int, Any] = {}  # id(arg) -> ObjectRef: each suite is pickled once
        pending: dict[Any, tuple[Any, ...]] = {}
        for item in items:
            args = list(item)
            if _checkpoint_item(item) is not None:
                # workers may run in another folder or on another node
                store_root = args[1]
                args[1] = store_root if "://" in store_root else os.path.abspath(store_root)
                suite = args[0]
                if id(suite) not in shared:
                    shared[id(suite)] = ray.put(suite)
                args[0] = shared[id(suite)]
            ref = remote.options(**self._task_options(item)).remote(*args)
            pending[ref] = item
        try:
            while pending:
                done, _ = ray.wait(list(pending), num_returns=1)
                ref = done[0]
                item = pending.pop(ref)
                try:
                    yield ray.get(ref)
                except ray.exceptions.RayError as err:
                    ci = _checkpoint_item(item)
                    if ci is None:
                        raise
                    log.warning("%s: lost on Ray: %s", ci[2].label(), _one_line(err))
                    yield lost_task_outcome(ci, err, 1 + self.max_retries)
        finally:
            for ref in pending:  # the caller stopped early: do not leave work running
                ray.cancel(ref)

    def close(self) -> None:
        """Disconnect from Ray if this executor connected (a local Ray it started stops)."""
        if self._initialised and self._ray.is_initialized():
            self._ray.shutdown()
        self._initialised = self._local = False


def _factory(workers: int = 1, address: str | None = None, **options: Any) -> RayExecutor:
    return RayExecutor(workers=workers, address=address, **options)


register_executor("ray", _factory)
