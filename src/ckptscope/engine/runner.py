"""Running checkpoint tasks: open each once, run each pending analysis, write atomically.

``run_checkpoint`` runs one task; it is what every executor ships to its workers, so it
takes only picklable arguments: the :class:`~ckptscope.store.Store` travels as a value (it
holds its location and backend, no open connection). ``run_series`` runs consecutive tasks
of one model together, in this process: an analysis that can (``Analysis.series``, the
weights analysis) then walks each tensor through the checkpoints in step order, so a
checkpoint that is the next one's "previous" is read once, not twice. Every task still
gets its own rows, failures and meta, exactly as ``run_checkpoint`` would write them.
"""

from __future__ import annotations

import logging
import math
import time
import traceback
from collections.abc import Sequence
from contextlib import ExitStack, suppress
from dataclasses import dataclass, field
from typing import Any

from ckptscope.adapters import get_adapter
from ckptscope.analyses.base import (
    Analysis,
    AnalysisSkipped,
    CheckpointContext,
    Record,
    Scalar,
    SweepOptions,
    get_analysis,
)
from ckptscope.engine.plan import CheckpointTask
from ckptscope.errors import one_line
from ckptscope.models.cache import WorkerCache
from ckptscope.sources.base import Checkpoint, Suite
from ckptscope.sources.buffers import READS
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
    return run_series(suite, store, [task], options)[0]


@dataclass
class _Open:
    """One task's opened checkpoint, its references and its context (None: open failed)."""

    task: CheckpointTask
    outcome: TaskOutcome
    start: float
    ctx: CheckpointContext | None = None
    initial: Checkpoint | None = None
    previous: Checkpoint | None = None


def run_series(
    suite: Suite, store: Store, tasks: Sequence[CheckpointTask], options: SweepOptions
) -> list[TaskOutcome]:
    """Run ``tasks`` (consecutive checkpoints of one model, in step order); one outcome each.

    Each checkpoint is opened once and serves as a task's checkpoint and as the later
    tasks' reference; series analyses get every task's context at once, the others run
    task by task.
    """
    with ExitStack() as stack:
        stack.enter_context(READS.scope())  # reads reuse memory within the series
        opened: dict[tuple[str, int], Checkpoint | BaseException] = {}

        def open_step(model: str, step: int) -> Checkpoint:
            got = opened.get((model, step))
            if got is None:
                try:
                    got = stack.enter_context(suite.open(model, step))
                except Exception as err:
                    got = err
                opened[(model, step)] = got
            if isinstance(got, BaseException):
                raise got
            return got

        runs = [_open_task(suite, store, task, options, open_step) for task in tasks]
        series = _series_analyses(tasks)
        for name in series:
            _run_series_analysis(store, name, [r for r in runs if name in r.task.analyses])
        for r in runs:
            if r.ctx is None:
                continue
            for name in r.task.analyses:
                if name not in series:
                    _run_one(store, r, name)
            r.outcome.bytes_read = r.ctx.bytes_read
            r.ctx.release()
            r.outcome.seconds = time.perf_counter() - r.start
    return [r.outcome for r in runs]


def _open_task(
    suite: Suite,
    store: Store,
    task: CheckpointTask,
    options: SweepOptions,
    open_step: Any,
) -> _Open:
    """Open a task's checkpoint and references; a checkpoint that cannot open fails the task."""
    r = _Open(task, TaskOutcome(task), time.perf_counter())
    if task.next_step is not None:
        suite.prefetch(task.model, task.next_step)  # streaming sources download meanwhile
    try:
        ckpt = open_step(task.model, task.step)
        adapter = get_adapter(ckpt.config())
    except Exception as err:  # a checkpoint that cannot open fails all its analyses
        msg = f"{task.label()}: {one_line(err)}"
        log.debug("open failed: %s", traceback.format_exc())
        for key in task.task_keys():
            store.record_failure(key, msg)
            r.outcome.failed[key.analysis] = msg
        r.outcome.seconds = time.perf_counter() - r.start
        return r
    # A reference that cannot open costs only what needs it (distances), not the task.
    r.initial = ckpt if task.initial_step == task.step else None  # None: no initial held
    for which, step in (("initial", task.initial_step), ("previous", task.previous_step)):
        if step is None or step == task.step:
            continue
        try:
            ref = open_step(task.model, step)
        except Exception as err:
            log.warning("%s: no %s checkpoint: %s", task.label(), which, one_line(err))
            continue
        if which == "initial":
            r.initial = ref
        else:
            r.previous = ref
    r.ctx = CheckpointContext(
        task.suite,
        ckpt,
        adapter,
        initial=r.initial,
        previous=r.previous,
        options=options,
        analyses=task.analyses,
        cache=WORKER_CACHE,
    )
    return r


def _series_analyses(tasks: Sequence[CheckpointTask]) -> list[str]:
    """Pending analyses that run over several checkpoints at once (when there are several)."""
    if len(tasks) < 2:
        return []
    names = dict.fromkeys(a for t in tasks for a in t.analyses)
    out = []
    for name in names:
        try:
            if get_analysis(name).series:
                out.append(name)
        except ValueError:  # an unknown name fails in its task, as before
            continue
    return out


def _run_series_analysis(store: Store, name: str, runs: list[_Open]) -> None:
    """One series analysis over the tasks that need it; each task's rows written apart."""
    runs = [r for r in runs if r.ctx is not None]
    if not runs:
        return
    t0 = time.perf_counter()
    analysis = get_analysis(name)
    try:
        results = analysis.run_series([r.ctx for r in runs if r.ctx is not None])
    except Exception as err:  # the whole series failed: each task fails with it
        results = [err] * len(runs)
    seconds = (time.perf_counter() - t0) / len(runs)
    for r, result in zip(runs, results, strict=True):
        if isinstance(result, AnalysisSkipped):
            r.outcome.skipped[name] = str(result)
        elif isinstance(result, BaseException):
            _fail(store, r, name, result)
        else:
            _write(store, r, analysis, result, seconds)


def _run_one(store: Store, r: _Open, name: str) -> None:
    """One analysis on one task's checkpoint."""
    assert r.ctx is not None
    t0 = time.perf_counter()
    try:
        analysis = get_analysis(name)
        records = list(analysis.run(r.ctx))
    except AnalysisSkipped as why:
        r.outcome.skipped[name] = str(why)
        return
    except Exception as err:
        _fail(store, r, name, err)
        return
    _write(store, r, analysis, records, time.perf_counter() - t0)


def _fail(store: Store, r: _Open, name: str, err: BaseException) -> None:
    msg = f"{r.task.label()}: {name}: {one_line(err)}"
    log.debug("analysis failed: %s", "".join(traceback.format_exception(err)))
    store.record_failure(TaskKey(r.task.suite, r.task.model, r.task.step, name), msg)
    r.outcome.failed[name] = msg


def _write(
    store: Store, r: _Open, analysis: Analysis, records: list[Record], seconds: float
) -> None:
    """Store one analysis's records of one task, with the task's meta."""
    task, options = r.task, r.ctx.options if r.ctx is not None else SweepOptions()
    key = TaskKey(task.suite, task.model, task.step, analysis.name)
    meta: dict[str, Any] = {
        "initial_step": r.initial.step if r.initial is not None else None,
        "previous_step": r.previous.step if r.previous is not None else None,
        "final_step": task.final_step,
        "device": options.device,
        "seed": options.seed,
        # what produced these rows: a rerun with other options must not pass silently
        "options": dict(options.extra),
    }
    # An undefined metric (NaN, inf) is left out of the table and named in the meta.
    bad = {
        rec.metric for rec in records if isinstance(rec, Scalar) and not math.isfinite(rec.value)
    }
    if bad:
        records = [
            rec for rec in records if not (isinstance(rec, Scalar) and not math.isfinite(rec.value))
        ]
        meta["nonfinite_metrics"] = sorted(bad)
        log.info(
            "%s: %s: non-finite %s left out", task.label(), analysis.name, ", ".join(sorted(bad))
        )
    try:
        wrote = store.write_task(key, records, version=analysis.version, seconds=seconds, meta=meta)
    except StoreError as err:  # disk full or read-only: record it if we can, stop
        with suppress(StoreError):
            store.record_failure(key, f"{task.label()}: {analysis.name}: {err}")
        raise
    (r.outcome.written if wrote else r.outcome.already).append(analysis.name)
