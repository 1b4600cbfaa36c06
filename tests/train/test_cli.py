"""``ckptscope train`` through typer's CliRunner."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ckptscope.cli.app import app
from ckptscope.cli.train import parse_seeds, parse_sizes
from ckptscope.errors import UsageError
from ckptscope.train import ModelSize

runner = CliRunner()


def test_train_command(tmp_path: Path, small_corpus: Path) -> None:
    out = tmp_path / "suite"
    args = ["train", str(out), "--preset", "tiny", "--sizes", "32x1", "--steps", "6"]
    args += ["--seeds", "0,2", "--corpus", str(small_corpus)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "suite written to" in result.output
    manifest = json.loads((out / "suite.json").read_text())
    assert [m["name"] for m in manifest["models"]] == ["w32", "w32-seed2"]
    assert manifest["train"]["steps"] == 6
    assert (out / "w32-seed2" / "step6" / "model.safetensors").is_file()
    # Rerun: everything is finished.
    again = runner.invoke(app, args)
    assert again.exit_code == 0 and "already trained" in again.output


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--preset", "huge"], "unknown preset 'huge'"),
        (["--sizes", "64by2"], "bad size '64by2'"),
        (["--seeds", "a"], "bad seeds"),
        (["--corpus", "/nonexistent/corpus.txt"], "does not exist"),
    ],
)
def test_train_command_bad_input(tmp_path: Path, extra: list[str], message: str) -> None:
    out = tmp_path / "suite"
    result = runner.invoke(app, ["train", str(out), "--preset", "tiny", *extra])
    assert result.exit_code == 1
    assert message in result.output
    assert not out.exists()


def test_parse_sizes_and_seeds() -> None:
    assert parse_sizes("64x2, 128X4") == [ModelSize(64, 2), ModelSize(128, 4)]
    assert parse_seeds("0,1,5") == [0, 1, 5]
    with pytest.raises(UsageError):
        parse_sizes(",")
