"""The watch schedule: the trainer's Pythia-shaped steps, or the user's increasing list."""

from __future__ import annotations

import pytest

from ckptscope.errors import UsageError
from ckptscope.train.schedule import checkpoint_steps
from ckptscope.watch import watch_steps


def test_total_steps_give_the_pythia_shape() -> None:
    assert watch_steps(1000) == tuple(checkpoint_steps(1000, 10))
    assert watch_steps(1000)[:5] == (0, 1, 2, 4, 8)
    assert watch_steps(143000, n_even=143) == tuple(checkpoint_steps(143000, 143))
    assert watch_steps(3) == (0, 1, 2, 3)


def test_an_explicit_list_is_kept() -> None:
    assert watch_steps([0, 4, 8, 100]) == (0, 4, 8, 100)
    assert watch_steps(range(5, 20, 5)) == (5, 10, 15)


@pytest.mark.parametrize(
    ("schedule", "says"),
    [
        ([0, -4, 8], "step -4 is not a non-negative integer"),
        ([0, 8, 4], "step 4 after step 8"),
        ([0, 4, 4], "step 4 after step 4"),
        ([0, 2.5], "step 2.5 is not"),
        ([True, 2], "step True is not"),
        ([], "no steps"),
        (0, "total steps 0"),
        (-10, "total steps -10"),
        ("0,1,2", "neither the total steps"),
        (None, "neither the total steps"),
    ],
)
def test_bad_schedules_are_refused_in_one_line(schedule, says) -> None:
    with pytest.raises(UsageError, match="watch schedule") as err:
        watch_steps(schedule)
    assert says in str(err.value) and "\n" not in str(err.value)
