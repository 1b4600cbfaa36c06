"""The init-from-final experiment end to end on a micro suite (seconds on a CPU)."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from scipy.stats import ks_2samp

from ckptscope.experiments import InitFromFinalConfig, init_from_final, run_init_from_final
from ckptscope.store import Store
from ckptscope.train import checkpoint_steps

KS_C = math.sqrt(-math.log(1e-4 / 2) / 2)  # two-sample KS critical value, alpha = 1e-4
NAMES = [f"w32-init_{i}-seed{s}" for i in ("standard", "sampled", "permuted") for s in (0, 1)]
STEPS = 16  # the micro source suite's


def heldout(path: Path) -> list[tuple[int, float]]:
    with path.open() as f:
        return [(int(r["step"]), float(r["heldout_loss"])) for r in csv.DictReader(f)]


@pytest.fixture(scope="module")
def experiment(source_suite: Path, tmp_path_factory: pytest.TempPathFactory):
    out = tmp_path_factory.mktemp("exp") / "run"
    lines: list[str] = []
    result = init_from_final(source_suite, "w32", seeds=[0, 1], out=out, checkpoints=4,
                             analyses=["weights"], progress=lines.append)  # fmt: skip
    return out, result, lines


def test_models_manifest_and_logs(experiment, source_suite: Path) -> None:
    out, _, _ = experiment
    manifest = json.loads((out / "suite" / "suite.json").read_text())
    assert manifest["format"] == "ckptscope-suite/1"
    assert [m["name"] for m in manifest["models"]] == NAMES
    assert {(m["variant"], m["seed"]) for m in manifest["models"]} == {
        (f"init_{i}", s) for i in ("standard", "sampled", "permuted") for s in (0, 1)
    }
    assert manifest["experiment"]["source_model"] == "w32"
    assert manifest["experiment"]["source_step"] == STEPS
    source = json.loads((source_suite / "suite.json").read_text())
    assert manifest["train"] == source["train"]  # the same recipe (4 checkpoints there too)
    for name in NAMES:
        assert [s for s, _ in heldout(out / "suite" / name / "heldout.csv")] == checkpoint_steps(
            STEPS, 4
        )


def test_standard_init_retrains_the_source_model_exactly(experiment, source_suite: Path) -> None:
    """Same init, recipe and data order for seed 0: the source's own weights at every step."""
    out, _, _ = experiment
    for step in checkpoint_steps(STEPS, 4):
        a = load_file(
            str(out / "suite" / "w32-init_standard-seed0" / f"step{step}" / "model.safetensors")
        )
        b = load_file(str(source_suite / "w32" / f"step{step}" / "model.safetensors"))
        assert a.keys() == b.keys()
        assert all(torch.equal(a[k], b[k]) for k in a), step


def test_step0_of_each_init_comes_from_the_final_weights(experiment, source_suite: Path) -> None:
    out, _, _ = experiment
    final = load_file(str(source_suite / "w32" / f"step{STEPS}" / "model.safetensors"))
    for seed in (0, 1):
        sampled = load_file(
            str(out / "suite" / f"w32-init_sampled-seed{seed}" / "step0" / "model.safetensors")
        )
        permuted = load_file(
            str(out / "suite" / f"w32-init_permuted-seed{seed}" / "step0" / "model.safetensors")
        )
        for name, t in final.items():
            n = t.numel()
            ks = ks_2samp(sampled[name].flatten().double().numpy(), t.flatten().double().numpy())
            assert ks.statistic < KS_C * math.sqrt(2 / n), (name, ks.statistic)
            assert torch.equal(permuted[name].flatten().sort().values, t.flatten().sort().values)
            if n > 1000:
                assert not torch.equal(permuted[name], t), name
                assert not torch.equal(sampled[name], t), name


def test_store_holds_the_curves_and_the_sweep(experiment) -> None:
    out, _, _ = experiment
    store = Store(out / "store", create=False)
    train = store.scalars(metric="train_loss")
    assert sorted(set(train.model)) == sorted(NAMES)
    for name in NAMES:
        rows = train[train.model == name].sort_values("step")
        assert rows.step.tolist() == list(range(1, STEPS + 1))
        with (out / "suite" / name / "train_log.csv").open() as f:
            logged = [float(r["loss"]) for r in csv.DictReader(f)]
        assert rows.value.tolist() == logged
    held = store.scalars(metric="heldout_loss")
    assert len(held) == len(NAMES) * len(checkpoint_steps(STEPS, 4))
    norms = store.scalars(metric="norm", component="mlp_in")
    assert set(norms.model) == set(NAMES)


def test_steps_to_target_against_the_logs(experiment) -> None:
    """The table's numbers, recomputed from the heldout.csv files by a naive loop."""
    out, result, _ = experiment
    std_final = [
        heldout(out / "suite" / f"w32-init_standard-seed{s}" / "heldout.csv")[-1][1] for s in (0, 1)
    ]
    target = 1.05 * sum(std_final) / 2
    assert result.target == pytest.approx(target, rel=1e-12)
    for row in result.rows:
        naive = []
        for seed in (0, 1):
            curve = heldout(out / "suite" / f"w32-init_{row.init}-seed{seed}" / "heldout.csv")
            naive.append(next((s for s, v in curve if v <= target), None))
        assert [row.per_seed[0], row.per_seed[1]] == naive
        got = [v for v in naive if v is not None]
        if got:
            assert row.heldout_steps.mean == pytest.approx(sum(got) / len(got))
            assert (row.heldout_steps.lo, row.heldout_steps.hi) == (min(got), max(got))
    assert set(result.verdicts) == {"sampled", "permuted"}
    text = result.markdown.read_text()
    assert "| standard |" in text and f"{result.target:.4f}" in text
    assert "<table>" in result.html.read_text() and result.figure.stat().st_size > 10_000
    assert json.loads((out / "result.json").read_text())["target"] == result.target


def test_rerun_skips_finished_models(experiment, source_suite: Path) -> None:
    out, result, _ = experiment
    files = sorted((out / "suite").glob("*/step*/model.safetensors"))
    before = {p: p.stat().st_mtime_ns for p in files}
    lines: list[str] = []
    again = run_init_from_final(
        InitFromFinalConfig(source_suite, "w32", (0, 1), out=out, checkpoints=4,
                            analyses=("weights",)), lines.append,
    )  # fmt: skip
    assert {p: p.stat().st_mtime_ns for p in files} == before
    assert again.rows == result.rows and again.target == result.target


def test_steps_option_retrains_into_another_folder_only(source_suite: Path, tmp_path: Path) -> None:
    """--steps changes the recipe: the same --out refuses it, another folder takes it."""
    from ckptscope.errors import UsageError

    out = tmp_path / "short"
    res = init_from_final(source_suite, "w32", seeds=[0, 1], out=out, steps=4, checkpoints=2,
                          analyses=[])  # fmt: skip
    assert heldout(out / "suite" / "w32-init_sampled-seed1" / "heldout.csv")[-1][0] == 4
    assert len(res.rows) == 3
    with pytest.raises(UsageError, match="holds another experiment"):
        init_from_final(source_suite, "w32", seeds=[0, 1], out=out, steps=5, analyses=[])
