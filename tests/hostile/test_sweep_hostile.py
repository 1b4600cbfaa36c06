"""``ckptscope sweep`` over a suite with one hostile checkpoint: exit 3, one line, the rest stored."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from ckptscope.cli.app import app
from ckptscope.store import Store
from hostile.corpus import (
    QKV,
    make_code_pickle,
    make_config_list,
    make_negative_offset,
    make_nonfinite,
    make_outside_file,
    make_overlap,
    make_shard_escape,
)
from sources.builders import write_checkpoint


def _overlap(folder: Path, tmp: Path) -> tuple[Path, str | None]:
    return make_overlap(folder), QKV


def _negative(folder: Path, tmp: Path) -> tuple[Path, str | None]:
    return make_negative_offset(folder), QKV


def _escape(how: str):
    def make(folder: Path, tmp: Path) -> tuple[Path, str | None]:
        outside = make_outside_file(tmp / "elsewhere" / "secret.safetensors")
        return make_shard_escape(folder, how, outside), QKV

    return make


def _config(folder: Path, tmp: Path) -> tuple[Path, str | None]:
    return make_config_list(folder), None


def _pickle(folder: Path, tmp: Path) -> tuple[Path, str | None]:
    return make_code_pickle(folder, tmp / "payload_ran"), None


CASES = {
    "safetensors_overlap": ("safetensors", _overlap, "overlap"),
    "safetensors_negative_offset": ("safetensors", _negative, "non-negative"),
    "shard_absolute": ("sharded", _escape("absolute"), "outside the checkpoint folder"),
    "shard_symlink": ("sharded", _escape("symlink"), "outside the checkpoint folder"),
    "config_list": ("safetensors", _config, "config.json must be a JSON object, got list"),
    "code_pickle": ("safetensors", _pickle, "refused: not a weights-only checkpoint"),
}


def _sweep(suite: Path, out: Path, analyses: str):
    return CliRunner().invoke(app, ["sweep", str(suite), "--out", str(out), "--analyses", analyses])


@pytest.mark.parametrize("case", sorted(CASES))
def test_sweep_records_the_hostile_checkpoint_and_carries_on(tmp_path, case):
    fmt, make, words = CASES[case]
    suite = tmp_path / "run"
    for step in (0, 1, 2):
        write_checkpoint(suite / f"step{step}", seed=step, fmt=fmt)
    bad, tensor = make(suite / "step1", tmp_path)
    out = _sweep(suite, tmp_path / "store", "weights")
    assert out.exit_code == 3, out.output
    failed = [line for line in out.output.splitlines() if line.startswith("failed ")]
    assert len(failed) == 1, out.output
    assert str(bad) in failed[0] and words in failed[0], failed[0]
    if tensor is not None:
        assert repr(tensor) in failed[0]
    assert "Traceback" not in out.output
    store = Store(tmp_path / "store")
    assert sorted(store.scalars().step.unique()) == [0, 2]
    failures = store.failures()
    assert list(failures.step) == [1] and str(bad) in failures.error[0]
    assert not (tmp_path / "payload_ran").exists()


def test_sweep_spectra_over_a_nonfinite_matrix(tmp_path):
    suite = tmp_path / "run"
    for step in (0, 2):
        write_checkpoint(suite / f"step{step}", seed=step)
    make_nonfinite(suite / "step1", seed=1)
    out = _sweep(suite, tmp_path / "store", "spectra")
    assert out.exit_code == 0, out.output
    store = Store(tmp_path / "store")
    assert store.failures().empty
    bad = store.scalars(metric="n_nonfinite")
    assert set(bad.step) == {1}
    assert ("qkv", 1, "weight", 2.0) in set(
        zip(bad.component, bad.block, bad.param, bad.value, strict=True)
    )
    spectra = store.arrays(kind="singular_values")
    per_step = spectra.groupby("step").size()
    assert per_step[1] == per_step[0] - len(bad)  # every other matrix of step 1 has its spectrum
    assert per_step[0] == per_step[2]
