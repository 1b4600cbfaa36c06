"""Formats: safetensors, .bin and shards in fp32/fp16/bf16; damaged files fail in one line."""

from __future__ import annotations

import json

import pytest
import torch

from ckptscope.adapters import get_adapter
from ckptscope.analyses.base import CheckpointContext
from ckptscope.errors import CheckpointError
from ckptscope.sources.folder_checkpoint import FolderCheckpoint
from ckptscope.sources.integrity import mapped_tensors, tensor_digest
from sources.builders import neox_state, write_checkpoint

QKV = "gpt_neox.layers.1.attention.query_key_value.weight"


@pytest.mark.parametrize("fmt", ["safetensors", "bin", "sharded", "sharded-bin"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16])
def test_formats_read_one_tensor_at_a_time(tmp_path, fmt, dtype):
    folder = write_checkpoint(tmp_path / "ck", seed=3, fmt=fmt, dtype=dtype)
    expected = neox_state(3, dtype)
    with FolderCheckpoint("m", 7, folder) as ckpt:
        infos = {t.name: t for t in ckpt.tensors()}
        assert set(infos) == set(expected)
        assert infos[QKV].shape == (24, 8)
        assert infos[QKV].dtype == str(dtype).removeprefix("torch.")
        t = ckpt.read(QKV)
        assert t.dtype == dtype
        torch.testing.assert_close(t, expected[QKV])
        host = ckpt.read_host(QKV)  # without torch for safetensors; the same elements
        assert host.dtype == infos[QKV].dtype and host.shape == (24, 8)
        assert torch.equal(host.to_torch(), expected[QKV])
        assert ckpt.config()["model_type"] == "gpt_neox"
        assert all(p.exists() for p in ckpt.files())


def test_hash_is_format_independent(tmp_path):
    a = FolderCheckpoint("m", 0, write_checkpoint(tmp_path / "a", seed=1, fmt="safetensors"))
    b = FolderCheckpoint("m", 0, write_checkpoint(tmp_path / "b", seed=1, fmt="sharded-bin"))
    c = FolderCheckpoint("m", 0, write_checkpoint(tmp_path / "c", seed=2, fmt="safetensors"))
    assert tensor_digest(a, QKV) == tensor_digest(b, QKV) != tensor_digest(c, QKV)


def _one_line(err: pytest.ExceptionInfo) -> str:
    msg = str(err.value)
    assert "\n" not in msg
    return msg


def test_truncated_file(tmp_path):
    folder = write_checkpoint(tmp_path / "ck", seed=0)
    path = folder / "model.safetensors"
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 100])
    with pytest.raises(CheckpointError) as err:
        FolderCheckpoint("m", 0, folder).read(QKV)
    msg = _one_line(err)
    assert str(path) in msg and "truncated" in msg and "tensor '" in msg


def test_corrupt_header(tmp_path):
    folder = write_checkpoint(tmp_path / "ck", seed=0)
    path = folder / "model.safetensors"
    data = bytearray(path.read_bytes())
    data[8:40] = b"\xff" * 32  # garbage in the JSON header
    path.write_bytes(bytes(data))
    with pytest.raises(CheckpointError) as err:
        FolderCheckpoint("m", 0, folder).read(QKV)
    msg = _one_line(err)
    assert str(path) in msg and "corrupt" in msg and QKV in msg


def test_corrupt_bin(tmp_path):
    folder = write_checkpoint(tmp_path / "ck", seed=0, fmt="bin")
    path = folder / "pytorch_model.bin"
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(CheckpointError) as err:
        FolderCheckpoint("m", 0, folder).read(QKV)
    msg = _one_line(err)
    assert str(path) in msg and QKV in msg


def test_shape_disagreeing_with_config(tmp_path):
    state = neox_state(0)
    state[QKV] = torch.zeros(24, 9)
    folder = write_checkpoint(tmp_path / "ck", seed=0, state=state)
    ckpt = FolderCheckpoint("m", 0, folder)
    adapter = get_adapter(ckpt.config())
    with pytest.raises(CheckpointError) as err:
        mapped_tensors(ckpt, adapter)
    msg = _one_line(err)
    assert QKV in msg and "(24, 9)" in msg and "(24, 8)" in msg
    comp = adapter.canonical(QKV)
    ctx = CheckpointContext("s", ckpt, adapter)
    with pytest.raises(CheckpointError, match="config implies"):
        ctx.read(comp)
    with pytest.raises(CheckpointError, match=r"'gpt_neox.*\(24, 9\), config implies"):
        ctx.read_host(comp)  # the weights analysis's read


def test_missing_tensor(tmp_path):
    state = neox_state(0)
    del state["gpt_neox.layers.1.mlp.dense_4h_to_h.bias"]
    ckpt = FolderCheckpoint("m", 0, write_checkpoint(tmp_path / "ck", seed=0, state=state))
    with pytest.raises(CheckpointError) as err:
        mapped_tensors(ckpt, get_adapter(ckpt.config()))
    assert "missing tensor 'gpt_neox.layers.1.mlp.dense_4h_to_h.bias'" in _one_line(err)
    with pytest.raises(CheckpointError, match="no tensor"):
        ckpt.read("gpt_neox.layers.1.mlp.dense_4h_to_h.bias")


def test_shard_index_naming_a_missing_tensor(tmp_path):
    folder = write_checkpoint(tmp_path / "ck", seed=0, fmt="sharded")
    index_path = folder / "model.safetensors.index.json"
    index = json.loads(index_path.read_text())
    index["weight_map"]["gpt_neox.layers.9.extra.weight"] = "model-00001-of-00002.safetensors"
    index_path.write_text(json.dumps(index))
    with pytest.raises(CheckpointError) as err:
        FolderCheckpoint("m", 0, folder).tensors()
    assert "missing tensor 'gpt_neox.layers.9.extra.weight'" in _one_line(err)


def test_a_subclass_that_overrides_read_keeps_its_reads(tmp_path):
    """``read_host`` (what the weight statistics read) goes through a subclass's ``read``."""

    class Shifted(FolderCheckpoint):
        def read(self, name):
            return super().read(name) + 1

    folder = write_checkpoint(tmp_path / "ck", seed=3)
    plain, shifted = FolderCheckpoint("m", 0, folder), Shifted("m", 0, folder)
    assert torch.equal(shifted.read_host(QKV).to_torch(), plain.read_host(QKV).to_torch() + 1)
