"""Every parameter maps exactly once, to the canonical shape the config implies."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import load_file

from ckptscope.adapters import Component, get_adapter
from ckptscope.analyses.base import CheckpointContext
from ckptscope.errors import CheckpointError, UnknownArchitectureError

CASES = [
    ("gpt_neox", {}),
    ("gpt2", {}),
    ("gpt2", {"tie_word_embeddings": False}),
    ("llama", {}),
    ("llama", {"tie_word_embeddings": True}),
]


@pytest.mark.parametrize(("kind", "overrides"), CASES)
def test_every_parameter_maps_once(saved, kind, overrides):
    model, ckpt, adapter = saved(kind, **overrides)
    params = dict(model.named_parameters())  # tied parameters appear once
    stored = {t.name for t in ckpt.tensors()}
    comps = {}
    for name in stored:
        comp = adapter.canonical(name)
        if comp is not None:
            assert comp not in comps, (name, comps.get(comp))
            comps[comp] = name
            assert adapter.raw_name(comp) == name
    assert len(comps) == len(params)
    stored_values = load_file(ckpt.weights)
    ctx = CheckpointContext("t", ckpt, adapter)
    for comp, name in comps.items():
        canon = ctx.read(comp)
        assert tuple(canon.shape) == adapter.expected_shape(comp), comp
        raw = stored_values[name]
        if (
            kind == "gpt2"
            and comp.param == "weight"
            and comp.component in {"qkv", "attn_out", "mlp_in", "mlp_out"}
        ):
            raw = raw.T  # Conv1D [in, out] -> [out, in]
        torch.testing.assert_close(canon, raw)
        # the shape alone (no data: the torch-free reads' check) is the reoriented one
        assert adapter.canonical_shape(comp, tuple(stored_values[name].shape)) == canon.shape
        # read_host: the stored elements in stored order, the same as the file holds
        host = ctx.read_host(comp)
        assert host.shape == tuple(stored_values[name].shape)
        assert torch.equal(host.to_torch(), stored_values[name])


def test_gpt2_tied_has_no_unembed(saved):
    _, ckpt, adapter = saved("gpt2")
    comps = {adapter.canonical(t.name) for t in ckpt.tensors()} - {None}
    assert Component("embed", None, "weight") in comps
    assert Component("pos_embed", None, "weight") in comps
    assert not any(c.component == "unembed" for c in comps)
    assert adapter.canonical("lm_head.weight") is None  # a tied copy, never counted twice


def test_buffers_map_to_none():
    neox = get_adapter({"model_type": "gpt_neox"})
    assert neox.canonical("gpt_neox.layers.0.attention.rotary_emb.inv_freq") is None
    assert neox.canonical("gpt_neox.layers.3.attention.masked_bias") is None
    assert neox.canonical("gpt_neox.layers.3.attention.bias") is None
    assert get_adapter({"model_type": "gpt2"}).canonical("transformer.h.0.attn.bias") is None
    assert (
        get_adapter({"model_type": "llama"}).canonical(
            "model.layers.0.self_attn.rotary_emb.inv_freq"
        )
        is None
    )


def test_unknown_tensor_and_architecture_are_clear():
    with pytest.raises(CheckpointError, match=r"gpt_neox.*'gpt_neox\.layers\.0\.mystery\.weight'"):
        get_adapter({"model_type": "gpt_neox"}).canonical("gpt_neox.layers.0.mystery.weight")
    with pytest.raises(UnknownArchitectureError, match="gpt2, gpt_neox, llama"):
        get_adapter({"model_type": "mamba"})


def test_olmo2_names():
    a = get_adapter({"model_type": "olmo2", "num_hidden_layers": 2, "hidden_size": 8,
                     "num_attention_heads": 2, "vocab_size": 10, "intermediate_size": 16})  # fmt: skip
    assert a.canonical("model.layers.1.post_feedforward_layernorm.weight") == Component(
        "ln2", 1, "weight"
    )
    assert a.canonical("model.layers.1.self_attn.k_norm.weight") == Component("k_norm", 1, "weight")
    assert a.expected_shape(Component("q_norm", 0, "weight")) == (8,)
    olmo = get_adapter({"model_type": "olmo"})
    with pytest.raises(CheckpointError):
        olmo.canonical("model.norm.weight")  # OLMo-1 norms have no parameters


def test_an_adapter_that_only_overrides_to_canonical(saved):
    """A custom adapter that transposes in ``to_canonical`` and says nothing of the shape:
    shapes come from ``to_canonical`` (a meta tensor), element-wise reads go through it."""
    from ckptscope.adapters.base import Adapter
    from ckptscope.adapters.gpt2 import GPT2Adapter
    from ckptscope.sources.integrity import mapped_tensors

    class Custom(GPT2Adapter):
        canonical_shape = Adapter.canonical_shape  # as a user's adapter would leave it

    _, ckpt, builtin = saved("gpt2")
    adapter = Custom(ckpt.config())
    assert adapter.custom_reorientation() and not builtin.custom_reorientation()
    assert mapped_tensors(ckpt, adapter) == mapped_tensors(ckpt, builtin)  # shapes check out
    qkv = Component("qkv", 0, "weight")
    assert adapter.canonical_shape(qkv, (32, 96)) == (96, 32)
    ctx = CheckpointContext("t", ckpt, adapter)
    host = ctx.read_host(qkv)
    assert host.shape == (96, 32)  # canonical: read through to_canonical
    assert torch.equal(host.to_torch(), ctx.read(qkv, dtype=None))
    assert CheckpointContext("t", ckpt, builtin).read_host(qkv).shape == (32, 96)  # stored
    with pytest.raises(ValueError, match="unknown dtype 'bf16'"):
        ctx.read(qkv, dtype="bf16")
