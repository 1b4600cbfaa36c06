"""The evaluation batch: seeded, identical across calls, provenance recorded, clear skips."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from ckptscope.errors import UsageError
from ckptscope.models.batch import BatchConfig, NoEvalData, eval_batch, sample_windows
from ckptscope.models.cache import WorkerCache
from ckptscope.models.tiny import write_tiny_checkpoints
from ckptscope.sources.folder_checkpoint import FolderCheckpoint


def test_sample_windows_disjoint_and_seeded() -> None:
    stream = np.arange(1000)
    a = sample_windows(stream, 5, 50, seed=3)
    assert a.shape == (5, 50)
    assert np.array_equal(a, sample_windows(stream, 5, 50, seed=3))
    assert not np.array_equal(a, sample_windows(stream, 5, 50, seed=4))
    starts = a[:, 0]
    assert np.all(starts % 50 == 0) and len(set(starts)) == 5 and np.all(np.diff(starts) > 0)


def test_heldout_batch_with_the_suite_tokenizer(tiny_folders: list[Path]) -> None:
    cfg = BatchConfig(n_seqs=4, seq_len=100, seed=1)
    cache = WorkerCache()
    with FolderCheckpoint("tiny", 0, tiny_folders[0]) as ckpt:
        batch = eval_batch(ckpt, cfg, cache)
    # max_position_embeddings (64) caps the sequence length.
    assert tuple(batch.ids.shape) == (4, 64)
    with FolderCheckpoint("tiny", 10, tiny_folders[1]) as ckpt:
        again = eval_batch(ckpt, cfg, cache)
        fresh = eval_batch(ckpt, cfg)
    assert again is batch  # built once per sweep worker
    assert fresh is not batch and torch.equal(fresh.ids, batch.ids)
    info = batch.info()
    assert info["source"] == "ckptscope:heldout" and info["seed"] == 1
    assert info["tokens_sha256"] == batch.sha256 and info["shape"] == [4, 64]


def test_token_file_and_text_file(tiny_folders: list[Path], tmp_path: Path) -> None:
    ids = np.arange(3000) % 4096
    np.save(tmp_path / "ids.npy", ids)
    with FolderCheckpoint("tiny", 0, tiny_folders[0]) as ckpt:
        batch = eval_batch(ckpt, BatchConfig(data=str(tmp_path / "ids.npy"), n_seqs=3, seq_len=16))
        assert tuple(batch.ids.shape) == (3, 16)
        assert batch.info()["source"].endswith("ids.npy")
        np.save(tmp_path / "big.npy", np.array([5000] * 100))
        with pytest.raises(UsageError, match="vocab_size"):
            eval_batch(ckpt, BatchConfig(data=str(tmp_path / "big.npy"), n_seqs=1, seq_len=16))
        (tmp_path / "t.txt").write_text("To be, or not to be, that is the question. " * 40)
        text = eval_batch(ckpt, BatchConfig(data=str(tmp_path / "t.txt"), n_seqs=2, seq_len=16))
        assert tuple(text.ids.shape) == (2, 16)


def test_no_tokenizer_raises_no_eval_data(tmp_path: Path) -> None:
    (folder,) = write_tiny_checkpoints(tmp_path, (0,), tokenizer=False)
    with (
        FolderCheckpoint("bare", 0, folder) as ckpt,
        pytest.raises(NoEvalData, match="no tokenizer"),
    ):
        eval_batch(ckpt, BatchConfig())
