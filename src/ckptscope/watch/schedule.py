"""The steps a :class:`~ckptscope.watch.Watcher` analyses: Pythia-shaped or the user's list."""

from __future__ import annotations

import numbers
from collections.abc import Iterable

from ckptscope.errors import UsageError

#: evenly spaced steps of a schedule given by its total steps (Pythia's shape, as the
#: offline trainer's checkpoints: ``train/schedule.py``)
N_EVEN = 10


def watch_steps(schedule: int | Iterable[int], n_even: int = N_EVEN) -> tuple[int, ...]:
    """The watched steps: for ``schedule`` an int, the total training steps, step 0, powers
    of two, then ``n_even`` evenly spaced steps to the last (``checkpoint_steps``); else the
    explicit steps, non-negative integers in increasing order. UsageError names a bad one."""
    from ckptscope.train.schedule import checkpoint_steps

    if _is_int(schedule):
        total = int(schedule)  # type: ignore[arg-type]
        if total < 1:
            raise UsageError(f"watch schedule: total steps {total} is not a positive integer")
        return tuple(checkpoint_steps(total, n_even))
    if isinstance(schedule, str | bytes) or not isinstance(schedule, Iterable):
        raise UsageError(
            f"watch schedule: {schedule!r} is neither the total steps (an int) nor a list of steps"
        )
    steps: list[int] = []
    for value in schedule:
        if not _is_int(value) or value < 0:
            raise UsageError(
                f"watch schedule: step {value!r} is not a non-negative integer (a training step)"
            )
        if steps and value <= steps[-1]:
            raise UsageError(
                f"watch schedule: step {value} after step {steps[-1]}: "
                "steps must be given in increasing order, each once"
            )
        steps.append(int(value))
    if not steps:
        raise UsageError("watch schedule: no steps")
    return tuple(steps)


def _is_int(value: object) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)
