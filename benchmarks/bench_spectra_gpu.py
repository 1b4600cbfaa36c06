"""Spectra on a GPU: every singular value of every matrix of a Pythia-1.4b / 6.9b-shaped checkpoint.

Matrices: random float32 on the GPU with column scales spread over two decades (as
``bench_spectra.py``), Pythia's stored shapes: per block QKV ``3d x d``, attention dense
``d x d``, MLP in ``4d x d``, MLP out ``d x 4d``, plus embedding and unembedding
``vocab x d`` (1.4b: 24 blocks, d 2048, 98 matrices; 6.9b: 32 blocks, d 4096, 130).

Methods, each timed from matrices on the GPU to float64 singular values on the host:

* ``svdvals fp32 (baseline)``: batched ``torch.linalg.svdvals`` per component stack, as
  WeightWatcher-style code on a GPU. At 6.9b it is run on ``--baseline-blocks`` blocks of
  each stack (and the whole embedding and unembedding) and scaled by blocks/run-blocks.
* ``gram32, per stack, 1 stream``: fp32 Gram and fp32 ``eigvalsh``, one stack at a time
  (the issue's 2.35 s reference method).
* ``gram32, all, N streams``: ckptscope's CUDA default (:func:`singular_values_stacks`):
  every Gram of the checkpoint solved together, spread over N CUDA streams.
* ``gram32 + eig64``: fp32 Gram, float64 ``eigvalsh`` (better small values).
* ``gram32 magma``: the same with ``torch.backends.cuda.preferred_linalg_library("magma")``.
* ``gram64``: float64 Gram and ``eigvalsh``: the accuracy reference for the others (its own
  error bound, ~1e-16·(s_max/s)², is ~1e-12 on the top 100 here).
* ``gram32, batched``: ckptscope's CUDA default since ``linalg/tridiag.py``: every fp32 Gram
  of a size reduced to tridiagonal form together (one CUDA graph per shape, replayed), then
  float64 bisection in a Triton kernel. Timed as the first call (eager run, graph capture
  and Triton compilation included), the steady state (every later checkpoint of a sweep),
  without the graph (eager), and by stage (Grams, reduction, bisection).

The cuSOLVER rows pin ``solver="lapack"``; the reference too.

Errors: max relative error of the top 100 and of all singular values against ``gram64``; the
largest |alpha - alpha_ref| of the power-law fit over ``--alpha-matrices`` matrices per
shape set (the fit is O(n²)). Also the ``spectra`` analysis end to end (weights only, and
with per-head spectra and OV/QK circuits) on one 1.4b checkpoint with ``device="cuda"``.

Prints a BenchResult (markdown table) and writes one JSON line per measurement to
``--jsonl``. Skips, saying so, without a CUDA device. Run:
``python -m benchmarks.bench_spectra_gpu --shapes 1.4b,6.9b``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import torch

from benchmarks.bench_spectra import pythia_like
from benchmarks.common import BenchResult, Ratio, machine
from ckptscope.linalg import (
    eigvalsh_batched,
    fit_esd_power_law,
    gram,
    singular_values_stacks,
    tridiag,
)

SHAPES = {  # blocks, d_model, vocab
    "tiny": (2, 256, 4096),
    "160m": (12, 768, 50304),
    "1.4b": (24, 2048, 50304),
    "6.9b": (32, 4096, 50432),
}
REFERENCE_H200 = {"1.4b": (18.6, 2.35), "6.9b": (125.0, 11.6)}  # the svdvals, gram32
TARGET_S = 1.0
DEVICE = torch.device("cuda")  # --device cpu: a dry run of the script's logic


def sync() -> None:
    if DEVICE.type == "cuda":
        torch.cuda.synchronize()


Method = Callable[[list[torch.Tensor]], list[torch.Tensor]]


def baseline(parts: list[torch.Tensor]) -> list[torch.Tensor]:
    return [torch.linalg.svdvals(p).to("cpu", torch.float64) for p in parts]


def gram32_per_stack(parts: list[torch.Tensor]) -> list[torch.Tensor]:
    return [
        singular_values_stacks([p], "gram32", p.device, streams=1, solver="lapack")[0]
        for p in parts
    ]


def together(streams: int, method: str = "gram32") -> Method:
    return lambda parts: singular_values_stacks(
        parts, method, parts[0].device, streams, solver="lapack"
    )


def batched(method: str = "gram32") -> Method:
    return lambda parts: singular_values_stacks(parts, method, parts[0].device, solver="batched")


def batched_eager(parts: list[torch.Tensor]) -> list[torch.Tensor]:
    grams = [gram(p, torch.float32, p.device) for p in parts]
    sizes = [g.shape[0] for g in grams]
    lam = tridiag.eigvalsh_tridiag(torch.cat(grams), graph=False)
    return list(lam.clamp_min(0).sqrt().flip(-1).cpu().split(sizes))


def batched_stages(parts: list[torch.Tensor]) -> dict[str, float]:
    """Seconds of each stage of the batched solver (graph already captured for this shape)."""
    out = {}
    sync()
    t0 = time.perf_counter()
    grams = torch.cat([gram(p, torch.float32, p.device) for p in parts])
    sync()
    out["Grams (fp32)"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    d, e = tridiag.tridiagonalize_graphed(grams)
    sync()
    out["tridiagonal reduction (graph replay)"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    lam = tridiag.tridiagonal_eigvalsh(d, e)
    sync()
    out["bisection (Triton, float64)"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    lam.clamp_min(0).sqrt().flip(-1).cpu()
    out["to host"] = time.perf_counter() - t0
    return out


def gram32_eig64(streams: int) -> Method:
    def run(parts: list[torch.Tensor]) -> list[torch.Tensor]:
        grams = [gram(p, torch.float32, p.device).double() for p in parts]
        sizes = [g.shape[0] for g in grams]
        lam = eigvalsh_batched(torch.cat(grams), streams, solver="lapack")
        s = lam.clamp_min(0).sqrt().flip(-1).cpu()
        return list(s.split(sizes))

    return run


def magma(parts: list[torch.Tensor]) -> list[torch.Tensor]:
    before = torch.backends.cuda.preferred_linalg_library()
    torch.backends.cuda.preferred_linalg_library("magma")
    try:
        return singular_values_stacks(parts, "gram32", parts[0].device, streams=1, solver="lapack")
    finally:
        torch.backends.cuda.preferred_linalg_library(before)


def clock(fn: Method, parts: list[torch.Tensor], repeats: int) -> tuple[list[torch.Tensor], float]:
    """Result and median wall seconds of ``repeats`` runs (synchronised)."""
    times, out = [], []
    for _ in range(repeats):
        sync()
        t0 = time.perf_counter()
        out = fn(parts)
        sync()
        times.append(time.perf_counter() - t0)
    return out, statistics.median(times)


def errors(
    got: list[torch.Tensor], ref: list[torch.Tensor], ref_alpha: dict[tuple[int, int], float]
) -> tuple[float, float, float]:
    top = all_ = d_alpha = 0.0
    for k, (g, r) in enumerate(zip(got, ref, strict=True)):
        r = r[: g.shape[0]]  # a baseline run on the first blocks only
        rel = (g / r - 1).abs()
        top = max(top, float(rel[:, :100].max()))
        all_ = max(all_, float(rel.max()))
        for (kk, row), a in ref_alpha.items():
            if kk == k and row < g.shape[0]:
                lam = g[row].numpy() ** 2
                d_alpha = max(d_alpha, abs(fit_esd_power_law(lam, device=DEVICE).alpha - a))
    return top, all_, d_alpha


def bench_shape(
    name: str, args: argparse.Namespace, log: Callable[[dict], None]
) -> tuple[list[tuple[str, str]], list[Ratio]]:
    dev = DEVICE
    blocks, d, vocab = SHAPES[name]
    comps = pythia_like(blocks, d, vocab, device=dev)
    parts = list(comps.values())
    n_mats = sum(p.shape[0] for p in parts)
    gb = sum(p.numel() * 4 for p in parts) / 1e9
    rows: list[tuple[str, str]] = [
        (f"{name}: matrices", f"{n_mats} ({blocks} blocks, d {d}, vocab {vocab}; {gb:.1f} GB fp32)")
    ]
    # warm every code path on a small stack first (handles, workspaces, magma init)
    small = [p[:1, : min(p.shape[1], 256), : min(p.shape[2], 256)].contiguous() for p in parts[:2]]
    for fn in (baseline, gram32_per_stack, together(8), gram32_eig64(8), together(8, "gram64")):
        fn(small)
    if args.batched:
        batched()(small)  # Triton's and cuBLAS's set-up; the graph of the real shape is new
    ref, t_ref = clock(together(8, "gram64"), parts, 1)
    per_stack = [max(1, args.alpha_matrices // len(parts))] * len(parts)
    ref_alpha = {
        (k, row): fit_esd_power_law(ref[k][row].numpy() ** 2, device=DEVICE).alpha
        for k, count in enumerate(per_stack)
        for row in range(min(count, parts[k].shape[0]))
    }
    times: dict[str, float] = {}

    def measure(label: str, fn: Method, repeats: int, run_parts: list[torch.Tensor]) -> float:
        try:
            out, t = clock(fn, run_parts, repeats)
        except Exception as e:
            print(f"{name} {label}: failed: {type(e).__name__}: {e}".splitlines()[0], flush=True)
            log({"shape": name, "method": label, "error": str(e)[:300]})
            return float("nan")
        top, all_, d_alpha = errors(out, ref, ref_alpha)
        times[label] = t
        rec = {"shape": name, "method": label, "seconds": t, "repeats": repeats}
        rec |= {"top100_rel": top, "all_rel": all_, "d_alpha": d_alpha}
        log(rec)
        print(
            f"{name} {label:34s} {t:8.3f} s  top100 {top:.1e}  all {all_:.1e}  d_alpha {d_alpha:.1e}",
            flush=True,
        )
        rows.append(
            (
                f"{name}: {label}",
                f"{t:.3f} s (top-100 rel {top:.1e}, all {all_:.1e}, |Δα| {d_alpha:.1e})",
            )
        )
        return t

    times["gram64"] = t_ref
    rows.append((f"{name}: gram64, all, 8 streams (reference)", f"{t_ref:.3f} s"))
    reps = args.repeats if d < 4096 else args.big_repeats
    measure("gram32, per stack, 1 stream", gram32_per_stack, reps, parts)
    for n in args.streams:
        measure(f"gram32, all, {n} streams", together(n), reps, parts)
    if not args.skip_eig64:
        measure("gram32 + eig64, all, 8 streams", gram32_eig64(8), reps, parts)
    if args.batched:
        tridiag._GRAPHS.clear()
        measure("gram32, batched, first call (capture, compile)", batched(), 1, parts)
        measure("gram32, batched (CUDA default)", batched(), max(reps, 3), parts)
        stages = batched_stages(parts)
        log({"shape": name, "method": "batched stages", **stages})
        rows.append(
            (
                f"{name}: gram32, batched, by stage",
                ", ".join(f"{k} {v:.3f} s" for k, v in stages.items()),
            )
        )
        print(f"{name} batched stages: {stages}", flush=True)
        measure("gram32, batched, eager (no graph)", batched_eager, 1, parts)
        tridiag._GRAPHS.clear()
        if d < 4096:
            measure("gram64, batched, first call", batched("gram64"), 1, parts)
            measure("gram64, batched", batched("gram64"), reps, parts)
        tridiag._GRAPHS.clear()
    if not args.skip_magma and DEVICE.type == "cuda":
        measure("gram32 magma, all, 1 stream", magma, 1, parts)
    # the baseline last: it is the slowest; per stack, so that a partial run scales exactly
    run_blocks = min(blocks, args.baseline_blocks) if d >= args.baseline_scale_from else blocks
    sub = [p[:run_blocks] if p.shape[0] > 1 else p for p in parts]
    part_times: list[float] = []

    def baseline_timed(run_parts: list[torch.Tensor]) -> list[torch.Tensor]:
        part_times.clear()
        out = []
        for p in run_parts:
            sync()
            t0 = time.perf_counter()
            out.append(baseline([p])[0])
            part_times.append(time.perf_counter() - t0)
        return out

    if args.skip_baseline:
        sub = []
    t_sub = measure("svdvals fp32 (baseline)", baseline_timed, 1, sub) if sub else float("nan")
    t_base = t_sub
    if run_blocks < blocks and part_times:  # scale each block stack's time to all blocks
        t_base = sum(
            t * (blocks / run_blocks if p.shape[0] > 1 else 1)
            for t, p in zip(part_times, sub, strict=True)
        )
        rows.append(
            (
                f"{name}: svdvals fp32 (baseline), scaled to all blocks",
                f"{t_base:.2f} s (run on {run_blocks} of {blocks} blocks: {t_sub:.2f} s)",
            )
        )
        log(
            {
                "shape": name,
                "method": "baseline scaled",
                "seconds": t_base,
                "run_blocks": run_blocks,
            }
        )
    streams8 = times.get(f"gram32, all, {8} streams", float("nan"))
    one = times.get("gram32, per stack, 1 stream", float("nan"))
    ours = times.get("gram32, batched (CUDA default)", streams8)
    ratios = [
        Ratio(f"{name}: svdvals baseline / ckptscope (CUDA default)", t_base / ours),
        Ratio(f"{name}: cuSOLVER gram32 1 stream / 8 streams", one / streams8),
        Ratio(f"{name}: cuSOLVER gram32 8 streams / batched", streams8 / ours),
        Ratio(
            f"{name}: ckptscope seconds per checkpoint (CUDA default)",
            ours,
            f"<= {TARGET_S:g} s",
            bool(ours <= TARGET_S),
        ),
    ]
    if name in REFERENCE_H200:
        ref_svd, ref_gram = REFERENCE_H200[name]
        rows.append(
            (f"{name}: the issue's H200 references", f"svdvals {ref_svd} s, gram32 {ref_gram} s")
        )
    del comps, parts, sub
    if DEVICE.type == "cuda":
        torch.cuda.empty_cache()
    return rows, ratios


def bench_analysis(
    log: Callable[[dict], None], shape: str, profile: bool = False, solver: str | None = None
) -> list[tuple[str, str]]:
    """The ``spectra`` analysis end to end on one 1.4b-shaped checkpoint, device cuda."""
    from benchmarks.bench_spectra import _Memory
    from ckptscope.adapters import get_adapter
    from ckptscope.analyses.base import CheckpointContext, SweepOptions, get_analysis
    from ckptscope.analyses.spectra import SpectraOptions  # noqa: F401 (registers)

    blocks, d, vocab = SHAPES[shape]
    cfg = {
        "model_type": "gpt_neox",
        "num_hidden_layers": blocks,
        "hidden_size": d,
        "num_attention_heads": d // 128,
        "intermediate_size": 4 * d,
        "vocab_size": vocab,
    }
    comps = {k: v.cpu() for k, v in pythia_like(blocks, d, vocab, device=DEVICE).items()}
    names = {
        "qkv": "attention.query_key_value",
        "attn_out": "attention.dense",
        "mlp_in": "mlp.dense_h_to_4h",
        "mlp_out": "mlp.dense_4h_to_h",
    }
    tensors = {
        "gpt_neox.embed_in.weight": comps["embed"][0],
        "embed_out.weight": comps["unembed"][0],
    }
    for comp, path in names.items():
        for b in range(blocks):
            tensors[f"gpt_neox.layers.{b}.{path}.weight"] = comps[comp][b]
    rows = []
    for heads in (False, True):
        extra = {"spectra_heads": heads} | ({"spectra_solver": solver} if solver else {})
        opts = SweepOptions(device=DEVICE.type, extra=extra)
        ctx = CheckpointContext("bench", _Memory(cfg, tensors), get_adapter(cfg), options=opts)
        sync()
        t0 = time.perf_counter()
        if profile and not heads:
            import cProfile
            import pstats

            prof = cProfile.Profile()
            n = len(prof.runcall(lambda ctx=ctx: list(get_analysis("spectra").run(ctx))))
            t = time.perf_counter() - t0
            pstats.Stats(prof).sort_stats("tottime").print_stats(12)
        else:
            n = len(list(get_analysis("spectra").run(ctx)))
            t = time.perf_counter() - t0
        label = f"spectra analysis, {shape}, {DEVICE.type}, solver {solver or 'default'}" + (
            ", with heads and circuits" if heads else ", weights"
        )
        rows.append((label, f"{t:.2f} s wall, {n} records (host tensors in, records out)"))
        log({"method": label, "seconds": t, "records": n})
        print(f"{label}: {t:.2f} s, {n} records", flush=True)
    return rows


def main() -> BenchResult | None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shapes", default="1.4b,6.9b")
    parser.add_argument("--streams", default="1,4,8,16")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--baseline-blocks", type=int, default=4)
    parser.add_argument(
        "--baseline-scale-from",
        type=int,
        default=4096,
        help="d_model from which the baseline is partial",
    )
    parser.add_argument("--big-repeats", type=int, default=1, help="repeats at d_model >= 4096")
    parser.add_argument("--alpha-matrices", type=int, default=12)
    parser.add_argument("--skip-magma", action="store_true")
    parser.add_argument("--skip-eig64", action="store_true")
    parser.add_argument(
        "--no-batched", dest="batched", action="store_false", help="skip the batched solver"
    )
    parser.add_argument(
        "--solver", default=None, help="the analysis rows' solver (default: the device's)"
    )
    parser.add_argument("--skip-baseline", action="store_true")
    parser.add_argument("--profile-analysis", action="store_true", help="cProfile the analysis")
    parser.add_argument("--skip-analysis", action="store_true")
    parser.add_argument("--analysis-shape", default="1.4b")
    parser.add_argument("--jsonl", type=Path, default=None)
    parser.add_argument("--device", default="cuda", help="cpu: a dry run of the logic")
    args = parser.parse_args()
    global DEVICE
    DEVICE = torch.device(args.device)
    args.streams = [int(s) for s in args.streams.split(",")]
    if DEVICE.type == "cuda" and not torch.cuda.is_available():
        print("no CUDA device: skipped (run on a GPU machine)")
        return None
    m = machine()

    def log(rec: dict) -> None:
        if args.jsonl:
            with args.jsonl.open("a") as f:
                f.write(json.dumps(rec) + "\n")

    log({"machine": m})
    rows: list[tuple[str, str]] = []
    ratios: list[Ratio] = []
    for name in args.shapes.split(","):
        r, q = bench_shape(name, args, log)
        rows += r
        ratios += q
    if not args.skip_analysis:
        rows += bench_analysis(log, args.analysis_shape, args.profile_analysis, args.solver)
    return BenchResult(
        name="bench_spectra_gpu: every singular value of a checkpoint on one GPU",
        setup=(
            f"{m['gpu']}, torch {m['torch']}, {m['cores']} CPU cores; random float32 matrices "
            "on the GPU, Pythia's stored shapes; seconds from GPU matrices to host float64 "
            f"values, median of {args.repeats} after a warm-up (baseline and magma: 1 run)."
        ),
        rows=rows,
        ratios=ratios,
        notes=[
            "Errors are against gram64 (float64 Gram and eigvalsh) of the same matrices.",
            "At d_model >= 4096 the baseline runs on the first blocks of each stack; each stack's time is scaled by blocks / blocks run.",
        ],
    ).emit()


if __name__ == "__main__":
    main()
