"""``run_sweep``: plan (model, step, analysis) tasks, run the missing ones, derive, report."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ckptscope.analyses.base import (
    Derived,
    SweepOptions,
    available_analyses,
    available_derivations,
    get_analysis,
)
from ckptscope.devices import check_device
from ckptscope.engine.executors import make_executor
from ckptscope.engine.plan import CheckpointTask, plan_sweep, series_groups
from ckptscope.engine.runner import TaskOutcome, run_checkpoint, run_series
from ckptscope.errors import CheckpointError, UsageError
from ckptscope.sources.base import Suite
from ckptscope.store import Store, StoreError, TaskKey

log = logging.getLogger(__name__)

#: analyses a sweep runs when none are named
DEFAULT_ANALYSES: tuple[str, ...] = (
    "weights",
    "distributions",
    "spectra",
    "svd_directions",
    "embeddings",
    "activations",
    "gradients",
    "integrity",
)
#: exit code of ``ckptscope sweep`` when some tasks failed (0: all succeeded, 1: bad usage)
EXIT_SOME_FAILED = 3


@dataclass(frozen=True)
class SweepConfig:
    """Everything a sweep needs; the same object behind the CLI and the Python API.

    ``suite`` is a source spec (a suite folder, a folder of checkpoints, ``hf:org/repo``);
    ``steps`` a step selection (``0,1000:143000:1000``, ``log``, ``every:10``; None: all);
    ``analyses`` None runs every available default analysis; ``extra`` holds per-analysis
    options (``distribution_max_samples``, ``fit_samples``, ``n_seqs``, ``spectra`` ...),
    documented in each analysis module.
    """

    suite: str
    out: Path | str  # a folder, or an fsspec URL (store/fsspec_backend.py)
    models: tuple[str, ...] | None = None
    steps: str | None = None
    analyses: tuple[str, ...] | None = None
    executor: str = "local"
    workers: int = 1
    device: str = "cpu"
    seed: int = 0
    data: str | None = None
    max_disk: str | None = None
    address: str | None = None  # Ray cluster address
    extra: Mapping[str, Any] = field(default_factory=dict)


@dataclass
class SweepResult:
    """Counts and failures of one sweep run."""

    store: Path | str
    planned: int = 0
    skipped_done: int = 0
    written: int = 0
    failed: dict[str, str] = field(default_factory=dict)  # task -> error line
    skipped: dict[str, str] = field(default_factory=dict)  # analysis -> reason
    seconds: float = 0.0

    @property
    def exit_code(self) -> int:
        return EXIT_SOME_FAILED if self.failed else 0


@dataclass(frozen=True)
class Progress:
    """A progress event: checkpoints done of total, and the one just finished."""

    done: int
    total: int
    model: str
    step: int
    elapsed: float


def resolve_analyses(names: tuple[str, ...] | None) -> tuple[str, ...]:
    """Validate analysis names; None means every default analysis that is installed."""
    if names is None:
        known = set(available_analyses())
        return tuple(a for a in DEFAULT_ANALYSES if a in known)
    for name in names:  # imports only these analyses' modules (start-up of a weights sweep)
        get_analysis(name)  # raises a clear error for an unknown name
    return tuple(dict.fromkeys(names))


def _open_suite(config: SweepConfig) -> Suite:
    from ckptscope.sources import open_suite

    options: dict[str, Any] = {}
    if config.max_disk:
        options["max_disk"] = config.max_disk
    return open_suite(config.suite, **options)


def _steps_by_model(suite: Suite, config: SweepConfig) -> dict[str, list[int]]:
    from ckptscope.sources import select_steps

    models = suite.models()
    chosen = list(config.models) if config.models else models
    unknown = [m for m in chosen if m not in models]
    if unknown:
        raise UsageError(
            f"suite {suite.name!r} has no model {unknown[0]!r}; models: {', '.join(models)}"
        )
    return {m: select_steps(config.steps, suite.steps(m)) for m in chosen}


def _drop_unrunnable(
    suite: Suite, analyses: tuple[str, ...], config: SweepConfig, model: str, step: int
) -> tuple[str, ...]:
    """Analyses that need a tokenizer or data are skipped, with one line, when there is none."""
    needs_data = [a for a in analyses if {"tokenizer", "data"} & get_analysis(a).requires]
    if not needs_data or config.data:
        return analyses
    try:
        with suite.open(model, step) as ckpt:
            has_tokenizer = ckpt.tokenizer_dir() is not None
    except CheckpointError:  # that checkpoint's own task will fail and say why
        return analyses
    if has_tokenizer:
        return analyses
    log.warning(
        "suite %s has no tokenizer and no --data was given: skipping %s",
        suite.name,
        ", ".join(needs_data),
    )
    return tuple(a for a in analyses if a not in needs_data)


def run_sweep(
    config: SweepConfig,
    progress: Callable[[Progress], None] | None = None,
    suite: Suite | None = None,
) -> SweepResult:
    """Run a sweep to completion; resumable, since stored tasks are skipped."""
    start = time.perf_counter()
    if config.max_disk and config.executor != "local":
        # workers get a copy of the suite without its download thread
        raise UsageError("--max-disk streaming runs with --executor local only")
    if suite is not None and suite.local_only and config.executor != "local":
        raise UsageError(f"{suite.local_only} (not executor={config.executor!r})")
    # Refuse bad options before opening anything: one line, exit code 1, no task run.
    check_device(config.device, local=not (config.executor == "ray" and config.address))
    analyses = resolve_analyses(config.analyses)
    _check_options(config.extra, analyses)
    suite = suite if suite is not None else _open_suite(config)
    try:
        # the suite refuses what cannot start (steps it lacks, an unreachable Hub) before
        # the store is created
        steps_by_model = _steps_by_model(suite, config)
        suite.preflight(steps_by_model)
        try:
            store = Store(config.out)
        except OSError as err:
            raise UsageError(f"cannot create store at {config.out}: {err.strerror}") from None
        # held while the sweep writes: a compaction of this store refuses meanwhile (and a
        # sweep refuses, one line, while one runs)
        with store.sweep_lock():
            return _run_locked(config, store, analyses, start, progress, suite, steps_by_model)
    finally:
        close = getattr(suite, "close", None)
        if callable(close):
            close()


def _run_locked(
    config: SweepConfig,
    store: Store,
    analyses: tuple[str, ...],
    start: float,
    progress: Callable[[Progress], None] | None,
    suite: Suite,
    steps_by_model: dict[str, list[int]],
) -> SweepResult:
    result = SweepResult(store=config.out)
    first = next(((m, s[0]) for m, s in steps_by_model.items() if s), None)
    if first is not None:
        runnable = _drop_unrunnable(suite, analyses, config, *first)
        for name in set(analyses) - set(runnable):
            result.skipped[name] = "no tokenizer or data"
        analyses = runnable
    tasks, result.skipped_done = plan_sweep(suite, store, analyses, steps_by_model)
    if result.skipped_done:
        _warn_if_options_differ(store, suite.name, {**config.extra, **extra_data(config)})
    result.planned = sum(len(t.analyses) for t in tasks)
    extra = {**config.extra, **extra_data(config)}
    options = SweepOptions(device=config.device, seed=config.seed, extra=extra)
    executor = make_executor(config.executor, workers=config.workers, address=config.address)
    # In this process (and unless the suite streams into a bounded disk, which holds only
    # three checkpoints), consecutive checkpoints of a model run as one series: each file
    # is read once per series (runner.run_series). Other executors get one task per item.
    series = config.executor == "local" and not getattr(suite, "max_disk", None)
    fn: Callable[..., TaskOutcome | list[TaskOutcome]] = run_series if series else run_checkpoint
    items: list[tuple[Any, ...]] = (
        [(suite, store, group, options) for group in series_groups(tasks)]
        if series
        else [(suite, store, task, options) for task in tasks]
    )
    try:
        i = 0
        for got in executor.map_unordered(fn, items):
            for outcome in got if isinstance(got, list) else [got]:
                i += 1
                _collect(result, outcome)
                if progress is not None:
                    t = outcome.task
                    elapsed = time.perf_counter() - start
                    progress(Progress(i, len(tasks), t.model, t.step, elapsed))
        for name, err in run_derivations(store, suite.name).items():
            result.failed[f"derive:{name}"] = err
    except StoreError as err:  # the store cannot be written (disk full, read-only): stop
        result.failed["store"] = str(err)  # one line; exit code 3
    finally:
        executor.close()
    result.seconds = time.perf_counter() - start
    return result


def _check_options(extra: Mapping[str, Any], analyses: tuple[str, ...]) -> None:
    """Refuse option keys no chosen analysis reads (a typo would otherwise pass silently),
    and values out of range, as each analysis parses them (``Analysis.parse_options``)."""
    known = set().union(*(get_analysis(a).options for a in analyses)) if analyses else set()
    unknown = sorted(set(extra) - known - {"data"})
    if unknown:
        raise UsageError(
            f"option {unknown[0]!r} is read by none of the analyses {', '.join(analyses)}; "
            f"their options: {', '.join(sorted(known)) or 'none'}"
        )
    for name in analyses:
        try:
            get_analysis(name).parse_options(extra)
        except (ValueError, TypeError, UsageError) as err:
            raise UsageError(f"--set for {name}: {err}") from None


def extra_data(config: SweepConfig) -> dict[str, Any]:
    """The data option as analyses see it."""
    return {"data": config.data} if config.data else {}


def _warn_if_options_differ(store: Store, suite_name: str, options: dict[str, Any]) -> None:
    """Stored tasks are kept, not recomputed: say so when they came from other options."""
    import json

    want = json.dumps(options, sort_keys=True, default=str)
    metas = store.for_suite(suite_name).query("select distinct meta from tasks").meta
    for meta in metas:
        got = json.dumps(json.loads(meta or "{}").get("options", {}), sort_keys=True)
        if got != want:
            log.warning(
                "store %s holds results of suite %s made with other options (%s, now %s); "
                "they are kept: sweep into a new --out to recompute",
                store.root,
                suite_name,
                got,
                want,
            )
            return


def _collect(result: SweepResult, outcome: TaskOutcome) -> None:
    t: CheckpointTask = outcome.task
    # ``already``: written by an earlier attempt of this task that died (an executor retry)
    result.written += len(outcome.written) + len(outcome.already)
    for name, err in outcome.failed.items():
        result.failed[str(TaskKey(t.suite, t.model, t.step, name))] = err
    for name, why in outcome.skipped.items():
        if name not in result.skipped:
            log.warning("%s skipped: %s", name, why)
        result.skipped[name] = why


def run_derivations(store: Store, suite_name: str) -> dict[str, str]:
    """Run every registered derivation over the store; returns those that failed."""
    failed: dict[str, str] = {}
    view = store.for_suite(suite_name)  # a derivation sees only this suite's rows
    derivations = available_derivations()
    # One scan of the store for all of them (each reads analyses' rows, none another
    # derivation's), then each output written; a failure costs only its derivation.
    outputs: list[tuple[str, Derived | str]] = []  # a failure as its line (no traceback)
    with view.pinned():
        for derivation in derivations:
            try:
                outputs.append((derivation.name, derivation.derive(view)))
            except Exception as err:
                msg = f"derivation {derivation.name}: {type(err).__name__}: {err}"
                outputs.append((derivation.name, msg.splitlines()[0]))
    for name, derived in outputs:
        if isinstance(derived, str):
            msg = derived
            log.warning(msg)
            store.record_failure(TaskKey(suite_name, "*", -1, f"derive:{name}"), msg)
            failed[name] = msg
            continue
        store.write_derived(name, suite_name, derived)
        store.clear_failure(TaskKey(suite_name, "*", -1, f"derive:{name}"))
    return failed
