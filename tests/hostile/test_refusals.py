"""Bad options are refused up front: one line, exit code 1, before any task runs.

A duplicate step is a failure of that checkpoint only: every other checkpoint is swept.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from ckptscope.cli.app import app
from ckptscope.devices import check_device
from ckptscope.errors import UsageError
from ckptscope.sources.steps import select_steps
from ckptscope.store import Store
from conftest import make_neox_folder_suite

runner = CliRunner()


@pytest.fixture(scope="module")
def suite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_neox_folder_suite(tmp_path_factory.mktemp("refusals"), steps=(0, 1, 2))


def _errors(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.startswith("error:")]


def _sweep(suite: Path, out: Path, *args: str):
    return runner.invoke(app, ["sweep", str(suite), "--out", str(out), *args])


@pytest.mark.parametrize(
    ("args", "names"),
    [
        (["--device", "tpu9"], "'tpu9' is not a torch device"),
        (["--device", "meta"], "ckptscope runs on cpu, cuda, mps"),
        (["--set", "n_seqs=-1", "--analyses", "activations"], "n_seqs=-1"),
        (["--set", "seq_len=0", "--analyses", "gradients"], "seq_len=0"),
        (["--set", "outlier_k=true", "--analyses", "activations"], "outlier_k=True"),
        (["--set", "dtype=float7", "--analyses", "activations"], "unknown dtype 'float7'"),
        (["--set", "distribution_max_samples=-5", "--analyses", "distributions"], "=-5"),
        (["--set", "embed_tokens=[5, 2]", "--analyses", "embeddings"], "[5, 2)"),
        (["--set", "embed_extra_tokens=-1", "--analyses", "embeddings"], "=-1"),
        (["--set", "spectra_method=lanczos", "--analyses", "spectra"], "'lanczos'"),
        (["--set", "spectra_heads=5", "--analyses", "spectra"], "spectra_heads=5 must be true"),
        (["--set", "svd_top_k=0", "--analyses", "svd_directions"], "svd_top_k=0"),
        (["--set", "spectra={}", "--analyses", "spectra"], "option 'spectra' is read by none"),
    ],
)
def test_bad_option_is_one_line_before_any_task(
    suite: Path, tmp_path: Path, args: list[str], names: str
) -> None:
    out = tmp_path / "store"
    result = _sweep(suite, out, *args)
    assert result.exit_code == 1, result.output
    errors = _errors(result.output)
    assert len(errors) == 1 and names in errors[0], result.output
    assert "Traceback" not in result.output
    assert not out.exists()  # refused before the store was created


@pytest.mark.skipif(torch.cuda.is_available(), reason="this torch has CUDA: nothing to refuse")
def test_cuda_without_cuda_is_refused(suite: Path, tmp_path: Path) -> None:
    result = _sweep(suite, tmp_path / "store", "--device", "cuda", "--analyses", "weights")
    assert result.exit_code == 1
    (line,) = _errors(result.output)
    assert "--device 'cuda': CUDA is not available" in line and "use --device cpu" in line
    with pytest.raises(UsageError, match="CUDA is not available"):
        check_device("cuda:1")
    assert check_device("cuda", local=False) == "cuda"  # a Ray driver may have no GPU


def test_train_refuses_a_bad_device(tmp_path: Path) -> None:
    result = runner.invoke(app, ["train", str(tmp_path / "s"), "--preset", "tiny", "--device", "x"])
    assert result.exit_code == 1
    assert "'x' is not a torch device" in _errors(result.output)[0]
    assert not (tmp_path / "s").exists()


def test_a_huge_step_range_plans_without_enumerating_it() -> None:
    # 0:10**11:1 used to build a range of 10**11 steps and hang in planning.
    assert select_steps("0:100000000000:1", [0, 10, 20]) == [0, 10, 20]
    assert select_steps("5:100000000000:5", [0, 5, 7, 10, 20]) == [5, 10, 20]
    assert select_steps("1:1000:1", [0, 1, 999, 1000]) == [1, 999, 1000]


def test_a_duplicate_step_fails_that_checkpoint_only(suite: Path, tmp_path: Path) -> None:
    root = tmp_path / "dup"
    shutil.copytree(suite, root)
    shutil.copytree(root / "tiny-a" / "step1", root / "tiny-a" / "checkpoint-1")
    out = tmp_path / "store"
    result = _sweep(root, out, "--analyses", "weights")
    assert result.exit_code == 3, result.output
    failed = [line for line in result.output.splitlines() if line.startswith("failed ")]
    assert len(failed) == 1
    assert "tiny-a@step1:weights" in failed[0] and "two folders for step 1" in failed[0]
    assert "checkpoint-1" in failed[0] and "step1" in failed[0]
    stored = Store(out).query("select distinct model, step from tasks order by model, step")
    assert list(map(tuple, stored.to_numpy())) == [
        ("tiny-a", 0),
        ("tiny-a", 2),
        ("tiny-b", 0),
        ("tiny-b", 1),
        ("tiny-b", 2),
    ]
    fails = Store(out).failures()
    assert list(zip(fails.model, fails.step, strict=True)) == [("tiny-a", 1)]


def test_options_that_pass_are_recorded(suite: Path, tmp_path: Path) -> None:
    out = tmp_path / "store"
    result = _sweep(suite, out, "--analyses", "embeddings", "--set", "embed_extra_tokens=0")
    assert result.exit_code == 0, result.output
    meta = json.loads(Store(out).query("select meta from tasks limit 1").meta[0])
    assert meta["options"]["embed_extra_tokens"] == 0
