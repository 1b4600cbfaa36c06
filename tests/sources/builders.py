"""Builders of tiny GPT-NeoX checkpoint folders and Hub-cache revisions (no downloads)."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import torch
from safetensors.torch import save_file

D, LAYERS, HEADS, VOCAB = 8, 2, 2, 16
CONFIG = {
    "model_type": "gpt_neox",
    "architectures": ["GPTNeoXForCausalLM"],
    "hidden_size": D,
    "num_hidden_layers": LAYERS,
    "num_attention_heads": HEADS,
    "intermediate_size": 4 * D,
    "vocab_size": VOCAB,
    "rotary_pct": 0.25,
    "use_parallel_residual": True,
}


def neox_state(seed: int, dtype: torch.dtype = torch.float32) -> dict[str, torch.Tensor]:
    """A tiny GPT-NeoX state dict with Hugging Face names (and one rotary buffer)."""
    g = torch.Generator().manual_seed(seed)

    def r(*shape: int) -> torch.Tensor:
        return torch.randn(*shape, generator=g).to(dtype)

    state = {"gpt_neox.embed_in.weight": r(VOCAB, D), "embed_out.weight": r(VOCAB, D)}
    for b in range(LAYERS):
        p = f"gpt_neox.layers.{b}"
        for ln in ("input_layernorm", "post_attention_layernorm"):
            state[f"{p}.{ln}.weight"], state[f"{p}.{ln}.bias"] = r(D), r(D)
        state[f"{p}.attention.query_key_value.weight"] = r(3 * D, D)
        state[f"{p}.attention.query_key_value.bias"] = r(3 * D)
        state[f"{p}.attention.dense.weight"], state[f"{p}.attention.dense.bias"] = r(D, D), r(D)
        state[f"{p}.mlp.dense_h_to_4h.weight"] = r(4 * D, D)
        state[f"{p}.mlp.dense_h_to_4h.bias"] = r(4 * D)
        state[f"{p}.mlp.dense_4h_to_h.weight"], state[f"{p}.mlp.dense_4h_to_h.bias"] = (
            r(D, 4 * D),
            r(D),
        )
        state[f"{p}.attention.rotary_emb.inv_freq"] = torch.ones(1)
    state["gpt_neox.final_layer_norm.weight"] = r(D)
    state["gpt_neox.final_layer_norm.bias"] = r(D)
    return state


def write_checkpoint(
    folder: Path,
    seed: int,
    fmt: str = "safetensors",
    dtype: torch.dtype = torch.float32,
    state: dict[str, torch.Tensor] | None = None,
) -> Path:
    """A checkpoint folder: fmt is safetensors, bin, sharded (safetensors) or sharded-bin."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps(CONFIG))
    state = state if state is not None else neox_state(seed, dtype)
    if fmt == "safetensors":
        save_file(state, folder / "model.safetensors")
    elif fmt == "bin":
        torch.save(state, folder / "pytorch_model.bin")
    elif fmt in ("sharded", "sharded-bin"):
        names = sorted(state)
        halves = [names[: len(names) // 2], names[len(names) // 2 :]]
        ext = "safetensors" if fmt == "sharded" else "bin"
        prefix = "model" if fmt == "sharded" else "pytorch_model"
        weight_map = {}
        for i, part in enumerate(halves, 1):
            shard = f"{prefix}-{i:05d}-of-00002.{ext}"
            chunk = {k: state[k] for k in part}
            if ext == "safetensors":
                save_file(chunk, folder / shard)
            else:
                torch.save(chunk, folder / shard)
            weight_map.update({k: shard for k in part})
        index = {"metadata": {}, "weight_map": weight_map}
        (folder / f"{prefix}.{ext}.index.json").write_text(json.dumps(index))
    else:
        raise ValueError(fmt)
    return folder


def add_revision(cache: Path, repo: str, revision: str, source: Path) -> str:
    """Put a checkpoint folder into the Hub cache layout as ``repo@revision``; returns the commit."""
    repo_dir = cache / ("models--" + repo.replace("/", "--"))
    commit = hashlib.sha1(f"{repo}@{revision}".encode()).hexdigest()
    for file in sorted(p for p in source.rglob("*") if p.is_file()):
        data = file.read_bytes()
        blob = repo_dir / "blobs" / hashlib.sha256(data).hexdigest()
        blob.parent.mkdir(parents=True, exist_ok=True)
        blob.write_bytes(data)
        rel = file.relative_to(source)
        link = repo_dir / "snapshots" / commit / rel
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(os.path.relpath(blob, link.parent))
    (repo_dir / "refs").mkdir(parents=True, exist_ok=True)
    (repo_dir / "refs" / revision).write_text(commit)
    return commit
