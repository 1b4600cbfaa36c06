"""Planning a sweep: which (model, step) checkpoints need which analyses."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from ckptscope.sources.base import Suite
from ckptscope.store import Store, TaskKey

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CheckpointTask:
    """One checkpoint to open once, with every analysis still missing for it.

    ``initial_step`` is the model's first checkpoint (distances from init);
    ``previous_step`` the checkpoint before this one in the sweep (update sizes);
    ``next_step`` the one after it, which a streaming source may fetch meanwhile.
    """

    suite: str
    model: str
    step: int
    analyses: tuple[str, ...]
    initial_step: int | None
    previous_step: int | None
    next_step: int | None = None
    final_step: int | None = None  # the model's last checkpoint (closeness to final)

    def task_keys(self) -> list[TaskKey]:
        return [TaskKey(self.suite, self.model, self.step, a) for a in self.analyses]

    def label(self) -> str:
        return f"{self.model} step {self.step}"


def plan_sweep(
    suite: Suite,
    store: Store,
    analyses: tuple[str, ...],
    steps_by_model: dict[str, list[int]],
) -> tuple[list[CheckpointTask], int]:
    """Tasks still to run, and how many (checkpoint, analysis) pairs were already stored."""
    done = store.done()
    tasks: list[CheckpointTask] = []
    skipped = 0
    for model, steps in steps_by_model.items():
        available = suite.steps(model)
        initial = available[0] if available else None
        previous: int | None = None
        for i, step in enumerate(steps):
            missing = tuple(a for a in analyses if TaskKey(suite.name, model, step, a) not in done)
            skipped += len(analyses) - len(missing)
            if missing:
                after = steps[i + 1] if i + 1 < len(steps) else None
                final = available[-1] if available else None
                tasks.append(
                    CheckpointTask(
                        suite.name, model, step, missing, initial, previous, after, final
                    )
                )
            previous = step
    return tasks, skipped


#: consecutive checkpoints of one model run together by the in-process sweep
#: (``runner.run_series``): each series reads every checkpoint once, plus the model's
#: initial checkpoint and the series' first "previous" once each, instead of up to three
#: files per checkpoint; its tasks are stored when the series ends, so an interrupted
#: sweep redoes at most this many checkpoints
SERIES_STEPS = 8


def series_groups(
    tasks: list[CheckpointTask], size: int = SERIES_STEPS
) -> list[list[CheckpointTask]]:
    """``tasks`` cut into runs of at most ``size`` consecutive tasks of one model."""
    if size < 1:
        raise ValueError(f"series size must be >= 1, got {size}")
    groups: list[list[CheckpointTask]] = []
    for task in tasks:
        last = groups[-1] if groups else None
        if last is not None and last[-1].model == task.model and len(last) < size:
            last.append(task)
        else:
            groups.append([task])
    return groups
