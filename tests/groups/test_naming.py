"""A model's group from its name: Pythia's repos and the offline trainer's models."""

from __future__ import annotations

import pytest

from ckptscope.groups import STANDARD, ModelGroup, parse_model
from ckptscope.train.config import ModelSize, SuiteConfig, TrainConfig


@pytest.mark.parametrize(
    ("name", "size", "variant", "seed"),
    [
        ("pythia-160m", "160m", STANDARD, 0),
        ("pythia-160m-deduped", "160m", "deduped", 0),
        ("pythia-160m-seed3", "160m", STANDARD, 3),
        ("pythia-160m-deduped-seed1", "160m", "deduped", 1),
        ("EleutherAI/pythia-1.4b-deduped-v0", "1.4b", "deduped-v0", 0),
        ("pythia-14m-seed9", "14m", STANDARD, 9),
        ("gpt2", "gpt2", STANDARD, 0),
        ("my-run-seed12", "my-run", STANDARD, 12),
        ("w64-seed1", "w64", STANDARD, 1),
        ("w64l4", "w64l4", STANDARD, 0),
        ("w64-init_sampled-seed1", "w64", "init_sampled", 1),
        ("w64-init_standard", "w64", "init_standard", 0),
    ],
)
def test_names(name: str, size: str, variant: str, seed: int) -> None:
    g = parse_model("s", name)
    assert (g.model, g.size, g.variant, g.seed) == (name, size, variant, seed)


def test_group_names() -> None:
    g = parse_model("pythia", "pythia-160m-deduped-seed2")
    assert (g.label, g.group, g.key) == ("160m-deduped", "pythia/160m-deduped",
                                         ("pythia", "160m", "deduped"))  # fmt: skip
    assert parse_model("demo", "w64").group == "demo/w64"


def test_the_trainers_names_round_trip() -> None:
    """Every model the offline trainer names parses back to its size and seed."""
    cfg = SuiteConfig("t", (ModelSize(64, 2), ModelSize(64, 4), ModelSize(128, 2)),
                      TrainConfig(steps=2, batch_size=1, seq_len=4), seeds=(0, 1, 7))  # fmt: skip
    parsed = [parse_model("t", name) for name, _, _ in cfg.models()]
    assert [g.seed for g in parsed] == [s for _, _, s in cfg.models()]
    assert {g.size for g in parsed} == {"w64l2", "w64l4", "w128"}
    # seeds of one size are one group; sizes are not merged
    assert len({g.group for g in parsed}) == 3
    assert parsed[1] == ModelGroup("t", "w64l2-seed1", "w64l2", STANDARD, 1)


def test_the_experiments_names_group_their_seeds() -> None:
    from ckptscope.experiments.init_from_final import run_name

    for init in ("standard", "sampled", "permuted"):
        groups = {parse_model("x", run_name("w64", init, seed)).key for seed in (0, 1, 2)}
        assert groups == {("x", "w64", f"init_{init}")}
