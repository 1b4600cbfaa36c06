"""Hub suites read offline from a Hugging Face cache the tests build in its real layout."""

from __future__ import annotations

import pickle

import pytest
import torch
from huggingface_hub import hf_hub_download

from ckptscope.errors import CheckpointError
from ckptscope.sources import open_suite
from sources.builders import add_revision, neox_state, write_checkpoint

QKV = "gpt_neox.layers.0.attention.query_key_value.weight"
REPO = "EleutherAI/pythia-14m"


@pytest.fixture
def pythia_cache(hub_cache, tmp_path):
    """pythia-14m with step0 (safetensors), step1 (.bin only), step1000 (sharded)."""
    for step, fmt in ((0, "safetensors"), (1, "bin"), (1000, "sharded")):
        src = write_checkpoint(tmp_path / "src" / f"step{step}", seed=step, fmt=fmt)
        (src / "tokenizer.json").write_text("{}")
        add_revision(hub_cache, REPO, f"step{step}", src)
    return hub_cache


def test_cache_layout_resolves_with_huggingface_hub(pythia_cache):
    path = hf_hub_download(
        REPO, "config.json", revision="step1000", cache_dir=pythia_cache, local_files_only=True
    )
    assert "snapshots" in path and path.endswith("config.json")


@pytest.mark.parametrize("spec", [f"hf:{REPO}", "pythia:14m"])
def test_offline_hub_suite(pythia_cache, spec):
    suite = open_suite(spec)  # cache and offline mode from HF_HUB_CACHE / HF_HUB_OFFLINE
    assert suite.models() == ["pythia-14m"]
    assert len(suite.steps("pythia-14m")) == 154  # the registry's schedule when offline
    for step in (0, 1, 1000):
        with suite.open("pythia-14m", step) as ckpt:
            assert ckpt.config()["model_type"] == "gpt_neox"
            torch.testing.assert_close(ckpt.read(QKV), neox_state(step)[QKV])
            assert ckpt.tokenizer_dir() is not None
    assert suite.open("pythia-14m", 1).weights.name == "pytorch_model.bin"
    assert suite.open("pythia-14m", 1000).weights.name == "model.safetensors.index.json"
    assert pickle.loads(pickle.dumps(suite)).steps("pythia-14m")[-1] == 143000


def test_uncached_revision_names_repo_and_revision(pythia_cache):
    suite = open_suite(f"hf:{REPO}")
    with pytest.raises(CheckpointError) as err:
        suite.open("pythia-14m", 2000)
    msg = str(err.value)
    assert "\n" not in msg
    assert REPO in msg and "'step2000'" in msg and "cache" in msg and "HF_HUB_OFFLINE" in msg


def test_olmo_style_revisions_from_the_cache(hub_cache, tmp_path):
    repo = "allenai/OLMo-tiny"
    for step, tokens in ((0, "0B"), (1000, "4B"), (2000, "8B")):
        src = write_checkpoint(tmp_path / "src" / str(step), seed=step)
        add_revision(hub_cache, repo, f"step{step}-tokens{tokens}", src)
    add_revision(hub_cache, repo, "main", tmp_path / "src" / "2000")
    suite = open_suite(f"hf:{repo},{REPO}", name="mixed")
    assert suite.name == "mixed"
    assert suite.models() == ["OLMo-tiny", "pythia-14m"]
    assert suite.steps("OLMo-tiny") == [0, 1000, 2000]
    assert suite.revision("OLMo-tiny", 1000) == "step1000-tokens4B"
    with suite.open("OLMo-tiny", 1000) as ckpt:
        torch.testing.assert_close(ckpt.read(QKV), neox_state(1000)[QKV])


def test_uncached_repo_is_clear(hub_cache):
    suite = open_suite("hf:someone/nothing-here")
    with pytest.raises(
        CheckpointError, match="someone/nothing-here: no step revisions in the Hugging Face cache"
    ):
        suite.steps("nothing-here")


def test_streaming_hub_suite_offline(pythia_cache):
    suite = open_suite(f"hf:{REPO}", max_disk="1MB")
    suite.prefetch("pythia-14m", 0)
    suite.prefetch("pythia-14m", 1)
    with suite.open("pythia-14m", 0) as ckpt:
        assert ckpt.read(QKV).shape == (24, 8)
    suite.release("pythia-14m", 1)
    worker_copy = pickle.loads(pickle.dumps(suite))  # no thread; reads the cache only
    with worker_copy.open("pythia-14m", 1000) as ckpt:
        assert ckpt.step == 1000
    suite.close()


class _Ref:
    def __init__(self, name):
        self.name = name


class _File:
    def __init__(self, path, size):
        self.path, self.size = path, size


class FakeApi:
    """Stands in for ``HfApi`` online: no request leaves the test."""

    def __init__(self, token=None):
        pass

    def list_repo_refs(self, repo):
        names = ["main", "step0-tokens0B", "step1000-tokens4B", "step2000-tokens8B", "dev"]
        return type("Refs", (), {"branches": [_Ref(n) for n in names]})()

    def list_repo_tree(self, repo, revision=None):
        return [
            _File("config.json", 10),
            _File("model.safetensors.index.json", 5),
            _File("model-00001-of-00002.safetensors", 1000),
            _File("model-00002-of-00002.safetensors", 900),
            _File("pytorch_model.bin", 5000),
            _File("README.md", 1),
        ]


def test_online_listing_uses_repo_refs_and_tree(monkeypatch):
    import huggingface_hub

    monkeypatch.setattr(huggingface_hub, "HfApi", FakeApi)
    monkeypatch.setattr("ckptscope.sources.hub.hub_unreachable", lambda: None)  # "online"
    suite = open_suite("hf:allenai/OLMo-x", offline=False, max_disk="1MB")
    assert suite.steps("OLMo-x") == [0, 1000, 2000]
    assert suite.revision("OLMo-x", 2000) == "step2000-tokens8B"
    fetcher = suite._streamer.fetcher
    assert fetcher.size("OLMo-x", 1000) == 10 + 5 + 1000 + 900  # safetensors shards, not .bin
    suite.close()
