"""Cutting a plan into series of consecutive tasks of one model (engine/plan.py)."""

import pytest

from ckptscope.engine.plan import CheckpointTask, series_groups


def _task(model, step):
    return CheckpointTask("s", model, step, ("weights",), 0, None)


def test_series_are_consecutive_tasks_of_one_model_at_most_size_long():
    tasks = [_task("a", s) for s in range(5)] + [_task("b", s) for s in range(3)]
    groups = series_groups(tasks, size=2)
    assert [[(t.model, t.step) for t in g] for g in groups] == [
        [("a", 0), ("a", 1)],
        [("a", 2), ("a", 3)],
        [("a", 4)],
        [("b", 0), ("b", 1)],
        [("b", 2)],
    ]
    assert [t for g in series_groups(tasks) for t in g] == tasks  # order kept
    assert series_groups([]) == []


def test_series_size_must_be_positive():
    with pytest.raises(ValueError, match="series size"):
        series_groups([_task("a", 0)], size=0)
