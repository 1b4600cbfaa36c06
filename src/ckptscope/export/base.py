"""What every exporter shares: the per-step entry point, the whole-store export, the plan.

An :class:`Exporter` turns one model's rows at one step (:class:`~.rows.StepRows`) into
logged points. ``write_step(store, model, step)`` is the live entry point (a watcher calls
it after each training step); :func:`export_store` walks a whole store through the same
``write`` method, model by model, steps ascending. :func:`plan_export` checks the store,
the filters and the names before anything is written.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import pandas as pd

from ckptscope.errors import UsageError
from ckptscope.export.rows import (
    HISTOGRAM_KINDS,
    StepRows,
    iter_step_rows,
    run_parts,
    tag_map,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunPlan:
    """One run of an export: a (suite, model) of the store and its folder name parts."""

    suite: str
    model: str
    folder: tuple[str, str]  # (suite, model), sanitised: the run is ``DIR/suite/model``


@dataclass(frozen=True)
class ExportPlan:
    """The runs an export writes and the metrics it keeps (None: all)."""

    runs: tuple[RunPlan, ...]
    metrics: tuple[str, ...] | None


@dataclass(frozen=True)
class ExportSummary:
    """How much an export wrote."""

    runs: int
    steps: int
    scalars: int
    histograms: int


class Exporter(ABC):
    """Forwards a store's rows to an experiment tracker, one (model, step) at a time.

    ``metrics`` keeps only these scalar metrics and histogram kinds (None: all).
    """

    def __init__(self, metrics: Sequence[str] | None = None) -> None:
        self.metrics: tuple[str, ...] | None = None if metrics is None else tuple(metrics)
        self._single: tuple[str, str] | None = None  # the (suite, model) a given writer holds

    def write_step(self, store: Any, model: str, step: int) -> None:
        """Forward the rows of ``model`` at training ``step`` in ``store``."""
        suite = getattr(store, "suite", None)
        for rows in iter_step_rows(store, model, suite=suite, step=step, metrics=self.metrics):
            self.write(rows)

    @abstractmethod
    def write(self, rows: StepRows) -> None:
        """Log one model's points at one step."""

    def end_run(self, suite: str, model: str) -> None:
        """The export has written every step of (suite, model): its run may be closed."""

    @abstractmethod
    def close(self) -> None:
        """Flush and close what this exporter opened (a writer or run it was given stays open)."""

    def _one_run(self, rows: StepRows) -> None:
        """Refuse a second (suite, model) when writing into one given writer or run."""
        key = (rows.suite, rows.model)
        if self._single is None:
            self._single = key
        elif self._single != key:
            raise UsageError(
                f"{type(self).__name__} over a given writer logs one model: got suite "
                f"{rows.suite!r} model {rows.model!r} after {self._single[0]!r} "
                f"{self._single[1]!r}; give a folder to log several models"
            )

    def __enter__(self) -> Exporter:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        err: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def plan_export(
    store: Any,
    models: Sequence[str] | None = None,
    metrics: Sequence[str] | None = None,
    suite: str | None = None,
) -> ExportPlan:
    """Check filters and names against the store; the runs to write (one per suite, model).

    Raises ``UsageError`` with one line when a filter matches nothing, a name cannot be made
    safe, or two rows of a model or two runs would share a tag or a folder.
    """
    with store.pinned():
        scalars = store.query(
            "SELECT DISTINCT suite, model, component, block, param, head, metric "
            "FROM scalars WHERE label IS NULL"
        )
        kinds = ", ".join(f"'{k}'" for k in HISTOGRAM_KINDS)
        hists = store.query(
            "SELECT DISTINCT suite, model, component, block, param, head, kind AS metric "
            f"FROM arrays WHERE kind IN ({kinds})"
        )
    keys = pd.concat([scalars, hists], ignore_index=True)
    if keys.empty:
        raise UsageError(f"store {store.location} holds no scalars or histograms to export")
    keys = _filter(keys, "suite", None if suite is None else [suite], "--suite")
    keys = _filter(keys, "model", models, "--models")
    keys = _filter(keys, "metric", metrics, "--metrics")
    runs: list[RunPlan] = []
    folders: dict[tuple[str, str], tuple[str, str]] = {}
    for (s, m), group in keys.groupby(["suite", "model"], sort=True):
        folder = run_parts(s, m)
        if folder in folders:
            raise UsageError(
                f"suite {s!r} model {m!r} and suite {folders[folder][0]!r} model "
                f"{folders[folder][1]!r} would share the run folder {'/'.join(folder)}"
            )
        folders[folder] = (s, m)
        tag_map(group, f"suite {s!r} model {m!r}")
        runs.append(RunPlan(str(s), str(m), folder))
    return ExportPlan(tuple(runs), None if metrics is None else tuple(metrics))


def _filter(
    keys: pd.DataFrame, column: str, wanted: Sequence[str] | None, option: str
) -> pd.DataFrame:
    if wanted is None:
        return keys
    have = set(keys[column])
    missing = [w for w in wanted if w not in have]
    if missing:
        known = ", ".join(sorted(map(str, have))[:20])
        raise UsageError(f"{option}: no {column} {missing[0]!r} in the store; it has: {known}")
    return keys[keys[column].isin(list(wanted))]


def export_store(
    store: Any,
    exporter: Exporter,
    models: Sequence[str] | None = None,
    metrics: Sequence[str] | None = None,
    suite: str | None = None,
) -> ExportSummary:
    """Write every scalar and histogram row of ``store`` (filtered) through ``exporter``.

    ``metrics`` defaults to the exporter's own filter.
    """
    plan = plan_export(store, models, exporter.metrics if metrics is None else metrics, suite)
    steps = scalars = histograms = 0
    with store.pinned():
        for run in plan.runs:
            for rows in iter_step_rows(store, run.model, suite=run.suite, metrics=plan.metrics):
                exporter.write(rows)
                steps += 1
                scalars += len(rows.scalars)
                histograms += len(rows.histograms)
            exporter.end_run(run.suite, run.model)
            log.info("exported suite %s model %s", run.suite, run.model)
    return ExportSummary(len(plan.runs), steps, scalars, histograms)
