"""The time budget's rule, and how analyses are grouped for it."""

from __future__ import annotations

import math

import pytest

from ckptscope.errors import UsageError
from ckptscope.watch.budget import TimeBudget, check_fraction, units


def test_a_measured_group_runs_only_when_its_cost_fits() -> None:
    b = TimeBudget(0.1, training=100.0, spent=4.0, costs={("spectra",): 6.0})
    assert b.allowance == pytest.approx(10.0)
    assert b.fits(("spectra",))  # 4 + 6 <= 10
    assert not b.fits(("spectra",), running=0.5)  # the current step's own time counts
    b.spent = 4.5
    assert not b.fits(("spectra",))
    assert b.share() == pytest.approx(0.045)


def test_an_unmeasured_group_runs_once_while_under_budget() -> None:
    b = TimeBudget(0.05, training=0.0)
    assert not b.fits(("spectra",))  # no training yet: nothing to spend
    b.training = 10.0
    assert b.fits(("spectra",))  # 0 < 0.5
    b.spent = 0.5
    assert not b.fits(("spectra",))


@pytest.mark.parametrize("bad", [0, 0.0, -0.1, 1.01, 2, math.nan, math.inf, True, "0.05", None])
def test_bad_budgets_are_refused_in_one_line(bad) -> None:
    with pytest.raises(UsageError, match=r"watch budget .* is not a fraction") as err:
        check_fraction(bad)
    assert "\n" not in str(err.value)


def test_budget_bounds_are_kept() -> None:
    assert check_fraction(1) == 1.0
    assert check_fraction(0.05) == 0.05


def test_cheap_analyses_apart_and_the_evaluation_pass_as_one_group() -> None:
    cheap, groups = units(("weights", "spectra", "gradients", "integrity", "activations"))
    assert cheap == ("weights", "integrity")
    assert groups == [("spectra",), ("gradients", "activations")]
    assert units(("activations",)) == ((), [("activations",)])
