"""Activation + gradient analysis per checkpoint: model swap vs from_pretrained per checkpoint.

A GPT-NeoX with ``--steps`` checkpoints of different random weights, the default evaluation
batch (16 x 128 tokens of the held-out corpus, micro-batches of 4). Both paths do the same
work per checkpoint: one forward+backward with residual hooks, residual statistics, fits,
gradient statistics.

* swap: the ``activations`` and ``gradients`` analyses as a sweep runs them (the model is
  built once; each checkpoint's tensors are copied into it; one shared pass);
* reload: ``AutoModelForCausalLM.from_pretrained(folder)`` per checkpoint, moved to the
  device, then the same pass (its load time includes the move); the model is freed
  before the next checkpoint loads.

The first checkpoint of each path is a warm-up (imports, model build) and is not timed.
Prints seconds per checkpoint (median) for each path and their ratio.

Shapes (``--shape``): ``tiny`` (default: d_model 256, 4 blocks, vocab 4096, float32 on
disk), ``160m`` and ``1.4b`` (Pythia-160m and Pythia-1.4b: 12 x 768 and 24 x 2048, vocab
50304, float16 on disk as Pythia stores them; written straight to safetensors, random
weights, the shipped 4096-token tokenizer, whose ids are valid ids of the larger vocab).
``--device`` is the analyses' device (``SweepOptions.device``); ``--dtype`` the weights'
dtype on disk; ``--model-dtype`` the dtype the pass runs in (the analyses' ``dtype``
option; default float32); ``--root`` keeps the generated checkpoints for later runs.

With none of the new options the output is the same lines as before; with any, it adds
the device, per-checkpoint seconds, GPU memory (on CUDA) and a final JSON line.
Run: ``python -m benchmarks.bench_swap [--steps 4]``, e.g. on a GPU
``python -m benchmarks.bench_swap --shape 1.4b --device cuda --root /tmp/swap14``.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import shutil
import statistics
import struct
import tempfile
import time
import weakref
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from benchmarks.common import neox_config
from ckptscope.adapters import get_adapter
from ckptscope.analyses.activations import Activations
from ckptscope.analyses.base import CheckpointContext, SweepOptions
from ckptscope.analyses.evaluation import (
    EvaluationOptions,
    batch_for,
    eval_options,
    gradient_records,
    residual_records,
)
from ckptscope.analyses.gradients import Gradients
from ckptscope.models.cache import WorkerCache
from ckptscope.models.forward import forward_backward
from ckptscope.models.resid_stats import ResidualStats
from ckptscope.models.swap import _checkpoint_renamer, parse_dtype
from ckptscope.models.tiny import write_tiny_checkpoints
from ckptscope.sources.folder_checkpoint import FolderCheckpoint

CACHE = WorkerCache()  # one per sweep worker, as the sweep keeps it
RELOAD_BATCH = WorkerCache()  # the reload path's batch: tokenized once, as a script would
RELOAD_FREED: list[bool] = []  # per reload checkpoint: its model was gone after the pass

DTYPES = ("float32", "float16", "bfloat16")
_SAFETENSORS_DTYPE = {"float32": "F32", "float16": "F16", "bfloat16": "BF16"}
COMPLETE = ".bench_swap_complete"  # written last into a generated folder: safe to reuse


@dataclass(frozen=True)
class Shape:
    """A GPT-NeoX architecture and the dtype its weights are stored in by default."""

    d_model: int
    n_layers: int
    n_heads: int
    vocab: int
    max_positions: int
    dtype: str

    @property
    def n_params(self) -> int:
        d, v = self.d_model, self.vocab
        return 2 * v * d + self.n_layers * (12 * d * d + 13 * d) + 2 * d


SHAPES = {
    "tiny": Shape(256, 4, 8, 4096, 128, "float32"),
    "160m": Shape(768, 12, 12, 50304, 2048, "float16"),  # Pythia-160m
    "1.4b": Shape(2048, 24, 16, 50304, 2048, "float16"),  # Pythia-1.4b
}


# -- the two paths -----------------------------------------------------------------------
def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize(device)


def swap_path(ckpt: FolderCheckpoint, options: SweepOptions) -> tuple[int, float]:
    """The analyses as the sweep runs them; returns (records, seconds loading)."""
    adapter = get_adapter(ckpt.config())
    ctx = CheckpointContext("bench", ckpt, adapter, options=options, cache=CACHE,
                            analyses=("activations", "gradients"))  # fmt: skip
    dtype = parse_dtype(eval_options(ctx).dtype)  # the model the analyses ask the cache for
    _sync(options.device)
    t0 = time.perf_counter()
    CACHE.model(ckpt, dtype, options.device)  # the analyses find it holding this checkpoint
    _sync(options.device)
    load = time.perf_counter() - t0
    records = list(Activations().run(ctx)) + list(Gradients().run(ctx))
    _sync(options.device)
    return len(records), load


def reload_path(ckpt: FolderCheckpoint, options: SweepOptions) -> tuple[int, float]:
    """from_pretrained per checkpoint, moved to the device, then the same pass and reductions."""
    from transformers import AutoModelForCausalLM

    ctx = CheckpointContext("bench", ckpt, get_adapter(ckpt.config()), options=options,
                            cache=RELOAD_BATCH)  # fmt: skip
    batch = batch_for(ctx)
    dtype = parse_dtype(eval_options(ctx).dtype)
    device = options.device
    _sync(device)
    t0 = time.perf_counter()
    model = AutoModelForCausalLM.from_pretrained(ckpt.folder, dtype=dtype).eval()
    model = model.to(device)
    _sync(device)
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
    _sync(device)
    # Free this model before the next checkpoint loads (one model on the device at a time).
    alive = weakref.ref(model)
    del model, rename
    if alive() is not None:  # held by a reference cycle: collect it
        gc.collect()
    RELOAD_FREED.append(alive() is None)
    if device.startswith("cuda"):
        torch.cuda.empty_cache()
    return len(records), load


# -- checkpoints -------------------------------------------------------------------------
def neox_tensors(shape: Shape) -> list[tuple[str, tuple[int, ...], str]]:
    """(name, shape, init) of every tensor of a Pythia checkpoint, in Pythia's names."""
    d, v = shape.d_model, shape.vocab
    out: list[tuple[str, tuple[int, ...], str]] = [("gpt_neox.embed_in.weight", (v, d), "w")]
    for i in range(shape.n_layers):
        p = f"gpt_neox.layers.{i}."
        for ln in ("input_layernorm", "post_attention_layernorm"):
            out += [(f"{p}{ln}.weight", (d,), "ln"), (f"{p}{ln}.bias", (d,), "b")]
        for name, rows, cols in (
            ("attention.query_key_value", 3 * d, d),
            ("attention.dense", d, d),
            ("mlp.dense_h_to_4h", 4 * d, d),
            ("mlp.dense_4h_to_h", d, 4 * d),
        ):
            out += [(f"{p}{name}.weight", (rows, cols), "w"), (f"{p}{name}.bias", (rows,), "b")]
    out += [("gpt_neox.final_layer_norm.weight", (d,), "ln"),
            ("gpt_neox.final_layer_norm.bias", (d,), "b"),
            ("embed_out.weight", (v, d), "w")]  # fmt: skip
    return out


def write_neox_checkpoint(
    folder: Path, shape: Shape, dtype: str, seed: int, device: str = "cpu"
) -> None:
    """A Pythia-layout folder (config.json, model.safetensors, tokenizer), random weights.

    The safetensors file is written directly, one tensor at a time (drawn on ``device``,
    written by a second thread while the next is drawn): no model is built or initialised.
    Weights N(0, 0.02) as GPT-NeoX initialises them; LayerNorm weights 1 + N(0, 0.1) and
    biases N(0, 0.1), so that every tensor matters (as ``write_tiny_checkpoints``).
    """

    from ckptscope.data.tokenizer import save_hf_tokenizer

    folder.mkdir(parents=True, exist_ok=True)
    specs = neox_tensors(shape)
    tdtype = parse_dtype(dtype)
    size = torch.empty((), dtype=tdtype).element_size()
    header: dict[str, object] = {"__metadata__": {"format": "pt"}}
    offset = 0
    for name, dims, _ in specs:
        n = size * int(torch.Size(dims).numel())
        header[name] = {"dtype": _SAFETENSORS_DTYPE[dtype], "shape": list(dims),
                        "data_offsets": [offset, offset + n]}  # fmt: skip
        offset += n
    head = json.dumps(header, separators=(",", ":")).encode()
    head += b" " * (-len(head) % 8)
    gen = torch.Generator(device=device).manual_seed(seed)
    partial = folder / "model.safetensors.partial"
    with open(partial, "wb") as f, ThreadPoolExecutor(1) as writer:
        f.write(struct.pack("<Q", len(head)) + head)
        pending: Future[None] | None = None
        for _, dims, init in specs:
            t = torch.empty(dims, dtype=tdtype, device=device)
            if init == "w":
                t.normal_(0.0, 0.02, generator=gen)
            else:
                t.normal_(1.0 if init == "ln" else 0.0, 0.1, generator=gen)
            data = t.cpu().reshape(-1).view(torch.uint8).numpy()
            if pending is not None:
                pending.result()
            pending = writer.submit(f.write, data.data)
        if pending is not None:
            pending.result()
    os.replace(partial, folder / "model.safetensors")
    config = neox_config(shape.vocab, shape.d_model, shape.n_layers, shape.n_heads,
                         4 * shape.d_model, shape.max_positions)  # fmt: skip
    config.dtype = dtype  # as Pythia's config.json: the dtype of the stored weights
    config.to_json_file(folder / "config.json")
    save_hf_tokenizer(folder, model_max_length=shape.max_positions)


def checkpoints(
    root: Path, shape_name: str, dtype: str, steps: tuple[int, ...], device: str
) -> tuple[list[Path], float, int]:
    """The folders ``root/<shape>-<dtype>/step<N>``: reused when complete, else written.

    Returns (folders, seconds spent writing, how many were written).
    """
    shape = SHAPES[shape_name]
    base = root / f"{shape_name}-{dtype}"
    spec = json.dumps({"shape": asdict(shape), "dtype": dtype}, sort_keys=True)
    folders = [base / f"step{step}" for step in steps]
    todo = [i for i, f in enumerate(folders) if not _complete(f, spec)]
    if not todo:
        return folders, 0.0, 0
    t0 = time.perf_counter()
    if shape_name == "tiny":
        # Today's tiny model, initialised by transformers; seeded by position in ``steps``
        # (step i gets seed i), so all of them are written together.
        todo = list(range(len(steps)))
        for folder in folders:
            shutil.rmtree(folder, ignore_errors=True)
        write_tiny_checkpoints(base, steps, d_model=shape.d_model, n_layers=shape.n_layers,
                               n_heads=shape.n_heads, vocab_size=shape.vocab,
                               max_positions=shape.max_positions,
                               dtype=parse_dtype(dtype))  # fmt: skip
    else:
        gen_device = device if device.startswith("cuda") else "cpu"  # the GPU draws faster
        for i in todo:
            shutil.rmtree(folders[i], ignore_errors=True)
            write_neox_checkpoint(folders[i], shape, dtype, seed=i, device=gen_device)
    for i in todo:
        (folders[i] / COMPLETE).write_text(spec)
    return folders, time.perf_counter() - t0, len(todo)


def _complete(folder: Path, spec: str) -> bool:
    marker = folder / COMPLETE
    return marker.is_file() and marker.read_text() == spec


def warm_page_cache(folders: list[Path]) -> None:
    """Read every weight file once, so that neither path pays the first read from disk."""
    for folder in folders:
        with open(folder / "model.safetensors", "rb") as f:
            while f.read(64 << 20):
                pass


# -- the run -----------------------------------------------------------------------------
def _device(value: str) -> str:
    if value == "cpu" or value == "cuda" or (value.startswith("cuda:") and value[5:].isdigit()):
        return value
    raise argparse.ArgumentTypeError(f"{value!r}: expected cpu, cuda or cuda:N")


def _gib(n: float) -> str:
    return f"{n / 2**30:.2f}"


def device_name(device: str) -> str:
    if device.startswith("cuda"):
        return torch.cuda.get_device_name(device)
    return platform.processor() or platform.machine()


def main() -> None:
    """Build the checkpoints, time both paths, print the ratio."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=4, help="checkpoints (first is warm-up)")
    parser.add_argument(
        "--threads", type=int, default=None, help="torch threads (default: torch's)"
    )
    parser.add_argument("--shape", choices=tuple(SHAPES), default=None,
                        help="model shape (default tiny)")  # fmt: skip
    parser.add_argument("--device", type=_device, default=None,
                        help="the analyses' device: cpu (default), cuda or cuda:N")  # fmt: skip
    parser.add_argument("--dtype", choices=DTYPES, default=None,
                        help="weights on disk (default: float32 for tiny, float16 else)")  # fmt: skip
    parser.add_argument("--model-dtype", choices=DTYPES, default=None,
                        help="dtype of the model in the pass (default: the analyses', float32)")  # fmt: skip
    parser.add_argument("--root", type=Path, default=None,
                        help="keep the checkpoints here and reuse them (default: a temp dir)")  # fmt: skip
    parser.add_argument("--generate-only", action="store_true",
                        help="write the checkpoints (under --root), time that, and stop")  # fmt: skip
    args = parser.parse_args()
    extended = (
        any(
            v is not None
            for v in (args.shape, args.device, args.dtype, args.model_dtype, args.root)
        )
        or args.generate_only
    )
    shape_name = args.shape or "tiny"
    shape = SHAPES[shape_name]
    device = args.device or "cpu"
    dtype = args.dtype or shape.dtype
    if args.steps < (1 if args.generate_only else 2):
        parser.error("--steps must be at least 2 (the first checkpoint is a warm-up)")
    if args.generate_only and args.root is None:
        parser.error("--generate-only needs --root (where the checkpoints are kept)")
    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            parser.exit(2, f"bench_swap: --device {device}: no CUDA GPU available to torch "
                           f"{torch.__version__} (torch.cuda.is_available() is False)\n")  # fmt: skip
        if int(device.partition(":")[2] or 0) >= torch.cuda.device_count():
            parser.exit(2, f"bench_swap: --device {device}: torch sees only "
                           f"{torch.cuda.device_count()} CUDA device(s)\n")  # fmt: skip
    if args.threads:
        # On a shared, oversubscribed machine parallel copies stall; one thread is steadier.
        torch.set_num_threads(args.threads)
    extra = {} if args.model_dtype is None else {"dtype": args.model_dtype}
    options = SweepOptions(device=device, extra=extra)
    steps = tuple(range(args.steps))
    with tempfile.TemporaryDirectory() as tmp:
        root = args.root if args.root is not None else Path(tmp)
        folders, gen_s, written = checkpoints(root, shape_name, dtype, steps, device)
        if extended:
            size = sum((f / "model.safetensors").stat().st_size for f in folders) / len(folders)
            what = (f"wrote {written} in {gen_s:.1f} s ({gen_s / written:.1f} s each)"
                    if written else "all reused")  # fmt: skip
            print(f"checkpoints: {len(folders)} x {_gib(size)} GiB ({dtype}) under "
                  f"{folders[0].parent}; {what}")  # fmt: skip
        if args.generate_only:
            print(json.dumps({"shape": shape_name, "dtype": dtype, "steps": args.steps,
                              "written": written, "generate_s": round(gen_s, 3),
                              "generate_s_each": round(gen_s / max(written, 1), 3)}))  # fmt: skip
            return
        if written < len(folders):
            warm_page_cache(folders)  # reused files: both paths read from memory
        result = run(folders, options, device)
    report(args, shape_name, shape, dtype, device, result, extended)


@dataclass
class Timings:
    """Per timed checkpoint, per path: whole pass and loading seconds, GPU memory."""

    total: dict[str, list[float]]
    load: dict[str, list[float]]
    counts: dict[str, int]
    warmup: dict[str, tuple[float, float]]  # path -> (total, load) of the warm-up
    allocated: dict[str, list[int]]  # CUDA bytes allocated after each checkpoint
    peak: dict[str, int]  # CUDA peak bytes allocated over the timed checkpoints
    models_held: int  # models in the swap path's cache at the end


def run(folders: list[Path], options: SweepOptions, device: str) -> Timings:
    """Both paths on every checkpoint, interleaved, so both see the same machine state."""
    cuda = device.startswith("cuda")
    names = ("swap", "reload")
    t = Timings({k: [] for k in names}, {k: [] for k in names}, {}, {},
                {k: [] for k in names}, dict.fromkeys(names, 0), 0)  # fmt: skip
    for i, folder in enumerate(folders):
        for name, fn in (("swap", swap_path), ("reload", reload_path)):
            with FolderCheckpoint("w256", i, folder) as ckpt:
                if cuda:
                    torch.cuda.reset_peak_memory_stats(device)
                t0 = time.perf_counter()
                t.counts[name], load = fn(ckpt, options)
                total = time.perf_counter() - t0
            if i:
                t.total[name].append(total)
                t.load[name].append(load)
            else:
                t.warmup[name] = (total, load)
            if cuda:
                t.allocated[name].append(torch.cuda.memory_allocated(device))
                if i:
                    t.peak[name] = max(t.peak[name], torch.cuda.max_memory_allocated(device))
    t.models_held = len(CACHE._models)
    return t


def report(
    args: argparse.Namespace,
    shape_name: str,
    shape: Shape,
    dtype: str,
    device: str,
    t: Timings,
    extended: bool,
) -> None:
    """Today's lines; with ``extended`` also the device, each checkpoint, memory, JSON."""
    swap, reload = statistics.median(t.total["swap"]), statistics.median(t.total["reload"])
    load_swap, load_reload = (statistics.median(t.load[k]) for k in ("swap", "reload"))
    ev = EvaluationOptions()
    seq_len = min(ev.seq_len, shape.max_positions)
    print(
        f"machine: {platform.processor() or platform.machine()}, torch threads {torch.get_num_threads()}"
    )
    if extended:
        pass_dtype = args.model_dtype or "float32"
        print(f"device: {device} ({device_name(device)}); torch {torch.__version__}; "
              f"weights {dtype} on disk, model {pass_dtype} in the pass")  # fmt: skip
    print(f"model: GPT-NeoX d_model {shape.d_model}, {shape.n_layers} blocks, "
          f"vocab {shape.vocab}; batch {ev.n_seqs} x {seq_len}, micro-batch {ev.micro_batch}")  # fmt: skip
    print(f"records per checkpoint: swap {t.counts['swap']}, reload {t.counts['reload']}")
    if extended:
        w_swap, w_reload = t.warmup["swap"], t.warmup["reload"]
        print(f"warm-up checkpoint (not timed): swap {w_swap[0]:.3f} s (build + load "
              f"{w_swap[1]:.3f} s), reload {w_reload[0]:.3f} s (load {w_reload[1]:.3f} s)")  # fmt: skip
        print("per checkpoint, s:  step   swap load  swap pass   reload load  reload pass")
        for j in range(len(t.total["swap"])):
            print(f"{'':20}{j + 1:4d}   {t.load['swap'][j]:9.3f}  {t.total['swap'][j]:9.3f}"
                  f"   {t.load['reload'][j]:11.3f}  {t.total['reload'][j]:11.3f}")  # fmt: skip
    print(f"swap (model built once, tensors swapped): {swap:.3f} s/checkpoint "
          f"(of which loading {load_swap:.3f} s)")  # fmt: skip
    print(f"from_pretrained per checkpoint:          {reload:.3f} s/checkpoint "
          f"(of which loading {load_reload:.3f} s)")  # fmt: skip
    print(f"loading alone: reload / swap {load_reload / load_swap:.2f}x")
    print(f"ratio reload / swap: {reload / swap:.2f}x over {len(t.total['swap'])} checkpoints")
    if not extended:
        return
    out = {
        "shape": shape_name,
        "device": device,
        "device_name": device_name(device),
        "dtype": dtype,
        "model_dtype": args.model_dtype or "float32",
        "steps": args.steps,
        "timed": len(t.total["swap"]),
        "swap_s": round(swap, 4),
        "reload_s": round(reload, 4),
        "swap_load_s": round(load_swap, 4),
        "reload_load_s": round(load_reload, 4),
        "ratio": round(reload / swap, 3),
        "load_ratio": round(load_reload / load_swap, 3),
        "swap_models_held": t.models_held,
    }
    freed = all(RELOAD_FREED)
    if device.startswith("cuda"):
        model_bytes = shape.n_params * parse_dtype(out["model_dtype"]).itemsize
        alloc = {k: ", ".join(_gib(b) for b in v) for k, v in t.allocated.items()}
        print(f"GPU memory, GiB: one model {_gib(model_bytes)}; allocated after each "
              f"checkpoint: swap {alloc['swap']}; reload {alloc['reload']}")  # fmt: skip
        print(f"GPU peak over the timed checkpoints, GiB: swap {_gib(t.peak['swap'])}, "
              f"reload {_gib(t.peak['reload'])} (the swap path's model stays allocated)")  # fmt: skip
        # After a reload checkpoint only what the swap path holds may stay allocated.
        left = max(r - s for r, s in zip(t.allocated["reload"], t.allocated["swap"], strict=True))
        freed = freed and left < 64 << 20
        out.update(model_gib=float(_gib(model_bytes)), swap_peak_gib=float(_gib(t.peak["swap"])),
                   reload_peak_gib=float(_gib(t.peak["reload"])),
                   reload_left_gib=float(_gib(max(left, 0))))  # fmt: skip
    print(f"swap path holds {t.models_held} model(s); reload path frees its model before the "
          f"next: {'yes' if freed else 'NO'}")  # fmt: skip
    out.update(reload_freed=freed)
    out.update(swap_s_each=[round(x, 4) for x in t.total["swap"]],
               reload_s_each=[round(x, 4) for x in t.total["reload"]],
               swap_load_s_each=[round(x, 4) for x in t.load["swap"]],
               reload_load_s_each=[round(x, 4) for x in t.load["reload"]])  # fmt: skip
    print(json.dumps(out))


if __name__ == "__main__":
    main()
