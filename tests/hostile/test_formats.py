"""Hostile weight files, shard indexes and configs: one CheckpointError line each."""

from __future__ import annotations

import json

import pytest
import torch

from ckptscope.errors import CheckpointError
from ckptscope.sources import open_suite
from ckptscope.sources.folder_checkpoint import FolderCheckpoint
from hostile.corpus import (
    QKV,
    SAFETENSORS_CASES,
    make_code_pickle,
    make_config_list,
    make_outside_file,
    make_shard_escape,
)
from sources.builders import neox_state, write_checkpoint


def _one_line(err: pytest.ExceptionInfo) -> str:
    msg = str(err.value)
    assert "\n" not in msg
    return msg


@pytest.mark.parametrize("case", sorted(SAFETENSORS_CASES))
def test_bad_safetensors_header_is_one_line_naming_file_and_tensor(tmp_path, case):
    make, words = SAFETENSORS_CASES[case]
    folder = write_checkpoint(tmp_path / "ck", seed=0)
    bad = make(folder)
    ckpt = FolderCheckpoint("m", 0, folder)
    for call in (ckpt.tensors, lambda: ckpt.read(QKV)):
        with pytest.raises(CheckpointError) as err:
            call()
        msg = _one_line(err)
        assert str(bad) in msg and repr(QKV) in msg and words in msg, msg


def test_safetensors_entry_types_are_checked(tmp_path):
    from hostile.corpus import edit_entry

    folder = write_checkpoint(tmp_path / "ck", seed=0)
    for fields, words in (
        ({"data_offsets": [0.5, 768]}, "non-negative ints"),
        ({"data_offsets": [0]}, "two non-negative ints"),
        ({"shape": [24, True]}, "shape"),
        ({"dtype": "F8_E4M3"}, "unsupported dtype"),
    ):
        good = folder.parent / "good"
        write_checkpoint(good, seed=0)
        edit_entry(good, QKV, **fields)
        with pytest.raises(CheckpointError) as err:
            FolderCheckpoint("m", 0, good).tensors()
        assert words in _one_line(err) and repr(QKV) in str(err.value)


def test_valid_files_still_read(tmp_path):
    """The checks pass the files safetensors and torch write, including empty tensors."""
    state = {**neox_state(1), "empty": torch.zeros(0, 8), "scalar": torch.tensor(2.0)}
    for fmt in ("safetensors", "sharded", "bin"):
        folder = write_checkpoint(tmp_path / fmt, seed=1, fmt=fmt, state=state)
        with FolderCheckpoint("m", 0, folder) as ckpt:
            assert {t.name for t in ckpt.tensors()} == set(state)
            torch.testing.assert_close(ckpt.read(QKV), state[QKV])
            assert ckpt.read("empty").shape == (0, 8)


@pytest.mark.parametrize("how", ["absolute", "dotdot", "symlink"])
def test_shard_index_cannot_leave_the_folder(tmp_path, how):
    outside = make_outside_file(tmp_path / "elsewhere" / "secret.safetensors")
    folder = write_checkpoint(tmp_path / "ck", seed=0, fmt="sharded")
    index = make_shard_escape(folder, how, outside)
    ckpt = FolderCheckpoint("m", 0, folder)
    for call in (ckpt.tensors, lambda: ckpt.read(QKV), ckpt.files):
        with pytest.raises(CheckpointError) as err:
            call()
        msg = _one_line(err)
        assert str(index) in msg and repr(QKV) in msg and "outside the checkpoint folder" in msg


def test_a_fake_cache_blobs_link_does_not_widen_the_folder(tmp_path):
    """A suite shaped like a Hub snapshot whose ``blobs`` links to / gains nothing."""
    from ckptscope.sources.formats import shard_files

    outside = make_outside_file(tmp_path / "elsewhere" / "secret.safetensors")
    repo = tmp_path / "models--evil--suite"
    folder = write_checkpoint(repo / "snapshots" / "abc", seed=0, fmt="sharded")
    (repo / "blobs").symlink_to("/")
    index = make_shard_escape(folder, "absolute", outside)
    with pytest.raises(CheckpointError, match="outside the checkpoint folder"):
        shard_files(index)


def test_shard_index_symlinked_folder_is_fine(tmp_path):
    """A checkpoint folder reached through a symlink still reads its own shards."""
    real = write_checkpoint(tmp_path / "real", seed=0, fmt="sharded")
    (tmp_path / "link").symlink_to(real)
    with FolderCheckpoint("m", 0, tmp_path / "link") as ckpt:
        torch.testing.assert_close(ckpt.read(QKV), neox_state(0)[QKV])


@pytest.mark.parametrize(
    "index, words",
    [
        ([1, 2], "must be a JSON object, got list"),
        ({"metadata": {}}, "weight_map object, got null"),
        ({"weight_map": ["a"]}, "weight_map object, got list"),
        ({"weight_map": {QKV: 3}}, "not a file name"),
    ],
)
def test_shard_index_structure(tmp_path, index, words):
    folder = write_checkpoint(tmp_path / "ck", seed=0, fmt="sharded")
    path = folder / "model.safetensors.index.json"
    path.write_text(json.dumps(index))
    with pytest.raises(CheckpointError) as err:
        FolderCheckpoint("m", 0, folder).tensors()
    msg = _one_line(err)
    assert str(path) in msg and words in msg


@pytest.mark.parametrize("value, kind", [([1], "list"), ("gpt", "string"), (3, "int")])
def test_config_not_an_object(tmp_path, value, kind):
    folder = write_checkpoint(tmp_path / "ck", seed=0)
    path = folder / "config.json"
    path.write_text(json.dumps(value))
    with pytest.raises(CheckpointError) as err:
        FolderCheckpoint("m", 0, folder).config()
    assert _one_line(err) == f"{path}: config.json must be a JSON object, got {kind}"


def test_config_list_through_the_suite(tmp_path):
    write_checkpoint(tmp_path / "run" / "step0", seed=0)
    path = make_config_list(write_checkpoint(tmp_path / "run" / "step1", seed=1))
    suite = open_suite(str(tmp_path / "run"))
    with pytest.raises(CheckpointError) as err:
        suite.open("run", 1).config()
    assert _one_line(err) == f"{path}: config.json must be a JSON object, got list"
    assert suite.open("run", 0).config()["model_type"] == "gpt_neox"


def test_suite_manifest_not_an_object(tmp_path):
    write_checkpoint(tmp_path / "s" / "m" / "step0", seed=0)
    (tmp_path / "s" / "suite.json").write_text("[]")
    with pytest.raises(CheckpointError, match=r"suite\.json must be a JSON object, got list"):
        open_suite(str(tmp_path / "s"))


@pytest.mark.parametrize("legacy", [False, True], ids=["zip", "legacy"])
def test_code_pickle_is_refused_and_never_runs(tmp_path, legacy):
    marker = tmp_path / "payload_ran"
    folder = write_checkpoint(tmp_path / "ck", seed=0)
    path = make_code_pickle(folder, marker, legacy=legacy)
    with pytest.raises(CheckpointError) as err:
        FolderCheckpoint("m", 0, folder).tensors()
    msg = _one_line(err)
    assert msg.startswith(f"{path}: refused: not a weights-only checkpoint (it would import ")
    assert "system" in msg and "ckptscope never unpickles code" in msg
    assert "corrupt" not in msg
    assert not marker.exists()
    # the payload is real: plain pickle would have run it
    torch.load(path, weights_only=False)
    assert marker.exists()


def test_truncated_bin_is_still_called_truncated(tmp_path):
    folder = write_checkpoint(tmp_path / "ck", seed=0, fmt="bin")
    path = folder / "pytorch_model.bin"
    path.write_bytes(path.read_bytes()[:300])
    with pytest.raises(CheckpointError) as err:
        FolderCheckpoint("m", 0, folder).tensors()
    msg = _one_line(err)
    assert str(path) in msg and "corrupt or truncated" in msg and "refused" not in msg


def test_legacy_bin_reads(tmp_path):
    """A ``.bin`` in torch's legacy (non-zip) format cannot be memory-mapped; it still reads."""
    folder = tmp_path / "ck"
    write_checkpoint(folder, seed=2)
    (folder / "model.safetensors").unlink()
    torch.save(neox_state(2), folder / "pytorch_model.bin", _use_new_zipfile_serialization=False)
    with FolderCheckpoint("m", 0, folder) as ckpt:
        torch.testing.assert_close(ckpt.read(QKV), neox_state(2)[QKV])


@pytest.mark.parametrize("how", ["absolute", "dotdot"])
def test_hub_shard_index_cannot_leave_the_snapshot(tmp_path, monkeypatch, how):
    """In the Hub cache the index is checked before any shard it names is fetched."""
    from sources.builders import add_revision

    cache = tmp_path / "hf_home" / "hub"
    cache.mkdir(parents=True)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf_home"))
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    outside = make_outside_file(tmp_path / "elsewhere" / "secret.safetensors")
    for step in (0, 1):
        src = write_checkpoint(tmp_path / "src" / f"step{step}", seed=step, fmt="sharded")
        if step == 1:
            make_shard_escape(src, how, outside)
        add_revision(cache, "org/tiny", f"step{step}", src)
    suite = open_suite("hf:org/tiny")
    with suite.open("tiny", 0) as ckpt:
        torch.testing.assert_close(ckpt.read(QKV), neox_state(0)[QKV])  # symlinks into blobs/
    with pytest.raises(CheckpointError) as err:
        suite.open("tiny", 1).tensors()
    msg = _one_line(err)
    assert "model.safetensors.index.json" in msg and repr(QKV) in msg
    assert "outside the checkpoint folder" in msg
