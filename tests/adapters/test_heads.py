"""The per-head split, checked by recomputing attention outputs from the split weights."""

from __future__ import annotations

import math

import pytest
import torch

from ckptscope.adapters import Component
from ckptscope.adapters.base import HeadWeights
from ckptscope.adapters.circuits import ov_circuits, qk_circuits
from ckptscope.analyses.base import CheckpointContext

ATTENTION = {
    "gpt_neox": lambda m, b: m.gpt_neox.layers[b].attention,
    "gpt2": lambda m, b: m.transformer.h[b].attn,
    "llama": lambda m, b: m.model.layers[b].self_attn,
}
# (component holding the fused or separate V bias, output projection bias)
BIASES = {"gpt_neox": ("qkv", "attn_out"), "gpt2": ("qkv", "attn_out"), "llama": (None, None)}


def _capture(model, kind, block, ids):
    """(attention input, attention probabilities, attention output) from HF's own forward."""
    seen = {}

    def hook(module, args, kwargs, output):
        seen["x"] = kwargs.get("hidden_states", args[0] if args else None)
        seen["out"], seen["probs"] = output[0], output[1]

    handle = ATTENTION[kind](model, block).register_forward_hook(hook, with_kwargs=True)
    try:
        with torch.no_grad():
            model(ids, output_attentions=True)
    finally:
        handle.remove()
    return seen["x"][0], seen["probs"][0], seen["out"][0]  # batch of one


def _v_bias(ctx, kind, block, n, dh):
    if kind == "gpt_neox":  # fused bias rows ordered like the weight: (heads, 3, d_head)
        return ctx.read(Component("qkv", block, "bias")).reshape(n, 3, dh)[:, 2]
    if kind == "gpt2":  # stacked [Q; K; V]
        return ctx.read(Component("qkv", block, "bias")).reshape(3, n, dh)[2]
    return torch.zeros(n, dh)


def _ov_output(h: HeadWeights, x, probs, v_bias, o_bias):
    """sum_h P_h (x V_h^T + b_h) O_h^T + b_O: the attention output rebuilt from heads."""
    v = torch.einsum("td,hed->hte", x, h.v) + v_bias[:, None, :]  # (heads, seq, d_head)
    z = probs @ v  # (heads, seq, d_head)
    return torch.einsum("hte,hde->td", z, h.o) + o_bias


@pytest.mark.parametrize("kind", ["gpt_neox", "gpt2", "llama"])
def test_head_split_reproduces_attention_output(saved, kind):
    model, ckpt, adapter = saved(kind)
    ctx = CheckpointContext("t", ckpt, adapter)
    ids = torch.randint(0, 64, (1, 7), generator=torch.Generator().manual_seed(1))
    block = 1
    x, probs, out = _capture(model, kind, block, ids)
    h = adapter.heads(ctx.read, block)
    n, dh, d = adapter.n_heads, adapter.d_head, adapter.d_model
    assert h.q.shape == h.k.shape == h.v.shape == (n, dh, d)
    assert h.o.shape == (n, d, dh)
    o_bias = ctx.read(Component("attn_out", block, "bias")) if BIASES[kind][1] else torch.zeros(d)
    rebuilt = _ov_output(h, x, probs, _v_bias(ctx, kind, block, n, dh), o_bias)
    torch.testing.assert_close(rebuilt, out, atol=1e-5, rtol=1e-4)


def test_neox_stacked_split_would_be_wrong(saved):
    """The check above is sensitive: splitting NeoX's QKV as [Q; K; V] does not reproduce it."""
    model, ckpt, adapter = saved("gpt_neox")
    ctx = CheckpointContext("t", ckpt, adapter)
    ids = torch.arange(7)[None]
    x, probs, out = _capture(model, "gpt_neox", 0, ids)
    n, dh, d = adapter.n_heads, adapter.d_head, adapter.d_model
    good = adapter.heads(ctx.read, 0)
    wrong_v = ctx.read(Component("qkv", 0, "weight")).reshape(3, n, dh, d)[2]
    wrong = HeadWeights(good.q, good.k, wrong_v, good.o)
    b = _v_bias(ctx, "gpt_neox", 0, n, dh)
    o_bias = ctx.read(Component("attn_out", 0, "bias"))
    assert not torch.allclose(_ov_output(wrong, x, probs, b, o_bias), out, atol=1e-3)


def test_gpt2_qk_split_reproduces_attention_pattern(saved):
    model, ckpt, adapter = saved("gpt2")
    ctx = CheckpointContext("t", ckpt, adapter)
    ids = torch.arange(6)[None]
    x, probs, _ = _capture(model, "gpt2", 0, ids)
    h = adapter.heads(ctx.read, 0)
    n, dh = adapter.n_heads, adapter.d_head
    bq, bk, _ = ctx.read(Component("qkv", 0, "bias")).reshape(3, n, dh)
    q = torch.einsum("td,hed->hte", x, h.q) + bq[:, None]
    k = torch.einsum("td,hed->hte", x, h.k) + bk[:, None]
    scores = q @ k.transpose(1, 2) / math.sqrt(dh)
    mask = torch.ones(6, 6, dtype=torch.bool).tril()
    pattern = scores.masked_fill(~mask, float("-inf")).softmax(-1)
    torch.testing.assert_close(pattern, probs, atol=1e-5, rtol=1e-4)


def test_circuits_match_their_definitions():
    g = torch.Generator().manual_seed(0)
    n, dh, d = 3, 4, 10
    h = HeadWeights(
        *(torch.randn(n, dh, d, generator=g) for _ in range(3)), torch.randn(n, d, dh, generator=g)
    )
    ov, qk = ov_circuits(h), qk_circuits(h)
    assert ov.shape == qk.shape == (n, d, d)
    x, y = torch.randn(d, generator=g), torch.randn(d, generator=g)
    for i in range(n):
        torch.testing.assert_close(ov[i] @ x, h.o[i] @ (h.v[i] @ x))
        torch.testing.assert_close(x @ qk[i] @ y, (h.q[i] @ x) @ (h.k[i] @ y))


def test_llama_gqa_shares_kv_heads(saved):
    _, ckpt, adapter = saved("llama")
    ctx = CheckpointContext("t", ckpt, adapter)
    h = adapter.heads(ctx.read, 0)
    assert adapter.n_kv_heads == 2 and adapter.n_heads == 4
    torch.testing.assert_close(h.k[0], h.k[1])  # query heads 0 and 1 share KV head 0
    torch.testing.assert_close(h.v[2], h.v[3])
    assert not torch.allclose(h.k[1], h.k[2])
