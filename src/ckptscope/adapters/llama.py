"""Llama-style decoders (Llama, Mistral, Qwen2, OLMo, OLMo-2): separate Q/K/V, gated MLP.

Norms: Llama/Mistral/Qwen2 have pre-norm RMSNorm weights (ln1 before attention, ln2
before the MLP); OLMo-1's layer norms have no parameters; OLMo-2 normalises the *outputs*
of attention and MLP (``post_attention_layernorm`` -> ln1, ``post_feedforward_layernorm``
-> ln2) and has per-projection ``q_norm`` / ``k_norm``. Grouped-query attention: K and V
have ``num_key_value_heads`` heads; ``heads()`` repeats each for the query heads that share
it (query head h uses KV head ``h // (n_heads // n_kv_heads)``, as HF's ``repeat_kv``).
"""

from __future__ import annotations

from typing import Any, ClassVar

from ckptscope.adapters._naming import NameTable
from ckptscope.adapters.base import Adapter, Component, HeadWeights, ReadFn, register_adapter
from ckptscope.adapters.circuits import split_out

_L = "model.layers.{block}"
_COMMON = {
    "model.embed_tokens": "embed",
    f"{_L}.self_attn.q_proj": "q",
    f"{_L}.self_attn.k_proj": "k",
    f"{_L}.self_attn.v_proj": "v",
    f"{_L}.self_attn.o_proj": "attn_out",
    f"{_L}.mlp.gate_proj": "mlp_gate",
    f"{_L}.mlp.up_proj": "mlp_in",
    f"{_L}.mlp.down_proj": "mlp_out",
}
_PRE_NORMS = {
    f"{_L}.input_layernorm": "ln1",
    f"{_L}.post_attention_layernorm": "ln2",
    "model.norm": "ln_final",
}
_OLMO2_NORMS = {
    f"{_L}.post_attention_layernorm": "ln1",
    f"{_L}.post_feedforward_layernorm": "ln2",
    f"{_L}.self_attn.q_norm": "q_norm",
    f"{_L}.self_attn.k_norm": "k_norm",
    "model.norm": "ln_final",
}
_BUFFERS = (r"rotary_emb\.inv_freq$",)
_TIED_HEAD = (*_BUFFERS, r"^lm_head\.weight$")


def _tables(arch: str, norms: dict[str, str]) -> tuple[NameTable, NameTable]:
    """(tied, untied) name tables; tied checkpoints have no separate unembed."""
    body = {**_COMMON, **norms}
    return (
        NameTable(arch, body, ignore=_TIED_HEAD),
        NameTable(arch, {**body, "lm_head": "unembed"}, ignore=_BUFFERS),
    )


@register_adapter
class LlamaAdapter(Adapter):
    """Hugging Face ``LlamaForCausalLM`` and architectures with the same names."""

    name = "llama"
    model_types = ("llama", "mistral", "qwen2")
    tables: ClassVar[tuple[NameTable, NameTable]] = _tables("llama", _PRE_NORMS)

    def __init__(self, config: dict[str, Any]) -> None:
        super().__init__(config)

    @property
    def tied(self) -> bool:
        return bool(self.config.get("tie_word_embeddings", False))

    @property
    def _names(self) -> NameTable:
        return self.tables[0] if self.tied else self.tables[1]

    @property
    def n_kv_heads(self) -> int:
        return int(self.config.get("num_key_value_heads") or self.n_heads)

    @property
    def d_head(self) -> int:
        return int(self.config.get("head_dim") or self.d_model // self.n_heads)

    def canonical(self, raw_name: str) -> Component | None:
        return self._names.canonical(raw_name)

    def raw_name(self, comp: Component) -> str:
        return self._names.raw_name(comp)

    def expected_shape(self, comp: Component) -> tuple[int, ...] | None:
        d, vocab = self.d_model, int(self.config["vocab_size"])
        d_mlp = int(self.config["intermediate_size"])
        q_width, kv_width = self.n_heads * self.d_head, self.n_kv_heads * self.d_head
        shape = {
            "embed": (vocab, d),
            "unembed": (vocab, d),
            "q": (q_width, d),
            "k": (kv_width, d),
            "v": (kv_width, d),
            "attn_out": (d, q_width),
            "mlp_gate": (d_mlp, d),
            "mlp_in": (d_mlp, d),
            "mlp_out": (d, d_mlp),
            "ln1": (d,),
            "ln2": (d,),
            "ln_final": (d,),
            "q_norm": (q_width,),
            "k_norm": (kv_width,),
        }.get(comp.component)
        if shape is None:
            return None
        return shape if comp.param == "weight" else shape[:1]

    def heads(self, read: ReadFn, block: int) -> HeadWeights:
        n, n_kv, dh, d = self.n_heads, self.n_kv_heads, self.d_head, self.d_model
        q = read(Component("q", block, "weight")).reshape(n, dh, d)  # (heads, d_head, d_model)
        k = read(Component("k", block, "weight")).reshape(
            n_kv, dh, d
        )  # (kv_heads, d_head, d_model)
        v = read(Component("v", block, "weight")).reshape(n_kv, dh, d)
        rep = n // n_kv
        o = read(Component("attn_out", block, "weight"))  # [d_model, heads*d_head]
        return HeadWeights(
            q=q.contiguous(),
            k=k.repeat_interleave(rep, dim=0),
            v=v.repeat_interleave(rep, dim=0),
            o=split_out(o, n, dh),
        )


@register_adapter
class OlmoAdapter(LlamaAdapter):
    """OLMo-1 (HF ``olmo``): Llama names, layer norms without parameters."""

    name = "olmo"
    model_types = ("olmo",)
    tables = _tables("olmo", {})


@register_adapter
class Olmo2Adapter(LlamaAdapter):
    """OLMo-2: norms after attention and MLP, plus q_norm and k_norm."""

    name = "olmo2"
    model_types = ("olmo2",)
    tables = _tables("olmo2", _OLMO2_NORMS)
