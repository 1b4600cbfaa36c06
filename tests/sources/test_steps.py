"""Step parsing from folder and revision names, and step selections."""

from __future__ import annotations

import pytest

from ckptscope.errors import UsageError
from ckptscope.sources import select_steps
from ckptscope.sources.pythia import PYTHIA_STEPS, PYTHIA_V0_STEPS, expand_pythia, pythia_steps
from ckptscope.sources.steps import parse_step


@pytest.mark.parametrize(
    ("name", "step"),
    [
        ("step1000", 1000),
        ("checkpoint-1000", 1000),
        ("global_step1000", 1000),
        ("iter_0001000", 1000),
        ("step0", 0),
        ("step1000-tokens4B", 1000),
        ("step477000-tokens2000B", 477000),
        ("main", None),
        ("step1000.tmp", None),
        ("tmp-step1000", None),
        ("checkpoint-latest", None),
    ],
)
def test_parse_step(name, step):
    assert parse_step(name) == step


AVAIL = list(PYTHIA_STEPS)


def test_select_all_and_none():
    assert select_steps(None, AVAIL) == AVAIL
    assert select_steps("all", [3, 1, 2]) == [1, 2, 3]


def test_ranges_include_stop_and_intersect():
    assert select_steps("0,1000:5000:1000", AVAIL) == [0, 1000, 2000, 3000, 4000, 5000]
    assert select_steps("100:3000", AVAIL) == [128, 256, 512, 1000, 2000, 3000]
    assert select_steps("0:10:1", AVAIL) == [0, 1, 2, 4, 8]


def test_log_every_last_and_combinations():
    assert select_steps("log", AVAIL) == [0, 1, 2, 4, 8, 16, 32, 64, 128, 256, 512]
    assert select_steps("last", AVAIL) == [143000]
    every = select_steps("every:10", AVAIL)
    assert every[0] == 0 and every[-1] == 143000 and every[1] == AVAIL[10]
    assert len(every) == len(AVAIL[::10]) + 1
    assert select_steps("log,last,2000", AVAIL) == [
        0,
        1,
        2,
        4,
        8,
        16,
        32,
        64,
        128,
        256,
        512,
        2000,
        143000,
    ]


def test_bad_selections_are_clear():
    with pytest.raises(UsageError, match="no checkpoint at step 1500"):
        select_steps("1500", AVAIL)
    with pytest.raises(UsageError, match="bad step selection 'every:x'"):
        select_steps("every:x", AVAIL)
    with pytest.raises(UsageError, match="bad step selection"):
        select_steps("1:2:3:4", AVAIL)


def test_pythia_registry():
    assert len(PYTHIA_STEPS) == 154 and len(PYTHIA_V0_STEPS) == 143
    assert pythia_steps("EleutherAI/pythia-160m-deduped") == list(PYTHIA_STEPS)
    assert pythia_steps("EleutherAI/pythia-1.4b-v0") == list(PYTHIA_V0_STEPS)
    assert pythia_steps("EleutherAI/pythia-70m-seed3") == list(PYTHIA_STEPS)
    assert pythia_steps("allenai/OLMo-1B") is None
    assert expand_pythia("160m, 410m-deduped,14m-seed2") == [
        "EleutherAI/pythia-160m",
        "EleutherAI/pythia-410m-deduped",
        "EleutherAI/pythia-14m-seed2",
    ]
    with pytest.raises(UsageError, match="unknown Pythia model '150m'"):
        expand_pythia("150m")
    with pytest.raises(UsageError, match="no seed runs"):
        expand_pythia("12b-seed1")
