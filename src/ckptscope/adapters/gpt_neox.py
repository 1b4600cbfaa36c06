"""GPT-NeoX (Pythia): fused QKV with rows ordered (head, q/k/v, d_head), parallel residual."""

from __future__ import annotations

from typing import ClassVar

from ckptscope.adapters._naming import NameTable
from ckptscope.adapters.base import Adapter, Component, HeadWeights, ReadFn, register_adapter
from ckptscope.adapters.circuits import split_out

_L = "gpt_neox.layers.{block}"
NAMES = NameTable(
    "gpt_neox",
    {
        "gpt_neox.embed_in": "embed",
        f"{_L}.input_layernorm": "ln1",
        f"{_L}.attention.query_key_value": "qkv",
        f"{_L}.attention.dense": "attn_out",
        f"{_L}.post_attention_layernorm": "ln2",
        f"{_L}.mlp.dense_h_to_4h": "mlp_in",
        f"{_L}.mlp.dense_4h_to_h": "mlp_out",
        "gpt_neox.final_layer_norm": "ln_final",
        "embed_out": "unembed",
    },
    ignore=(r"rotary_emb\.inv_freq$", r"attention\.(bias|masked_bias)$"),
)


@register_adapter
class GPTNeoXAdapter(Adapter):
    """Hugging Face ``GPTNeoXForCausalLM`` checkpoints (Pythia)."""

    name = "gpt_neox"
    model_types = ("gpt_neox",)
    # transformers 5 calls the unembedding ``lm_head`` in memory, ``embed_out`` on disk
    memory_names: ClassVar[dict[str, str]] = {"lm_head.weight": "embed_out.weight"}

    @property
    def parallel_residual(self) -> bool:
        return bool(self.config.get("use_parallel_residual", True))

    def canonical(self, raw_name: str) -> Component | None:
        return NAMES.canonical(raw_name)

    def raw_name(self, comp: Component) -> str:
        return NAMES.raw_name(comp)

    def expected_shape(self, comp: Component) -> tuple[int, ...] | None:
        return self.shape_for(comp, self.fused_qkv_shapes())

    def heads(self, read: ReadFn, block: int) -> HeadWeights:
        n, dh, d = self.n_heads, self.d_head, self.d_model
        qkv = read(Component("qkv", block, "weight"))
        # rows ordered (head, q/k/v, d_head), NOT [Q; K; V]: (heads, 3, d_head, d_model)
        per_head = qkv.reshape(n, 3, dh, d)
        o = read(Component("attn_out", block, "weight"))  # [d_model, heads*d_head]
        return HeadWeights(
            q=per_head[:, 0].contiguous(),
            k=per_head[:, 1].contiguous(),
            v=per_head[:, 2].contiguous(),
            o=split_out(o, n, dh),
        )
