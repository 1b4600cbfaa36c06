"""Spectra of one Pythia-160m-shaped checkpoint: batched Gram vs a per-matrix svdvals loop.

Matrices (random, with column scales spread over two decades so spectra are not flat):
12 blocks of qkv 2304x768, attention dense 768x768, mlp_in 3072x768, mlp_out 768x3072, plus
embed and unembed 50304x768; with ``--heads``, the OV and QK circuits of 12x12 heads.

Prints, per method: CPU seconds per checkpoint (process time over all threads, so a
busy machine distorts it less than wall time), speed-up over the baseline (a loop of float32
``torch.linalg.svdvals``, one matrix at a time, as WeightWatcher-style code does), max
relative error of the top 100 and of all singular values against numpy's float64 SVD, and
the largest |alpha - alpha_ref| of the power-law fit. Run: ``python benchmarks/bench_spectra.py``.
"""

from __future__ import annotations

import argparse
import platform
import time

import numpy as np
import torch

from ckptscope.adapters import get_adapter
from ckptscope.analyses.base import CheckpointContext, get_analysis
from ckptscope.linalg import fit_esd_power_law, product_singular_values, singular_values_batched
from ckptscope.sources.base import Checkpoint, TensorInfo


def pythia_like(
    blocks: int, d: int, vocab: int, seed: int = 0, device: str | torch.device = "cpu"
) -> dict[str, torch.Tensor]:
    """Stacked float32 matrices per component, ``(count, m, n)``, made on ``device``."""
    g = torch.Generator(device=device).manual_seed(seed)

    def mats(count: int, m: int, n: int) -> torch.Tensor:
        perm = torch.randperm(n, generator=g, device=device)
        scale = torch.logspace(0, -2, n, device=device)[perm]  # column scales
        return 0.02 * torch.randn(count, m, n, generator=g, device=device) * scale

    return {
        "qkv": mats(blocks, 3 * d, d),
        "attn_out": mats(blocks, d, d),
        "mlp_in": mats(blocks, 4 * d, d),
        "mlp_out": mats(blocks, d, 4 * d),
        "embed": mats(1, vocab, d),
        "unembed": mats(1, vocab, d),
    }


def timed(fn, *args, **kwargs):
    """Result and seconds: process CPU time (all threads), steadier than wall time on a shared box."""
    start = time.process_time()
    out = fn(*args, **kwargs)
    return out, time.process_time() - start


def svdvals_loop(stack: torch.Tensor) -> torch.Tensor:
    """The baseline: one float32 ``torch.linalg.svdvals`` call per matrix."""
    return torch.stack([torch.linalg.svdvals(m) for m in stack]).to(torch.float64)


def errors(got: np.ndarray, ref: np.ndarray) -> tuple[float, float, float]:
    """Max relative error on the top 100 and on all values; max |alpha - alpha_ref|."""
    rel = np.abs(got / ref - 1)
    alpha = max(
        abs(fit_esd_power_law(g**2).alpha - fit_esd_power_law(r**2).alpha)
        for g, r in zip(got, ref, strict=True)
    )
    return float(rel[:, :100].max()), float(rel.max()), float(alpha)


def bench_weights(mats: dict[str, torch.Tensor]) -> None:
    """Every stored matrix of one checkpoint."""
    refs = {k: np.linalg.svd(v.double().numpy(), compute_uv=False) for k, v in mats.items()}
    methods = {
        "svdvals fp32 loop (baseline)": svdvals_loop,
        "gram64 batched": lambda m: singular_values_batched(m, "gram64"),
        "gram32 batched": lambda m: singular_values_batched(m, "gram32"),
        "svd fp64 batched": lambda m: singular_values_batched(m, "svd"),
    }
    base = None
    print(
        f"{'method':30s} {'cpu s':>8s} {'speed-up':>9s} {'top100 rel':>11s} {'all rel':>9s} {'d alpha':>9s}"
    )
    for name, fn in methods.items():
        total, worst = 0.0, (0.0, 0.0, 0.0)
        for comp, stack in mats.items():
            s, sec = timed(fn, stack)
            total += sec
            worst = tuple(
                max(a, b) for a, b in zip(worst, errors(s.numpy(), refs[comp]), strict=True)
            )
        base = base or total
        print(
            f"{name:30s} {total:8.2f} {base / total:9.2f} {worst[0]:11.1e} {worst[1]:9.1e} {worst[2]:9.1e}"
        )


def bench_circuits(blocks: int, d: int, heads: int) -> None:
    """OV and QK circuits of every head: form the d x d product + svdvals, or factored."""
    g = torch.Generator().manual_seed(1)
    dh = d // heads
    left = 0.02 * torch.randn(2 * blocks * heads, d, dh, generator=g)
    right = 0.02 * torch.randn(2 * blocks * heads, dh, d, generator=g)
    ref = product_singular_values(left, right).numpy()
    s_base, t_base = timed(lambda: svdvals_loop(left @ right)[:, :dh])
    s_fact, t_fact = timed(product_singular_values, left, right)
    for name, s, t in (
        ("product + svdvals loop", s_base, t_base),
        ("factored (QR, d_head^2)", s_fact, t_fact),
    ):
        rel = float(np.abs(s.numpy() / ref - 1).max())
        print(
            f"{name:30s} {t:8.2f} {t_base / t:9.2f}  top-d_head rel vs float64 factored {rel:.1e}"
        )


class _Memory(Checkpoint):
    """A GPT-NeoX checkpoint held in memory."""

    def __init__(self, cfg: dict, tensors: dict[str, torch.Tensor]) -> None:
        self.model, self.step, self._cfg, self._t = "bench", 0, cfg, tensors

    def config(self) -> dict:
        return self._cfg

    def tensors(self) -> list[TensorInfo]:
        return [TensorInfo(k, tuple(v.shape), "float32") for k, v in self._t.items()]

    def read(self, name: str) -> torch.Tensor:
        return self._t[name]


def bench_analyses(blocks: int, d: int, vocab: int, heads: int) -> None:
    """Wall and CPU seconds of the ``spectra`` and ``svd_directions`` analyses on one checkpoint."""
    cfg = {
        "model_type": "gpt_neox",
        "num_hidden_layers": blocks,
        "hidden_size": d,
        "num_attention_heads": heads,
        "intermediate_size": 4 * d,
        "vocab_size": vocab,
    }
    mats = pythia_like(blocks, d, vocab)
    names = {
        "qkv": "attention.query_key_value",
        "attn_out": "attention.dense",
        "mlp_in": "mlp.dense_h_to_4h",
        "mlp_out": "mlp.dense_4h_to_h",
    }
    tensors = {"gpt_neox.embed_in.weight": mats["embed"][0], "embed_out.weight": mats["unembed"][0]}
    for comp, path in names.items():
        for b in range(blocks):
            tensors[f"gpt_neox.layers.{b}.{path}.weight"] = mats[comp][b]
    for name in ("spectra", "svd_directions"):
        ctx = CheckpointContext("bench", _Memory(cfg, tensors), get_adapter(cfg))
        wall = time.perf_counter()
        records, cpu = timed(lambda ctx=ctx, name=name: list(get_analysis(name).run(ctx)))
        wall = time.perf_counter() - wall
        print(f"analysis {name:16s} wall {wall:7.2f} s  cpu {cpu:7.2f} s  records {len(records)}")


def main() -> None:
    """Run the benchmark and print seconds, ratios and errors."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--blocks", type=int, default=12)
    parser.add_argument("--d", type=int, default=768)
    parser.add_argument("--vocab", type=int, default=50304)
    parser.add_argument(
        "--heads", type=int, default=0, help="heads per block for the circuit benchmark (e.g. 12)"
    )
    parser.add_argument(
        "--analyses", action="store_true", help="also time the two analyses end to end"
    )
    parser.add_argument("--skip-weights", action="store_true", help="skip the method comparison")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(
        f"{platform.processor() or platform.machine()}, torch {torch.__version__}, {torch.get_num_threads()} threads"
    )
    print(f"weights: {args.blocks} blocks, d={args.d}, vocab={args.vocab}")
    if not args.skip_weights:
        bench_weights(pythia_like(args.blocks, args.d, args.vocab))
    if args.heads:
        print(f"circuits: {args.blocks} x {args.heads} heads x (OV, QK)")
        bench_circuits(args.blocks, args.d, args.heads)
    if args.analyses:
        bench_analyses(args.blocks, args.d, args.vocab, args.heads or 12)


if __name__ == "__main__":
    main()
