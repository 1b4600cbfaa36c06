"""The shipped presets: within two epochs of the shipped corpus, checkpointed at 0 and the
last step, deep enough for the depth findings, and runnable end to end at a few steps."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

import ckptscope as cs
from ckptscope.data.corpus import load_corpus
from ckptscope.data.tokenizer import encode_cached
from ckptscope.train import checkpoint_steps, train_suite
from ckptscope.train.config import PRESETS

#: the fewest blocks of a preset's deepest model, and its fewest sizes and widest model
DEPTH = {"demo": 4, "study": 6, "reference": 6, "small": 4}
SIZES = {"study": (3, 256), "reference": (2, 512)}


@pytest.fixture(scope="module")
def train_tokens() -> int:
    return len(encode_cached(load_corpus().train))


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_preset_within_two_epochs_and_checkpointed_at_both_ends(name: str, train_tokens: int):
    tc = PRESETS[name].train
    epochs = tc.steps * tc.tokens_per_step / train_tokens
    assert epochs <= 2, f"{name}: {epochs:.2f} epochs of the shipped corpus"
    steps = checkpoint_steps(tc.steps, tc.n_even_checkpoints)
    assert steps[0] == 0 and steps[-1] == tc.steps


@pytest.mark.parametrize("name", sorted(DEPTH))
def test_preset_deep_and_wide_enough_for_its_findings(name: str) -> None:
    sizes = PRESETS[name].sizes
    assert max(s.n_layers for s in sizes) >= DEPTH[name]
    if name in SIZES:
        count, width = SIZES[name]
        assert len(sizes) >= count and max(s.width for s in sizes) >= width
        assert min(s.n_layers for s in sizes) >= DEPTH[name]


@pytest.mark.slow
@pytest.mark.parametrize("name", ["demo", "study", "reference"])
def test_preset_architecture_runs_the_whole_pipeline(name: str, tmp_path: Path) -> None:
    """Each preset's sizes (the GPU preset's at an eighth of the width), two steps of a small
    batch: train, sweep the weights, judge."""
    cfg = PRESETS[name]
    if name == "reference":  # a toy size on the CPU: same depths, an eighth of the widths
        sizes = tuple(dataclasses.replace(s, width=s.width // 8, n_heads=None) for s in cfg.sizes)
        cfg = dataclasses.replace(cfg, sizes=sizes)
    train = dataclasses.replace(
        cfg.train, steps=2, batch_size=2, seq_len=32, n_even_checkpoints=1, heldout_tokens=256
    )
    short = dataclasses.replace(cfg, train=train)
    suite = train_suite(tmp_path / "suite", config=short, workers=2)
    cs.sweep(suite, tmp_path / "store", analyses=["weights"], progress=False)
    table = cs.findings(cs.Store(tmp_path / "store", create=False))
    models = {m for m, _, _ in short.models()}
    f7 = table[table.finding == "F7"]
    assert set(f7.model) == models and set(f7.verdict) == {"inconclusive"}  # 3 checkpoints
    assert set(table[table.finding == "F1"].model) == models
