"""Activation + gradient analysis per checkpoint: model swap vs from_pretrained per checkpoint.

A width-256, 4-block GPT-NeoX (vocab 4096, the shipped tokenizer) with ``--steps``
checkpoints of different random weights, the default evaluation batch (16 x 128 tokens of
the held-out corpus, micro-batches of 4). Both paths do the same work per checkpoint: one
forward+backward with residual hooks, residual statistics, fits, gradient statistics.

* swap: the ``activations`` and ``gradients`` analyses as a sweep runs them (the model is
  built once; each checkpoint's tensors are copied into it; one shared pass);
* reload: ``AutoModelForCausalLM.from_pretrained(folder)`` per checkpoint, then the same pass.

The first checkpoint of each path is a warm-up (imports, model build) and is not timed.
Prints seconds per checkpoint (median) for each path and their ratio.
Run: ``python benchmarks/bench_swap.py [--steps 4]``.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import tempfile
import time
from pathlib import Path

import torch

from ckptscope.adapters import get_adapter
from ckptscope.analyses.activations import Activations
from ckptscope.analyses.base import CheckpointContext, SweepOptions
from ckptscope.analyses.evaluation import batch_for, gradient_records, residual_records
from ckptscope.analyses.gradients import Gradients
from ckptscope.models.cache import WorkerCache
from ckptscope.models.forward import forward_backward
from ckptscope.models.resid_stats import ResidualStats
from ckptscope.models.swap import _checkpoint_renamer
from ckptscope.models.tiny import write_tiny_checkpoints
from ckptscope.sources.folder_checkpoint import FolderCheckpoint

CACHE = WorkerCache()  # one per sweep worker, as the sweep keeps it


def swap_path(ckpt: FolderCheckpoint, options: SweepOptions) -> tuple[int, float]:
    """The analyses as the sweep runs them; returns (records, seconds loading)."""
    t0 = time.perf_counter()
    CACHE.model(ckpt)  # the analyses find the model already holding this checkpoint
    load = time.perf_counter() - t0
    adapter = get_adapter(ckpt.config())
    ctx = CheckpointContext("bench", ckpt, adapter, options=options, cache=CACHE,
                            analyses=("activations", "gradients"))  # fmt: skip
    records = list(Activations().run(ctx)) + list(Gradients().run(ctx))
    return len(records), load


def reload_path(ckpt: FolderCheckpoint, options: SweepOptions) -> tuple[int, float]:
    """from_pretrained per checkpoint, then the same pass and reductions."""
    from transformers import AutoModelForCausalLM

    ctx = CheckpointContext("bench", ckpt, get_adapter(ckpt.config()), options=options)
    batch = batch_for(ctx)
    t0 = time.perf_counter()
    model = AutoModelForCausalLM.from_pretrained(ckpt.folder, dtype=torch.float32).eval()
    load = time.perf_counter() - t0
    rename = _checkpoint_renamer(model)
    stored = {rename(t.name): t.name for t in ckpt.tensors()}
    stats: dict[int | None, ResidualStats] = {}

    def on_resid(index: int | None, h: torch.Tensor) -> None:
        stats.setdefault(index, ResidualStats(0 if index is None else index + 1)).update(h)

    loss = forward_backward(
        model, batch.ids, micro_batch=batch.micro_batch, on_resid=on_resid, backward=True
    )
    records = residual_records(stats, loss, batch, 8, options.seed)
    records += gradient_records(model, stored, ctx.adapter, batch.sha256)
    return len(records), load


def main() -> None:
    """Build the checkpoints, time both paths, print the ratio."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=4, help="checkpoints (first is warm-up)")
    parser.add_argument(
        "--threads", type=int, default=None, help="torch threads (default: torch's)"
    )
    args = parser.parse_args()
    if args.threads:
        # On a shared, oversubscribed machine parallel copies stall; one thread is steadier.
        torch.set_num_threads(args.threads)
    options = SweepOptions()
    with tempfile.TemporaryDirectory() as tmp:
        steps = tuple(range(args.steps))
        folders = write_tiny_checkpoints(Path(tmp), steps, d_model=256, n_layers=4, n_heads=8,
                                         max_positions=128)  # fmt: skip
        times: dict[str, list[float]] = {"swap": [], "reload": []}
        loads: dict[str, list[float]] = {"swap": [], "reload": []}
        counts: dict[str, int] = {}
        # Interleaved, so both paths see the same machine state.
        for i, (step, folder) in enumerate(zip(steps, folders, strict=True)):
            for name, fn in (("swap", swap_path), ("reload", reload_path)):
                with FolderCheckpoint("w256", step, folder) as ckpt:
                    t0 = time.perf_counter()
                    counts[name], load = fn(ckpt, options)
                    if i:
                        times[name].append(time.perf_counter() - t0)
                        loads[name].append(load)
    swap, reload = statistics.median(times["swap"]), statistics.median(times["reload"])
    print(
        f"machine: {platform.processor() or platform.machine()}, torch threads {torch.get_num_threads()}"
    )
    print("model: GPT-NeoX d_model 256, 4 blocks, vocab 4096; batch 16 x 128, micro-batch 4")
    print(f"records per checkpoint: swap {counts['swap']}, reload {counts['reload']}")
    load_swap, load_reload = (statistics.median(loads[k]) for k in ("swap", "reload"))
    print(f"swap (model built once, tensors swapped): {swap:.3f} s/checkpoint "
          f"(of which loading {load_swap:.3f} s)")  # fmt: skip
    print(f"from_pretrained per checkpoint:          {reload:.3f} s/checkpoint "
          f"(of which loading {load_reload:.3f} s)")  # fmt: skip
    print(f"loading alone: reload / swap {load_reload / load_swap:.2f}x")
    print(f"ratio reload / swap: {reload / swap:.2f}x over {len(times['swap'])} checkpoints")


if __name__ == "__main__":
    main()
