"""Sweeps on Ray: one Ray task per checkpoint, written into the same store on a shared path.

Ray is optional (``pip install 'ckptscope[ray]'``): ``make_executor("ray")`` imports this
module, and choosing it without Ray installed is a :class:`UsageError`.

Each item of the plan, ``(suite, store, CheckpointTask, SweepOptions)``, becomes one
Ray task running ``run_checkpoint``: the checkpoint is opened once on a worker and every
pending analysis runs on it. The store travels as a value; its location must be one every
node sees (NFS, Lustre, a POSIX shared file system, or an object-store URL; see
docs/capacity.md).

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
from ckptscope.engine.executors.base import Executor
from ckptscope.engine.plan import CheckpointTask
from ckptscope.engine.runner import TaskOutcome
from ckptscope.errors import UsageError, one_line
from ckptscope.store import Store

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


def _checkpoint_item(
    item: tuple[Any, ...],
) -> tuple[Any, Store, CheckpointTask, SweepOptions] | None:
    """``item`` unpacked when it has ``run_checkpoint``'s arguments, else None."""
    if len(item) == 4 and isinstance(item[2], CheckpointTask) and isinstance(item[3], SweepOptions):
        return item  # type: ignore[return-value]
    return None


def _check_suite(suite: Any) -> None:
    """Refuse a suite that streams into this machine's disk: remote workers cannot see it."""
    if getattr(suite, "max_disk", None):
        raise UsageError(
            "--max-disk streams checkpoints into this machine's disk, which Ray workers on "
            "other nodes cannot read: with --executor ray, drop --max-disk and point HF_HOME "
            "at a file system every node mounts (see docs/capacity.md)"
        )


def lost_task_outcome(item: tuple[Any, ...], error: BaseException, retries: int) -> TaskOutcome:
    """Record every analysis of a task that Ray could not finish as failed.

    ``error`` is a dead worker or node after ``retries`` retries, or an exception that
    escaped the task (``RayTaskError``, not retried). Analyses an attempt stored before
    dying stay stored and count as ``already``.
    """
    _, store, task, _ = item
    if isinstance(error, _import_ray().exceptions.RayTaskError):
        cause = getattr(error, "cause", None) or error  # the task's own exception
        msg = f"{task.label()}: raised on a Ray worker: {one_line(cause)}"
    else:
        msg = f"{task.label()}: lost on Ray after {1 + retries} attempt(s): {one_line(error)}"
    outcome = TaskOutcome(task)
    for key in task.task_keys():
        if store.has(key):
            outcome.already.append(key.analysis)
        else:
            store.record_failure(key, msg)
            outcome.failed[key.analysis] = msg
    return outcome


def _call_with_threads(threads: int, fn: Callable[..., Any], *args: Any) -> Any:
    """Run ``fn(*args)`` in a Ray worker with ``threads`` torch threads.

    Ray sets OMP_NUM_THREADS per task, but torch reads it once, when a worker first
    imports it, and workers are reused across tasks: so set it for each task.
    """
    import torch

    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
    return fn(*args)


class RayExecutor(Executor):
    """Runs each item as a Ray task, on a local Ray or an existing cluster.

    ``address``: a cluster address (``head:6379``, ``ray://head:10001``, or ``auto`` for
    the Ray that ``ray start`` runs on this machine); None uses ``RAY_ADDRESS`` when set
    (as under ``ray job submit``), else starts a local Ray with ``workers`` CPUs for this
    sweep. A Ray already initialised in this process is used as it is (and left running).

    ``cpus_per_task``: the CPUs each task requests, and its torch threads unless
    ``threads`` is given. None: 1 for a CPU task; for a task whose options say
    ``device="cuda"`` (which also requests one GPU), its share of a GPU node's CPUs, since
    the CPU-side analyses (weights, hashes) of a GPU task would otherwise use one core.
    ``runtime_env`` goes to ``ray.init`` (Python API only; the CLI relies on the cluster's
    environment).
    """

    name = "ray"

    def __init__(
        self,
        workers: int = 1,
        address: str | None = None,
        *,
        max_retries: int = 3,
        cpus_per_task: float | None = None,
        threads: int | None = None,
        runtime_env: dict[str, Any] | None = None,
    ) -> None:
        self._ray = _import_ray()
        if max_retries < 0:
            raise ValueError(f"max_retries must be >= 0, got {max_retries}")
        if cpus_per_task is not None and cpus_per_task <= 0:
            raise ValueError(f"cpus_per_task must be > 0, got {cpus_per_task}")
        self.workers = max(1, workers)
        self.address = address
        self.max_retries = max_retries
        self.cpus_per_task = cpus_per_task
        self.threads = threads
        self.runtime_env = runtime_env
        self._initialised = False  # this executor called ray.init (so close() disconnects)
        self._local = False  # ... and started a Ray of its own
        self._cpus_per_gpu = 1.0

    def _connect(self) -> None:
        ray = self._ray
        if not ray.is_initialized():
            env = {"runtime_env": self.runtime_env} if self.runtime_env else {}
            try:
                if self.address is None and "RAY_ADDRESS" not in os.environ:
                    # a Ray of its own: joining another driver's would die when that one ends
                    ray.init(address="local", num_cpus=self.workers, include_dashboard=False, **env)
                    self._local = True
                else:
                    ray.init(address=self.address, **env)
            except ConnectionError as err:
                where = self.address or os.environ.get("RAY_ADDRESS")
                raise UsageError(f"cannot connect to the Ray cluster at {where!r}: {err}") from None
            self._initialised = True
        try:
            nodes = [n["Resources"] for n in ray.nodes() if n.get("Alive")]
        except Exception as err:  # e.g. an API a Ray Client connection lacks
            log.debug("cannot list Ray nodes: %s", err)
            nodes = []
        shares = [r.get("CPU", 1) / r["GPU"] for r in nodes if r.get("GPU")]
        self._cpus_per_gpu = max(1.0, float(int(min(shares)))) if shares else 1.0
        log.info(
            "Ray: %d node(s), %g CPUs, %g GPUs",
            len(nodes),
            sum(r.get("CPU", 0) for r in nodes),
            sum(r.get("GPU", 0) for r in nodes),
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
        """Ray options of one task: resources, retries, a name for the dashboard."""
        ci = _checkpoint_item(item)
        gpu = ci is not None and ci[3].device.startswith("cuda")
        cpus = self.cpus_per_task or (self._cpus_per_gpu if gpu else 1.0)
        opts: dict[str, Any] = {
            "num_cpus": cpus,
            "max_retries": self.max_retries,
            "retry_exceptions": False,  # only system failures (a dead worker or node) retry
        }
        if ci is not None:
            opts["name"] = f"ckptscope {ci[2].label()}"
        if gpu:
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
        remote = ray.remote(_call_with_threads)
        shared: dict[int, Any] = {}  # id(suite) -> ObjectRef: each suite is pickled once
        pending: dict[Any, tuple[Any, ...]] = {}
        for item in items:
            args = list(item)
            if _checkpoint_item(item) is not None:
                if id(args[1]) not in shared:  # workers run in another folder or node
                    shared[id(args[1])] = ray.put(args[1].absolute())
                args[1] = shared[id(args[1])]
                if id(args[0]) not in shared:
                    _check_suite(args[0])
                    shared[id(args[0])] = ray.put(args[0])
                args[0] = shared[id(args[0])]
            opts = self._task_options(item)
            opts.setdefault("name", getattr(fn, "__name__", "task"))
            threads = self.threads or max(1, int(opts["num_cpus"]))
            pending[remote.options(**opts).remote(threads, fn, *args)] = item
        try:
            while pending:
                (ref,), _ = ray.wait(list(pending), num_returns=1)
                item = pending.pop(ref)
                try:
                    result = ray.get(ref)
                except ray.exceptions.RayError as err:
                    ci = _checkpoint_item(item)
                    if ci is None:
                        raise
                    log.warning("%s: lost on Ray: %s", ci[2].label(), one_line(err))
                    result = lost_task_outcome(ci, err, self.max_retries)
                yield result
        finally:
            for ref in pending:  # the caller stopped early: do not leave work running
                ray.cancel(ref)

    def close(self) -> None:
        """Disconnect from Ray if this executor connected (a local Ray it started stops)."""
        if self._initialised and self._ray.is_initialized():
            self._ray.shutdown()
        self._initialised = self._local = False
