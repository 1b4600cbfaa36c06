"""Running one checkpoint task: open it once, run each pending analysis, write atomically.

This function is what every executor ships to its workers, so it takes only picklable
arguments: the :class:`~ckptscope.store.Store` travels as a value (it holds its location
and backend, no open connection).
"""

from __future__ import annotations

import logging
import math
import time
import traceback
from contextlib import ExitStack, suppress
from dataclasses import dataclass, field

from ckptscope.adapters import get_adapter
from ckptscope.analyses.base import (
    AnalysisSkipped,
    CheckpointContext,
    Scalar,
    SweepOptions,
    get_analysis,
)
from ckptscope.engine.plan import CheckpointTask
from ckptscope.errors import one_line
from ckptscope.models.cache import WorkerCache
from ckptscope.sources.base import Suite
from ckptscope.store import Store, StoreError, TaskKey

log = logging.getLogger(__name__)

#: What a worker process keeps between checkpoints (built models, the evaluation batch):
#: the one cache of a sweep, passed to every checkpoint's context; ``WORKER_CACHE.clear()``
#: frees it.
WORKER_CACHE = WorkerCache()


@dataclass
class TaskOutcome:
    """What happened to one checkpoint task."""

    task: CheckpointTask
    written: list[str] = field(default_factory=list)
    already: list[str] = field(default_factory=list)  # written by an earlier try (a retry)
    failed: dict[str, str] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0
    bytes_read: int = 0


def run_checkpoint(
    suite: Suite, store: Store, task: CheckpointTask, options: SweepOptions
) -> TaskOutcome:
    """Open ``task``'s checkpoint once and run every pending analysis on it."""
    outcome = TaskOutcome(task)
    start = time.perf_counter()
    if task.next_step is not None:
        suite.prefetch(task.model, task.next_step)  # streaming sources download meanwhile
    with ExitStack() as stack:
        try:
            ckpt = stack.enter_context(suite.open(task.model, task.step))
            adapter = get_adapter(ckpt.config())
        except Exception as err:  # a checkpoint that cannot open fails all its analyses
            msg = f"{task.label()}: {one_line(err)}"
            log.debug("open failed: %s", traceback.format_exc())
            for key in task.task_keys():
                store.record_failure(key, msg)
                outcome.failed[key.analysis] = msg
            outcome.seconds = time.perf_counter() - start
            return outcome
        # A reference that cannot open costs only what needs it (distances), not the task.
        initial = ckpt if task.initial_step in (None, task.step) else None
        previous = None
        for which, step in (("initial", task.initial_step), ("previous", task.previous_step)):
            if step is None or step == task.step:
                continue
            try:
                ref = stack.enter_context(suite.open(task.model, step))
            except Exception as err:
                log.warning("%s: no %s checkpoint: %s", task.label(), which, one_line(err))
                continue
            if which == "initial":
                initial = ref
            else:
                previous = ref
        ctx = CheckpointContext(
            task.suite,
            ckpt,
            adapter,
            initial=initial,
            previous=previous,
            options=options,
            analyses=task.analyses,
            cache=WORKER_CACHE,
        )
        for name in task.analyses:
            key = TaskKey(task.suite, task.model, task.step, name)
            t0 = time.perf_counter()
            try:
                analysis = get_analysis(name)
                records = list(analysis.run(ctx))
            except AnalysisSkipped as why:
                outcome.skipped[name] = str(why)
                continue
            except Exception as err:
                msg = f"{task.label()}: {name}: {one_line(err)}"
                log.debug("analysis failed: %s", traceback.format_exc())
                store.record_failure(key, msg)
                outcome.failed[name] = msg
                continue
            meta = {
                "initial_step": initial.step if initial is not None else None,
                "previous_step": previous.step if previous is not None else None,
                "final_step": task.final_step,
                "device": options.device,
                "seed": options.seed,
                # what produced these rows: a rerun with other options must not pass silently
                "options": dict(options.extra),
            }
            # An undefined metric (NaN, inf) is left out of the table and named in the meta.
            bad = {
                r.metric for r in records if isinstance(r, Scalar) and not math.isfinite(r.value)
            }
            if bad:
                records = [
                    r for r in records if not (isinstance(r, Scalar) and not math.isfinite(r.value))
                ]
                meta["nonfinite_metrics"] = sorted(bad)
                log.info(
                    "%s: %s: non-finite %s left out", task.label(), name, ", ".join(sorted(bad))
                )
            try:
                wrote = store.write_task(
                    key,
                    records,
                    version=analysis.version,
                    seconds=time.perf_counter() - t0,
                    meta=meta,
                )
            except StoreError as err:  # disk full or read-only: record it if we can, stop
                with suppress(StoreError):
                    store.record_failure(key, f"{task.label()}: {name}: {err}")
                raise
            (outcome.written if wrote else outcome.already).append(name)
        outcome.bytes_read = ctx.bytes_read
        ctx.release()
    outcome.seconds = time.perf_counter() - start
    return outcome
