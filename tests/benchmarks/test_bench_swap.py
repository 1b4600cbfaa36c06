"""bench_swap: the Pythia-layout checkpoint writer, the tiny run end to end, no-GPU exit."""

import json
import subprocess
import sys

import pytest
import torch

from bench_quick import REPO


def _bench(*args: str, timeout: int = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "benchmarks.bench_swap", *args], cwd=REPO,
                          capture_output=True, text=True, timeout=timeout)  # fmt: skip


def test_written_checkpoint_loads_in_both_paths(tmp_path):
    from benchmarks.bench_swap import Shape, write_neox_checkpoint
    from transformers import AutoModelForCausalLM

    from ckptscope.models.swap import SwappableModel
    from ckptscope.sources.folder_checkpoint import FolderCheckpoint

    shape = Shape(d_model=32, n_layers=2, n_heads=4, vocab=4200, max_positions=64, dtype="float16")
    write_neox_checkpoint(tmp_path / "step0", shape, "float16", seed=0)
    with FolderCheckpoint("m", 0, tmp_path / "step0") as ckpt:
        assert sum(t.numel for t in ckpt.tensors()) == shape.n_params
        assert ckpt.read("embed_out.weight").dtype == torch.float16
        holder = SwappableModel(ckpt.config(), torch.float32, "cpu")
        holder.load(ckpt)  # raises on any tensor the model has and the file lacks
        swapped = holder.model.state_dict()
    model, info = AutoModelForCausalLM.from_pretrained(
        tmp_path / "step0", dtype=torch.float32, output_loading_info=True
    )
    assert not info["missing_keys"] and not info["unexpected_keys"]
    for name, value in model.state_dict().items():
        assert torch.equal(value, swapped[name]), name


@pytest.mark.slow
def test_tiny_run_prints_json_line(tmp_path):
    proc = _bench("--shape", "tiny", "--steps", "2", "--root", str(tmp_path))
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    for key in ("swap_s", "reload_s", "swap_load_s", "reload_load_s", "ratio", "load_ratio"):
        assert result[key] > 0
    assert result["shape"] == "tiny" and result["device"] == "cpu" and result["steps"] == 2
    assert result["swap_models_held"] == 1 and result["reload_freed"] is True
    assert "ratio reload / swap:" in proc.stdout
    again = _bench("--shape", "tiny", "--steps", "2", "--root", str(tmp_path), "--generate-only")
    assert again.returncode == 0 and json.loads(again.stdout.splitlines()[-1])["written"] == 0


@pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA GPU is present")
def test_cuda_without_gpu_exits_with_one_line(tmp_path):
    proc = _bench("--device", "cuda", "--root", str(tmp_path), timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and "CUDA" in proc.stderr
    assert "Traceback" not in proc.stderr and not any(tmp_path.iterdir())
