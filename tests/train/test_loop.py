"""End-to-end training: determinism, resume, atomic checkpoints, learning, the layout."""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from ckptscope.train import SuiteConfig, TrainProgress, checkpoint_steps, train_suite
from ckptscope.train import checkpoints as ck


class Stop(Exception):
    """Simulated interruption."""


def weights(suite: Path) -> dict[str, dict[str, torch.Tensor]]:
    """Every checkpoint's tensors, keyed by ``model/stepN``."""
    return {
        f"{p.parent.parent.name}/{p.parent.name}": load_file(str(p))
        for p in sorted(suite.glob("*/step*/model.safetensors"))
    }


def assert_same(
    a: dict[str, dict[str, torch.Tensor]], b: dict[str, dict[str, torch.Tensor]]
) -> None:
    assert a.keys() == b.keys() and a
    for key in a:
        assert a[key].keys() == b[key].keys()
        for name in a[key]:
            assert torch.equal(a[key][name], b[key][name]), f"{key} {name}"


def test_layout_and_logs(tmp_path: Path, micro: SuiteConfig, small_corpus: Path) -> None:
    out = train_suite(tmp_path / "s", config=micro, corpus=small_corpus)
    manifest = json.loads((out / "suite.json").read_text())
    steps = checkpoint_steps(12, 3)
    assert manifest["steps"] == steps
    assert [m["name"] for m in manifest["models"]] == ["w32", "w32-seed1"]
    assert len(manifest["tokenizer_sha256"]) == 64 and len(manifest["corpus"]["sha256"]) == 64
    for model in ("w32", "w32-seed1"):
        for step in steps:
            folder = out / model / f"step{step}"
            for f in (
                "model.safetensors",
                "config.json",
                "tokenizer.json",
                "tokenizer_config.json",
                "special_tokens_map.json",
            ):
                assert (folder / f).is_file(), folder / f
        with (out / model / "train_log.csv").open() as f:
            rows = list(csv.DictReader(f))
        assert [int(r["step"]) for r in rows] == list(range(1, 13))
        assert set(rows[0]) == set(ck.TRAIN_LOG_FIELDS)
        with (out / model / "heldout.csv").open() as f:
            held = list(csv.DictReader(f))
        assert [int(r["step"]) for r in held] == steps
    tensors = load_file(str(out / "w32" / "step12" / "model.safetensors"))
    assert "embed_out.weight" in tensors  # Pythia's name for the unembedding
    assert all(t.dtype == torch.float32 for t in tensors.values())


def test_checkpoint_loads_with_transformers(
    tmp_path: Path, micro: SuiteConfig, small_corpus: Path
) -> None:
    from transformers import AutoTokenizer, GPTNeoXForCausalLM

    out = train_suite(tmp_path / "s", config=micro, corpus=small_corpus)
    folder = out / "w32" / "step12"
    model = GPTNeoXForCausalLM.from_pretrained(folder)
    tok = AutoTokenizer.from_pretrained(folder)
    saved = load_file(str(folder / "model.safetensors"))
    assert torch.equal(model.get_output_embeddings().weight, saved["embed_out.weight"])
    assert tok.eos_token_id == 0
    assert tok.decode(tok("To be, or not")["input_ids"]) == "To be, or not"


def test_determinism(tmp_path: Path, micro: SuiteConfig, small_corpus: Path) -> None:
    a = train_suite(tmp_path / "a", config=micro, corpus=small_corpus)
    b = train_suite(tmp_path / "b", config=micro, corpus=small_corpus)
    assert_same(weights(a), weights(b))
    assert (a / "w32" / "train_log.csv").read_text() == (b / "w32" / "train_log.csv").read_text()
    # Seed variants differ.
    wa = weights(a)
    assert not torch.equal(
        wa["w32/step12"]["embed_out.weight"], wa["w32-seed1/step12"]["embed_out.weight"]
    )


@pytest.mark.parametrize("stop_at", [("w32", 4), ("w32-seed1", 8)])
def test_resume_is_bit_identical(
    tmp_path: Path, micro: SuiteConfig, small_corpus: Path, stop_at: tuple[str, int]
) -> None:
    ref = train_suite(tmp_path / "ref", config=micro, corpus=small_corpus)

    def interrupt(p: TrainProgress) -> None:
        if p.event == "checkpoint" and (p.model, p.step) == stop_at:
            raise Stop

    with pytest.raises(Stop):
        train_suite(tmp_path / "run", config=micro, corpus=small_corpus, progress=interrupt)
    model, step = stop_at
    assert not (tmp_path / "run" / model / "step12").exists()
    events: list[TrainProgress] = []
    out = train_suite(tmp_path / "run", config=micro, corpus=small_corpus, progress=events.append)
    starts = {p.model: p.step for p in events if p.event == "start"}
    assert starts[model] == step  # resumed, not restarted
    assert_same(weights(ref), weights(out))
    for f in ("train_log.csv", "heldout.csv"):
        assert (ref / model / f).read_text() == (out / model / f).read_text()
    # A third run finds everything finished and trains nothing.
    events.clear()
    train_suite(tmp_path / "run", config=micro, corpus=small_corpus, progress=events.append)
    assert {p.event for p in events} == {"skip"}


def test_crash_during_checkpoint_write(
    tmp_path: Path, micro: SuiteConfig, small_corpus: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = {"n": 0}
    real = ck.save_file

    def failing_save(tensors: dict, path: str, metadata: dict | None = None) -> None:
        calls["n"] += 1
        if calls["n"] == 4:  # the 4th checkpoint (step 4): write half a file, then die
            Path(path).write_bytes(b"partial")
            raise OSError("disk full")
        real(tensors, path, metadata=metadata)

    monkeypatch.setattr(ck, "save_file", failing_save)
    with pytest.raises(OSError, match="disk full"):
        train_suite(tmp_path / "s", config=micro, corpus=small_corpus)
    model_dir = tmp_path / "s" / "w32"
    assert sorted(p.name for p in model_dir.glob("step*")) == ["step0", "step1", "step2"]
    for p in model_dir.glob("step*"):
        load_file(str(p / "model.safetensors"))  # every visible checkpoint is complete
    # A hard crash (SIGKILL) would leave the hidden temporary folder: the rerun removes it.
    stale = model_dir / ".step4.tmp-999"
    stale.mkdir()
    (stale / "model.safetensors").write_bytes(b"partial")
    monkeypatch.setattr(ck, "save_file", real)
    out = train_suite(tmp_path / "s", config=micro, corpus=small_corpus)
    assert not stale.exists()
    assert not [p for p in model_dir.iterdir() if ".tmp" in p.name]
    ref = train_suite(tmp_path / "ref", config=micro, corpus=small_corpus)
    assert_same(weights(ref), weights(out))


def test_tiny_preset_learns(tmp_path: Path, small_corpus: Path) -> None:
    out = train_suite(tmp_path / "tiny", "tiny", corpus=small_corpus)
    for model in ("w32", "w64"):
        with (out / model / "heldout.csv").open() as f:
            held = {int(r["step"]): float(r["heldout_loss"]) for r in csv.DictReader(f)}
        assert held[0] > 8.0  # about ln(4096) = 8.3 at init
        assert held[40] < held[0] - 1.0, held
    assert os.path.getsize(out / "w64" / "step40" / "model.safetensors") > 4 * 600_000


def test_models_trained_in_parallel_equal_a_serial_run(
    tmp_path: Path, micro: SuiteConfig, small_corpus: Path
) -> None:
    serial = train_suite(tmp_path / "serial", config=micro, corpus=small_corpus, threads=1)
    events: list[TrainProgress] = []
    parallel = train_suite(tmp_path / "parallel", config=micro, corpus=small_corpus, threads=1,
                           workers=2, progress=events.append)  # fmt: skip
    assert_same(weights(serial), weights(parallel))
    for name in ("w32", "w32-seed1"):
        log = (serial / name / "train_log.csv").read_text()
        assert (parallel / name / "train_log.csv").read_text() == log
    done = {e.model for e in events if e.event == "done"}
    assert done == {"w32", "w32-seed1"}  # each worker's progress reached this process
    again: list[TrainProgress] = []
    train_suite(tmp_path / "parallel", config=micro, corpus=small_corpus, threads=1, workers=2,
                progress=again.append)  # fmt: skip
    assert {e.event for e in again} == {"skip"}  # a finished suite is not trained again
