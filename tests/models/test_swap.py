"""The swapped model equals from_pretrained, checkpoint after checkpoint."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from transformers import AutoModelForCausalLM, GPT2Config, GPT2LMHeadModel

from ckptscope.errors import CheckpointError
from ckptscope.models.cache import WorkerCache
from ckptscope.sources.base import TensorInfo
from ckptscope.sources.folder_checkpoint import FolderCheckpoint


def _logits(model: torch.nn.Module, ids: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return model(input_ids=ids, use_cache=False).logits


def test_swap_in_sequence_equals_from_pretrained(tiny_folders: list[Path]) -> None:
    ids = torch.randint(0, 4096, (2, 16), generator=torch.Generator().manual_seed(0))
    cache = WorkerCache()
    models = set()
    for step, folder in zip((0, 10, 20, 0), [*tiny_folders, tiny_folders[0]], strict=True):
        with FolderCheckpoint("tiny", step, folder) as ckpt:
            swapped = cache.model(ckpt)
            models.add(id(swapped.model))
            reference = AutoModelForCausalLM.from_pretrained(folder).eval()
            torch.testing.assert_close(
                _logits(swapped.model, ids), _logits(reference, ids), rtol=0, atol=0
            )
            ref_state = reference.state_dict()
            for name, value in swapped.model.state_dict().items():
                torch.testing.assert_close(value, ref_state[name], rtol=0, atol=0, msg=name)
    assert len(models) == 1  # built once, swapped four times
    assert swapped.raw_names["lm_head.weight"] == "embed_out.weight"


def test_swap_tied_embeddings(tmp_path: Path) -> None:
    config = GPT2Config(n_embd=32, n_layer=2, n_head=4, vocab_size=100, n_positions=32)
    ids = torch.randint(0, 100, (2, 8), generator=torch.Generator().manual_seed(1))
    for step in (0, 1):
        torch.manual_seed(step)
        GPT2LMHeadModel(config).save_pretrained(tmp_path / f"step{step}")
    for step in (0, 1):
        with FolderCheckpoint("gpt2", step, tmp_path / f"step{step}") as ckpt:
            model = WorkerCache().model(ckpt).model
            reference = AutoModelForCausalLM.from_pretrained(tmp_path / f"step{step}").eval()
            torch.testing.assert_close(_logits(model, ids), _logits(reference, ids), rtol=0, atol=0)
            assert model.lm_head.weight is model.transformer.wte.weight


class _Tampered(FolderCheckpoint):
    """A checkpoint that hides one tensor or serves it with a wrong shape."""

    hide: str | None = None
    reshape: str | None = None

    def tensors(self) -> list[TensorInfo]:
        return [t for t in super().tensors() if t.name != self.hide]

    def read(self, name: str) -> torch.Tensor:
        t = super().read(name)
        return t[:-1] if name == self.reshape else t


def test_missing_or_misshapen_tensor_is_named(tiny_folders: list[Path]) -> None:
    ckpt = _Tampered("tiny", 0, tiny_folders[0])
    ckpt.hide = "gpt_neox.layers.1.mlp.dense_4h_to_h.weight"
    with pytest.raises(CheckpointError, match=r"layers\.1\.mlp\.dense_4h_to_h\.weight"):
        WorkerCache().model(ckpt)
    ckpt = _Tampered("tiny", 0, tiny_folders[0])
    ckpt.reshape = "gpt_neox.embed_in.weight"
    with pytest.raises(CheckpointError, match=r"embed_in\.weight.*shape"):
        WorkerCache().model(ckpt)
