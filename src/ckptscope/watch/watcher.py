"""``Watcher``: analyse a model while it trains, into a store, as a sweep of its checkpoints.

A training loop calls ``watcher.step(step)`` before its first optimizer step (``step(0)``)
and after every one; at a scheduled step the watcher copies the weights (``snapshot.py``)
and runs the sweep engine's ``run_checkpoint`` on that copy, so the store gets exactly the
rows a sweep of that checkpoint saved to disk would write. The watcher keeps to a share of
the training's wall time (``budget.py``); what it leaves out is recorded in the store as an
event of kind ``skipped``. It changes nothing of the run: weights, optimizer, random
streams and train/eval mode are left as they were, so a run's weights are bit-identical
with and without it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from torch import nn

from ckptscope.analyses.base import SweepOptions, get_analysis
from ckptscope.engine.plan import CheckpointTask
from ckptscope.engine.runner import run_checkpoint
from ckptscope.engine.sweep import _check_options, resolve_analyses, run_derivations
from ckptscope.errors import UsageError, one_line
from ckptscope.records import Derived, Event
from ckptscope.sources.memory import _model_type, _tokenizer_folder, stored_weights
from ckptscope.store import Store, TaskKey
from ckptscope.watch.budget import DEFAULT_FRACTION, TimeBudget, check_fraction, units
from ckptscope.watch.schedule import watch_steps
from ckptscope.watch.snapshot import HeldSuite, snapshot, untouched

log = logging.getLogger(__name__)

#: the ``kind`` of the events that record what the watcher left out
SKIPPED = "skipped"
OVER_BUDGET = "skipped: over time budget"


@dataclass(frozen=True)
class WatchSummary:
    """What a watcher did: seconds of training and of its own work, tasks run and left out."""

    training_seconds: float = 0.0
    watch_seconds: float = 0.0
    steps_watched: list[int] = field(default_factory=list)
    written: int = 0  # (step, analysis) tasks written
    failed: dict[str, str] = field(default_factory=dict)  # task -> error line
    skipped: dict[str, int] = field(default_factory=dict)  # analysis -> steps over budget

    @property
    def share(self) -> float:
        """The watcher's time as a fraction of the training's."""
        return self.watch_seconds / self.training_seconds if self.training_seconds else 0.0


class Watcher:
    """Analyse ``model`` at the steps of ``schedule`` while it trains, into ``store``.

    ``store`` is a :class:`~ckptscope.store.Store` or its location. ``schedule`` is the total
    training steps (watched at 0, powers of two, then 10 evenly spaced steps: the offline
    trainer's checkpoint steps) or a list of steps in increasing order. ``analyses`` are
    sweep analyses (None: every default one that can run). ``budget`` is the share of the
    training's wall time the watcher may take (expensive analyses are spaced out to keep to
    it; weight statistics run at every watched step). ``batch`` is the evaluation data of
    the activation and gradient analyses (a text file or a ``.npy`` of token ids; None: the
    shipped held-out corpus, tokenized with ``tokenizer``, a folder of tokenizer files).
    ``loggers`` have ``write_step(store, model, step)`` (and maybe ``close()``), called
    after each watched step's rows are written. ``name`` is the model's name in the store
    (None: its config's ``model_type``), ``suite`` the suite's. ``options`` are the
    analyses' options (``{"n_seqs": 8}``), ``clock`` a seconds counter. ``close()`` runs the
    store's derivations, as a sweep does at its end (``derive=False``: the caller runs
    them, once for several watchers of one store).

    Steps already in the store are skipped, so a new Watcher on the store of a resumed run
    appends. Distances from the initial weights need a copy of them: after a resume, hand
    the watcher the saved initial weights with :meth:`hold` (the offline trainer does);
    calling ``step`` at the resumed step gives it the previous weights.
    """

    def __init__(
        self,
        store: Store | str | Path,
        model: nn.Module,
        schedule: int | Iterable[int],
        analyses: str | Iterable[str] | None = None,
        budget: float = DEFAULT_FRACTION,
        batch: str | Path | None = None,
        loggers: Iterable[Any] = (),
        name: str | None = None,
        tokenizer: str | Path | None = None,
        *,
        suite: str = "watch",
        options: Mapping[str, Any] | None = None,
        seed: int = 0,
        derive: bool = True,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        # Everything is checked before the store is touched: one line names the bad input.
        if not callable(clock):
            raise UsageError(f"watch clock {clock!r} is not callable (e.g. time.perf_counter)")
        started = clock()  # setting up (imports, the store) counts against the budget too
        self.steps = watch_steps(schedule)
        self.budget = TimeBudget(check_fraction(budget))
        name = name if name is not None else (_model_type(model) or "model")
        for what, value in (("name", name), ("suite", suite)):
            if not isinstance(value, str) or not value.strip():
                raise UsageError(f"watch {what} {value!r} is not a non-empty string")
        stored_weights(model, f"watched model {name!r}")  # a transformers model, or refused
        self.model, self.name, self.suite = model, name, suite
        self.loggers = _check_loggers(loggers)
        self._clock = clock
        self.derive = derive
        extra = dict(options or {})
        if batch is not None:
            batch = Path(batch).expanduser()
            if not batch.is_file():
                raise UsageError(f"watch batch {str(batch)!r} is not a file (text or .npy ids)")
            extra["data"] = str(batch)
        tokenizer_dir = _tokenizer_folder(tokenizer)
        self.analyses = _analyses(analyses, batch, tokenizer_dir)
        _check_options({k: v for k, v in extra.items() if k != "data"}, self.analyses)
        self.options = SweepOptions(device="cpu", seed=seed, extra=extra)
        self.cheap, self.groups = units(self.analyses)
        if isinstance(store, Store):
            self.store = store
        else:
            try:
                self.store = Store(store)
            except OSError as err:
                raise UsageError(f"cannot create store at {store}: {err.strerror}") from None
        self._held = HeldSuite(suite, name, tokenizer_dir)
        self._done = {
            (k.step, k.analysis) for k in self.store.done() if k.suite == suite and k.model == name
        }
        self._events = self._stored_events()
        # (group, its analyses left) of the initial step still to run, on its held copy
        self._pending: list[tuple[tuple[str, ...], tuple[str, ...]]] = []
        self._last_run: dict[tuple[str, ...], int] = {}  # group -> last step it ran at
        self._previous: int | None = None  # last watched step (held)
        self._last_step: int | None = None
        self._resumed_at: float | None = None  # clock when step() last returned
        self._next = 0  # index of the next scheduled step not yet reached
        self._events_changed = False
        self.steps_watched: list[int] = []  # steps whose rows this watcher wrote
        self.written = 0  # (step, analysis) tasks written
        self.failed: dict[str, str] = {}  # task -> error line
        self.closed = False
        self.budget.spent += clock() - started

    # -- the training loop's calls --------------------------------------------------
    def step(self, step: int) -> None:
        """Call at step 0 and after each optimizer step; analyses the scheduled ones."""
        now = self._clock()
        if self.closed:
            raise UsageError(f"watcher of {self.name!r} is closed (step {step})")
        if isinstance(step, bool) or not isinstance(step, int) or step < 0:
            raise UsageError(f"watch step {step!r} is not a non-negative integer")
        if self._last_step is not None and step <= self._last_step:
            raise UsageError(f"watch step {step} after step {self._last_step}: steps must increase")
        if self._resumed_at is not None:
            self.budget.training += now - self._resumed_at
        self._last_step = step
        missed = []
        while self._next < len(self.steps) and self.steps[self._next] < step:
            missed.append(self.steps[self._next])
            self._next += 1
        if missed and self.steps_watched:
            log.warning("%s: scheduled steps %s were never reached by step()", self.name, missed)
        if self._next < len(self.steps) and self.steps[self._next] == step:
            self._next += 1
            with untouched(), self.store.sweep_lock():
                self._watch(step, now)
        self._resumed_at = self._clock()
        self.budget.spent += self._resumed_at - now

    def hold(self, step: int, model: nn.Module) -> None:
        """Keep a copy of ``model`` as the weights at ``step``, an earlier scheduled step
        not watched by this watcher: the initial weights after a resume, for the distances
        from them, or the last checkpoint before it, for the distances from the previous
        weights (the latest held step is the next watched step's previous). Nothing is
        analysed or written."""
        if isinstance(step, bool) or not isinstance(step, int) or step not in self.steps:
            raise UsageError(f"hold step {step!r} is not one of the watch schedule's steps")
        if self._last_step is not None and step > self._last_step:
            raise UsageError(f"hold step {step} is after the watched step {self._last_step}")
        with untouched():
            self._held.held[step] = snapshot(model, f"held model {self.name!r} at step {step}")
        if self._previous is None or step > self._previous:
            self._previous = step

    def close(self) -> WatchSummary:
        """Run the store's derivations (as a sweep ends), close the loggers; idempotent."""
        if self.closed:
            return self.summary
        self.closed = True
        start = self._clock()
        with untouched():
            if self.steps_watched and self.derive:
                with self.store.sweep_lock():
                    for name, err in run_derivations(self.store, self.suite).items():
                        self.failed[f"derive:{name}"] = err
            for logger in self.loggers:
                close = getattr(logger, "close", None)
                if callable(close):
                    try:
                        close()
                    except Exception as err:
                        log.warning("%s: closing logger %r: %s", self.name, logger, one_line(err))
        self._held.held.clear()
        self.budget.spent += self._clock() - start
        summary = self.summary
        log.info("%s: watched %d steps in %.1f s, %.1f%% of %.1f s training; over budget: %s",
                 self.name, len(summary.steps_watched), summary.watch_seconds,
                 100 * summary.share, summary.training_seconds, summary.skipped or "none")  # fmt: skip
        return summary

    def __enter__(self) -> Watcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- one watched step -----------------------------------------------------------
    def _watch(self, step: int, start: float) -> None:
        held = self._held.held
        held[step] = snapshot(self.model, f"watched model {self.name!r} at step {step}")
        first = self.steps[0]
        initial = first if first in held else None
        todo = [a for a in self.analyses if (step, a) not in self._done]
        wrote = False
        cheap = tuple(a for a in self.cheap if a in todo)
        if cheap:
            wrote |= self._run(step, cheap, initial)
        if initial is not None and initial != step:
            # groups left out at the initial step run first, on its held copy, when they fit
            for group, left in list(self._pending):
                if self.budget.fits(group, self._clock() - start):
                    self._pending.remove((group, left))
                    self._run(initial, left, initial, previous=None, cost_of=group)
        # the least recently run first, so that expensive analyses take turns
        for group in sorted(self.groups, key=lambda g: self._last_run.get(g, -1)):
            left = tuple(a for a in group if a in todo)
            if not left:
                continue
            if self.budget.fits(group, self._clock() - start):
                wrote |= self._run(step, left, initial, cost_of=group)
            else:
                if step == initial:
                    self._pending.append((group, left))
                self._skip(step, left)
        if self._events_changed:
            self._write_events()
        if wrote:
            self.steps_watched.append(step)
            self._log(step)
        # the copies still needed: the initial step's, and this one (the next one's previous)
        for old in [s for s in held if s not in (initial, step)]:
            del held[old]
        self._previous = step

    def _run(
        self,
        step: int,
        analyses: tuple[str, ...],
        initial: int | None,
        previous: int | str | None = "last",
        cost_of: tuple[str, ...] | None = None,
    ) -> bool:
        """Run ``analyses`` on the copy of ``step`` with the engine; True when it wrote."""
        before = self._previous if previous == "last" else previous
        task = CheckpointTask(
            self.suite,
            self.name,
            step,
            analyses,
            initial,
            before,
            None,
            self.steps[-1],  # type: ignore[arg-type]
        )
        t0 = self._clock()
        outcome = run_checkpoint(self._held, self.store, task, self.options)
        if not set(analyses) <= set(self.cheap):
            group = cost_of or analyses
            self.budget.costs[group] = self._clock() - t0
            self._last_run[group] = step
        for name in (*outcome.written, *outcome.already):
            self._done.add((step, name))
            if self._events.pop((step, name), None) is not None:  # the initial step's, at last
                self._events_changed = True
        self.written += len(outcome.written)
        for name, err in outcome.failed.items():
            self.failed[str(TaskKey(self.suite, self.name, step, name))] = err
        for name, why in outcome.skipped.items():
            self._record(step, name, f"{name}: skipped: {why}")
        return bool(outcome.written)

    def _skip(self, step: int, analyses: tuple[str, ...]) -> None:
        """Record that ``analyses`` are left out at ``step`` (the initial step's: for now)."""
        b = self.budget
        for name in analyses:
            self._record(
                step,
                name,
                f"{name}: {OVER_BUDGET} (watcher {b.spent:.3g} s of {b.training:.3g} s "
                f"training, budget {b.fraction:.0%})",
            )

    @property
    def summary(self) -> WatchSummary:
        """What the watcher did so far."""
        skipped: dict[str, int] = {}
        for (_, name), message in self._events.items():
            if OVER_BUDGET in message:
                skipped[name] = skipped.get(name, 0) + 1
        return WatchSummary(
            self.budget.training,
            self.budget.spent,
            list(self.steps_watched),
            self.written,
            dict(self.failed),
            skipped,
        )

    def _record(self, step: int, analysis: str, message: str) -> None:
        if (step, analysis) not in self._events:
            log.info("%s step %d: %s", self.name, step, message)
            self._events_changed = True
        self._events[(step, analysis)] = message

    # -- the skip records: events of the derivation ``watch-<model>`` -----------------
    @property
    def _source(self) -> str:
        return f"watch-{self.name}"

    def _stored_events(self) -> dict[tuple[int, str], str]:
        ev = self.store.events()
        ev = ev[(ev.source == self._source) & (ev.suite == self.suite)] if len(ev) else ev
        return {
            (int(s), str(m).split(":")[0]): str(m) for s, m in zip(ev.step, ev.message, strict=True)
        }

    def _write_events(self) -> None:
        self._events_changed = False
        events = [
            Event(self.name, step, SKIPPED, message)
            for (step, _), message in sorted(self._events.items())
        ]
        self.store.write_derived(self._source, self.suite, Derived(events=events))

    def _log(self, step: int) -> None:
        for logger in self.loggers:
            try:
                logger.write_step(self.store.for_suite(self.suite), self.name, step)
            except Exception as err:  # a broken exporter must not stop the training
                log.warning("%s step %d: logger %r: %s", self.name, step, logger, one_line(err))


def _check_loggers(loggers: Iterable[Any]) -> tuple[Any, ...]:
    if isinstance(loggers, str | bytes) or not isinstance(loggers, Iterable):
        raise UsageError(f"watch loggers {loggers!r}: expected a list of loggers")
    out = tuple(loggers)
    for logger in out:
        if not callable(getattr(logger, "write_step", None)):
            raise UsageError(
                f"watch logger {logger!r} has no write_step(store, model, step) method"
            )
    return out


def _analyses(
    analyses: str | Iterable[str] | None, batch: Path | None, tokenizer: Path | None
) -> tuple[str, ...]:
    """The analyses to run: named ones checked, defaults without those lacking data."""
    if isinstance(analyses, str):
        analyses = [a.strip() for a in analyses.split(",") if a.strip()]
    try:
        names = resolve_analyses(None if analyses is None else tuple(analyses))
    except (ValueError, TypeError) as err:
        raise UsageError(f"watch analyses: {err}") from None
    if not names:
        raise UsageError("watch analyses: none given")
    has_data = tokenizer is not None or (batch is not None and batch.suffix == ".npy")
    needs_data = [a for a in names if {"tokenizer", "data"} & get_analysis(a).requires]
    if needs_data and not has_data:
        if analyses is not None:
            raise UsageError(
                f"watch analyses {', '.join(needs_data)} need evaluation data: give "
                "tokenizer= (a folder of tokenizer files) or batch= (a .npy of token ids)"
            )
        log.info("no tokenizer and no batch: not watching %s", ", ".join(needs_data))
        names = tuple(a for a in names if a not in needs_data)
    return names
