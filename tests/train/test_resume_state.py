"""The resume state is data, never code: safetensors + JSON, and 0.1's state.pt read safely."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file
from typer.testing import CliRunner

from ckptscope.cli.app import app
from ckptscope.errors import CheckpointError
from ckptscope.train import SuiteConfig, TrainProgress, train_suite
from ckptscope.train import checkpoints as ck
from ckptscope.train.resume_state import STATE_KEY, decode_state, encode_state, read_state
from train.test_loop import Stop, assert_same, weights


class Payload:
    """Pickles to a call of ``os.system``: what a planted ``state.pt`` would carry."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.system, (f"touch {self.marker}",))


def _interrupted(tmp_path: Path, micro: SuiteConfig, corpus: Path) -> Path:
    """A suite whose model ``w32`` stopped after its step-4 checkpoint."""

    def interrupt(p: TrainProgress) -> None:
        if p.event == "checkpoint" and (p.model, p.step) == ("w32", 4):
            raise Stop

    with pytest.raises(Stop):
        train_suite(tmp_path / "run", config=micro, corpus=corpus, progress=interrupt)
    return tmp_path / "run"


def test_state_round_trip_of_a_real_optimizer() -> None:
    model = torch.nn.Linear(3, 2)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, betas=(0.9, 0.95))
    model(torch.randn(4, 3)).sum().backward()
    opt.step()
    state = {"step": 7, "finished": False, "optimizer": opt.state_dict(), "threads": 2}
    state["torch_rng"] = torch.get_rng_state()
    tensors, meta = encode_state(state)
    back = decode_state(meta, tensors, Path("x"))
    assert back["step"] == 7 and back["threads"] == 2 and back["finished"] is False
    assert back["optimizer"]["param_groups"][0]["betas"] == (0.9, 0.95)
    assert set(back["optimizer"]["state"]) == {0, 1}  # int keys survive JSON
    for key in (0, 1):
        for name, value in opt.state_dict()["state"][key].items():
            assert torch.equal(back["optimizer"]["state"][key][name], value)
    assert torch.equal(back["torch_rng"], state["torch_rng"])
    fresh = torch.optim.AdamW(model.parameters(), lr=1e-3)
    fresh.load_state_dict(back["optimizer"])  # the trainer's own use


def test_resume_writes_no_pickle(tmp_path: Path, micro: SuiteConfig, small_corpus: Path) -> None:
    run = _interrupted(tmp_path, micro, small_corpus)
    resume = run / "w32" / ck.RESUME_DIR
    assert sorted(p.name for p in resume.iterdir()) == ["state.safetensors"]
    assert read_state(resume / "state.safetensors")["step"] == 4


def test_planted_state_pt_is_refused_and_never_runs(
    tmp_path: Path, micro: SuiteConfig, small_corpus: Path
) -> None:
    run = _interrupted(tmp_path, micro, small_corpus)
    resume = run / "w32" / ck.RESUME_DIR
    (resume / "state.safetensors").unlink()
    marker = tmp_path / "pwned"
    torch.save({"step": 4, "finished": False, "x": Payload(marker)}, resume / "state.pt")
    with pytest.raises(CheckpointError, match=r"state\.pt: refused: not a weights-only"):
        train_suite(run, config=micro, corpus=small_corpus)
    assert not marker.exists()


def test_planted_state_pt_through_the_cli(tmp_path: Path, small_corpus: Path) -> None:
    out = tmp_path / "suite"
    args = ["train", str(out), "--preset", "tiny", "--sizes", "32x1", "--steps", "6"]
    args += ["--seeds", "0", "--corpus", str(small_corpus), "--quiet"]
    assert CliRunner().invoke(app, args).exit_code == 0
    resume = out / "w32" / ck.RESUME_DIR
    (resume / "state.safetensors").unlink()
    marker = tmp_path / "pwned"
    torch.save({"step": 6, "finished": False, "x": Payload(marker)}, resume / "state.pt")
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 1
    lines = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and "state.pt: refused" in lines[0], result.output
    assert not marker.exists()


def test_legacy_state_pt_still_resumes_bit_identically(
    tmp_path: Path, micro: SuiteConfig, small_corpus: Path
) -> None:
    ref = train_suite(tmp_path / "ref", config=micro, corpus=small_corpus)
    run = _interrupted(tmp_path, micro, small_corpus)
    resume = run / "w32" / ck.RESUME_DIR
    state = read_state(resume / "state.safetensors")
    torch.save(state, resume / "state.pt")  # what ckptscope 0.1 wrote
    (resume / "state.safetensors").unlink()
    events: list[TrainProgress] = []
    out = train_suite(run, config=micro, corpus=small_corpus, progress=events.append)
    assert {p.model: p.step for p in events if p.event == "start"}["w32"] == 4
    assert_same(weights(ref), weights(out))
    assert not (resume / "state.pt").exists()  # replaced by the new format


@pytest.mark.parametrize(
    ("meta", "message"),
    [
        (None, "no ckptscope_resume_state metadata"),
        ("[1, 2", "metadata is not JSON"),
        ('{"format": 9, "state": {}}', "unknown format"),
        ('{"format": 1, "state": {"__dict__": [["step", -3]]}}', "step -3"),
        ('{"format": 1, "state": {"__tensor__": "t9"}}', "does not hold"),
        ('{"format": 1, "state": {"__dict__": [[null, 1]]}}', "key, value"),
    ],
)
def test_corrupt_state_is_one_line(tmp_path: Path, meta: str | None, message: str) -> None:
    path = tmp_path / "state.safetensors"
    save_file({"t0": torch.zeros(2)}, str(path), metadata={STATE_KEY: meta} if meta else None)
    with pytest.raises(CheckpointError, match=message) as info:
        read_state(path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)


def test_truncated_state_file(tmp_path: Path) -> None:
    path = tmp_path / "state.safetensors"
    tensors, meta = encode_state({"step": 1, "finished": True})
    save_file({"t0": torch.zeros(64), **tensors}, str(path), metadata={STATE_KEY: meta})
    path.write_bytes(path.read_bytes()[:40])
    with pytest.raises(CheckpointError, match="unreadable resume state"):
        read_state(path)
