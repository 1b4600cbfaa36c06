"""A GPT-NeoX-shaped checkpoint in memory, with an adapter that splits heads by hand.

The head split follows the Hugging Face layout directly (rows ordered (head, q/k/v, d_head)),
independently of the project's adapters, so the tests check the spectra code against it.
"""

from __future__ import annotations

from typing import Any

import torch

from ckptscope.adapters.base import Adapter, Component, HeadWeights
from ckptscope.analyses.base import CheckpointContext, SweepOptions
from ckptscope.sources.base import Checkpoint, TensorInfo

NAMES = {
    "qkv": "attention.query_key_value",
    "attn_out": "attention.dense",
    "mlp_in": "mlp.dense_h_to_4h",
    "mlp_out": "mlp.dense_4h_to_h",
}
TOP = {"embed": "gpt_neox.embed_in.weight", "unembed": "embed_out.weight"}


class NeoxToyAdapter(Adapter):
    """Raw GPT-NeoX names for the matrices only; heads split with ``view(H, 3, d_head, d)``."""

    name = "neox_toy"
    model_types = ()

    @property
    def n_layers(self) -> int:
        return int(self.config["num_hidden_layers"])

    @property
    def d_model(self) -> int:
        return int(self.config["hidden_size"])

    @property
    def n_heads(self) -> int:
        return int(self.config["num_attention_heads"])

    def canonical(self, raw_name: str) -> Component | None:
        for comp, raw in TOP.items():
            if raw_name == raw:
                return Component(comp, None, "weight")
        _, _, block, *rest = raw_name.split(".")
        path, param = ".".join(rest[:-1]), rest[-1]
        comp = {v: k for k, v in NAMES.items()}[path]
        return Component(comp, int(block), param)

    def raw_name(self, comp: Component) -> str:
        if comp.block is None:
            return TOP[comp.component]
        return f"gpt_neox.layers.{comp.block}.{NAMES[comp.component]}.{comp.param}"

    def heads(self, read: Any, block: int) -> HeadWeights:
        h, d = self.n_heads, self.d_model
        qkv = read(Component("qkv", block, "weight")).view(h, 3, d // h, d)  # (H, 3, d_head, d)
        o = read(Component("attn_out", block, "weight"))  # (d, H·d_head), columns (head, d_head)
        o = o.view(d, h, d // h).permute(1, 0, 2)  # (H, d, d_head)
        return HeadWeights(q=qkv[:, 0], k=qkv[:, 1], v=qkv[:, 2], o=o)


class MemoryCheckpoint(Checkpoint):
    """Tensors held in a dict; ``tokenizer`` is an optional tokenizer folder."""

    def __init__(
        self, model: str, step: int, tensors: dict[str, torch.Tensor], tokenizer=None
    ) -> None:
        self.model, self.step, self._t, self._tok = model, step, tensors, tokenizer

    def config(self) -> dict[str, Any]:
        return {}

    def tensors(self) -> list[TensorInfo]:
        return [TensorInfo(k, tuple(v.shape), "float32") for k, v in self._t.items()]

    def read(self, name: str) -> torch.Tensor:
        return self._t[name]

    def tokenizer_dir(self):
        return self._tok


def neox_tensors(
    n_layers: int = 2, d: int = 16, n_heads: int = 4, vocab: int = 50, seed: int = 0
) -> dict[str, torch.Tensor]:
    """Random raw GPT-NeoX weights (matrices only)."""
    g = torch.Generator().manual_seed(seed)
    t = {
        TOP["embed"]: torch.randn(vocab, d, generator=g),
        TOP["unembed"]: torch.randn(vocab, d, generator=g),
    }
    shapes = {"qkv": (3 * d, d), "attn_out": (d, d), "mlp_in": (4 * d, d), "mlp_out": (d, 4 * d)}
    for b in range(n_layers):
        for comp, shape in shapes.items():
            t[f"gpt_neox.layers.{b}.{NAMES[comp]}.weight"] = (
                torch.randn(*shape, generator=g) / d**0.5
            )
    return t


def neox_context(
    tensors: dict[str, torch.Tensor],
    n_layers: int = 2,
    d: int = 16,
    n_heads: int = 4,
    step: int = 0,
    model: str = "toy",
    tokenizer=None,
    extra: dict[str, Any] | None = None,
) -> CheckpointContext:
    """A context over in-memory GPT-NeoX tensors."""
    config = {"num_hidden_layers": n_layers, "hidden_size": d, "num_attention_heads": n_heads}
    return CheckpointContext(
        "mem",
        MemoryCheckpoint(model, step, tensors, tokenizer),
        NeoxToyAdapter(config),
        options=SweepOptions(extra=extra or {}),
    )
