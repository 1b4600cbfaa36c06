"""Local suites: ckptscope suites, folders of HF checkpoints, one or several models."""

from __future__ import annotations

import json
import pickle

import pytest
import torch

from ckptscope.errors import CheckpointError, UsageError
from ckptscope.sources import open_suite
from sources.builders import neox_state, write_checkpoint

QKV = "gpt_neox.layers.0.attention.query_key_value.weight"


def test_ckptscope_suite_layout(tmp_path):
    root = tmp_path / "mysuite"
    for model in ("w32", "w64"):
        for step in (0, 10, 20):
            folder = write_checkpoint(root / model / f"step{step}", seed=step)
            (folder / "tokenizer.json").write_text("{}")
    (root / "suite.json").write_text(json.dumps({"name": "toy", "models": ["w32", "w64"]}))
    suite = open_suite(str(root))
    assert suite.name == "toy"
    assert suite.models() == ["w32", "w64"]
    assert suite.steps("w64") == [0, 10, 20]
    with suite.open("w64", 10) as ckpt:
        assert (ckpt.model, ckpt.step) == ("w64", 10)
        torch.testing.assert_close(ckpt.read(QKV), neox_state(10)[QKV])
        assert ckpt.tokenizer_dir() == root / "w64" / "step10"
    assert suite.describe()["manifest"]["name"] == "toy"
    copy = pickle.loads(pickle.dumps(suite))
    assert copy.steps("w32") == [0, 10, 20]


def test_folder_of_checkpoints_is_one_model(tmp_path):
    root = tmp_path / "run7"
    write_checkpoint(root / "checkpoint-500", seed=0)
    write_checkpoint(root / "checkpoint-1000", seed=1, fmt="bin")
    write_checkpoint(root / "checkpoint-1500", seed=2, fmt="sharded")
    (root / "checkpoint-2000").mkdir()  # partial: no config, no weights
    (root / "checkpoint-2000" / "config.json").write_text("{}")
    write_checkpoint(root / "checkpoint-2500.tmp", seed=3)  # temp name: no step
    suite = open_suite(str(root))
    assert suite.models() == ["run7"]
    assert suite.steps("run7") == [500, 1000, 1500]
    with suite.open("run7", 1500) as ckpt:
        torch.testing.assert_close(ckpt.read(QKV), neox_state(2)[QKV])


def test_folder_of_model_folders(tmp_path):
    root = tmp_path / "runs"
    write_checkpoint(root / "a" / "global_step100", seed=0)
    write_checkpoint(root / "a" / "global_step200", seed=1)
    write_checkpoint(root / "b" / "iter_0000100", seed=2)
    (root / "notes").mkdir()
    suite = open_suite(f"local:{root}", name="mine")
    assert suite.name == "mine"
    assert suite.models() == ["a", "b"]
    assert suite.steps("a") == [100, 200] and suite.steps("b") == [100]


def test_errors_are_clear(tmp_path):
    with pytest.raises(UsageError, match="no suite folder"):
        open_suite(str(tmp_path / "nope"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(UsageError, match="no checkpoints found"):
        open_suite(str(tmp_path / "empty"))
    write_checkpoint(tmp_path / "r" / "step1", seed=0)
    suite = open_suite(str(tmp_path / "r"))
    with pytest.raises(CheckpointError, match="no checkpoint for r at step 2"):
        suite.open("r", 2)
    with pytest.raises(UsageError, match="no model 'x'"):
        suite.steps("x")
    with pytest.raises(UsageError, match="unknown folder suite options"):
        open_suite(str(tmp_path / "r"), max_disk="1GB")
