"""Bad input to the experiment: one clear line each, before anything is trained."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ckptscope.cli.app import app

runner = CliRunner()


def run(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, ["experiment", "init-from-final", *args])
    return result.exit_code, result.output


def one_line_error(code: int, output: str, *needles: str) -> None:
    assert code == 1, output
    lines = [line for line in output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), output
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])


def test_unknown_model(source_suite: Path, tmp_path: Path) -> None:
    code, out = run(str(source_suite), "--model", "w999", "--out", str(tmp_path / "x"))
    one_line_error(code, out, "unknown model 'w999'", "its models: w32")
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize("seeds", ["0", "1,1", "0,-1", "a,b"])
def test_fewer_than_two_seeds(source_suite: Path, tmp_path: Path, seeds: str) -> None:
    code, out = run(
        str(source_suite), "--model", "w32", "--seeds", seeds, "--out", str(tmp_path / "x")
    )
    one_line_error(code, out, "seeds")
    assert not (tmp_path / "x").exists()


def test_not_an_offline_suite(tmp_path: Path, neox_folder_suite: Path) -> None:
    code, out = run(str(neox_folder_suite), "--model", "tiny-a")
    one_line_error(code, out, "not an offline-trained ckptscope suite", "no suite.json")
    other = tmp_path / "other"
    other.mkdir()
    (other / "suite.json").write_text(json.dumps({"format": "someone-else/3", "models": []}))
    one_line_error(*run(str(other), "--model", "w32"), "format 'someone-else/3'")
    (other / "suite.json").write_text("{not json")
    one_line_error(*run(str(other), "--model", "w32"), "cannot read")
    one_line_error(*run(str(tmp_path / "missing"), "--model", "w32"), "is not a folder")


def copy_with(source_suite: Path, tmp_path: Path, edit) -> Path:
    dst = tmp_path / "copy"
    shutil.copytree(source_suite, dst)
    manifest = json.loads((dst / "suite.json").read_text())
    edit(manifest)
    (dst / "suite.json").write_text(json.dumps(manifest))
    return dst


def test_hostile_manifest_fields(source_suite: Path, tmp_path: Path) -> None:
    bad = copy_with(source_suite, tmp_path, lambda m: m["train"].update(lr="fast"))
    one_line_error(*run(str(bad), "--model", "w32"), "train.lr", "'fast'")
    shutil.rmtree(bad)
    bad = copy_with(source_suite, tmp_path, lambda m: m["train"].update(extra_knob=1))
    one_line_error(*run(str(bad), "--model", "w32"), "extra_knob")
    shutil.rmtree(bad)
    bad = copy_with(source_suite, tmp_path, lambda m: m["corpus"].update(sha256="0" * 64))
    one_line_error(*run(str(bad), "--model", "w32", "--out", str(tmp_path / "x")), "sha256 differs")
    assert not (tmp_path / "x").exists()


def test_missing_or_corrupt_final_checkpoint(source_suite: Path, tmp_path: Path) -> None:
    dst = tmp_path / "copy"
    shutil.copytree(source_suite, dst)
    final = max(dst.glob("w32/step*"), key=lambda p: int(p.name[4:]))
    (final / "model.safetensors").write_bytes(b"garbage")
    one_line_error(*run(str(dst), "--model", "w32", "--out", str(tmp_path / "x")),
                   "cannot load", final.name)  # fmt: skip
    (final / "model.safetensors").unlink()
    one_line_error(*run(str(dst), "--model", "w32"), "no final checkpoint")


def test_bad_options(source_suite: Path, tmp_path: Path) -> None:
    x = str(tmp_path / "x")
    one_line_error(*run(str(source_suite), "--model", "w32", "--steps", "0", "--out", x), "--steps")
    one_line_error(
        *run(str(source_suite), "--model", "w32", "--target", "-1", "--out", x), "--target"
    )
    one_line_error(
        *run(str(source_suite), "--model", "w32", "--analyses", "weightz", "--out", x),
        "unknown analysis 'weightz'",
    )
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "thing.txt").write_text("mine")
    one_line_error(*run(str(source_suite), "--model", "w32", "--out", str(tmp_path / "full")),
                   "not empty")  # fmt: skip
    assert not (tmp_path / "x").exists()
