"""GPT-2: Conv1D weights stored [in, out] (transposed here), stacked [Q; K; V], tied embeddings.

Tied embeddings: ``transformer.wte.weight`` is ``embed``. When the config ties the word
embeddings (GPT-2's default) there is no separate ``unembed`` component; a stored
``lm_head.weight`` is then a copy of ``wte`` and maps to None so nothing is counted twice.
Untied checkpoints map ``lm_head.weight`` to ``unembed``. ``wpe`` is ``pos_embed``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from ckptscope.adapters._naming import NameTable
from ckptscope.adapters.base import Adapter, Component, HeadWeights, ReadFn, register_adapter
from ckptscope.adapters.circuits import split_out

if TYPE_CHECKING:
    import torch

_B = "transformer.h.{block}"
_CONV1D = frozenset({"qkv", "attn_out", "mlp_in", "mlp_out"})
_ENTRIES = {
    "transformer.wte": "embed",
    "transformer.wpe": "pos_embed",
    f"{_B}.ln_1": "ln1",
    f"{_B}.attn.c_attn": "qkv",
    f"{_B}.attn.c_proj": "attn_out",
    f"{_B}.ln_2": "ln2",
    f"{_B}.mlp.c_fc": "mlp_in",
    f"{_B}.mlp.c_proj": "mlp_out",
    "transformer.ln_f": "ln_final",
}
_BUFFERS = (r"attn\.(bias|masked_bias)$",)
TIED = NameTable("gpt2", _ENTRIES, ignore=(*_BUFFERS, r"^lm_head\.weight$"))
UNTIED = NameTable("gpt2", {**_ENTRIES, "lm_head": "unembed"}, ignore=_BUFFERS)


@register_adapter
class GPT2Adapter(Adapter):
    """Hugging Face ``GPT2LMHeadModel`` checkpoints."""

    name = "gpt2"
    model_types = ("gpt2",)

    @property
    def tied(self) -> bool:
        return bool(self.config.get("tie_word_embeddings", True))

    config_keys: ClassVar[dict[str, str]] = {
        "n_layers": "n_layer",
        "d_model": "n_embd",
        "n_heads": "n_head",
        "d_mlp": "n_inner",
    }

    @property
    def _names(self) -> NameTable:
        return TIED if self.tied else UNTIED

    def canonical(self, raw_name: str) -> Component | None:
        return self._names.canonical(raw_name)

    def raw_name(self, comp: Component) -> str:
        return self._names.raw_name(comp)

    def to_canonical(self, comp: Component, tensor: torch.Tensor) -> torch.Tensor:
        # Conv1D stores [in, out]; canonical is nn.Linear's [out, in]
        if comp.component in _CONV1D and comp.param == "weight":
            return tensor.T
        return tensor

    def canonical_shape(self, comp: Component, shape: tuple[int, ...]) -> tuple[int, ...]:
        if comp.component in _CONV1D and comp.param == "weight":
            return tuple(reversed(shape))
        return tuple(shape)

    def expected_shape(self, comp: Component) -> tuple[int, ...] | None:
        return self.shape_for(
            comp,
            {
                **self.fused_qkv_shapes(),
                "pos_embed": (int(self.config["n_positions"]), self.d_model),
            },
        )

    def heads(self, read: ReadFn, block: int) -> HeadWeights:
        n, dh, d = self.n_heads, self.d_head, self.d_model
        qkv = read(Component("qkv", block, "weight"))
        # canonical [3*d_model, d_model], rows stacked [Q; K; V]: (3, heads, d_head, d_model)
        q, k, v = qkv.reshape(3, n, dh, d).unbind(0)
        o = read(Component("attn_out", block, "weight"))
        return HeadWeights(q.contiguous(), k.contiguous(), v.contiguous(), split_out(o, n, dh))
