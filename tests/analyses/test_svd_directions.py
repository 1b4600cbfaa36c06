"""SVD-direction token tables on planted answers, sign invariance, and the closeness derivation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from ckptscope.analyses.base import Array, available_derivations, get_analysis
from ckptscope.analyses.svd_directions import SvdCloseness, closeness_frame
from ckptscope.data.corpus import CORPUS_DIR
from ckptscope.linalg import token_table, top_right_vectors
from ckptscope.store import Store, TaskKey
from linalg.neox_toy import neox_context, neox_tensors

L, D, H, VOCAB = 2, 16, 4, 50
TABLE = {"svd_top_n": 3, "svd_top_k": 4}


def orthonormal_tokens(seed: int) -> torch.Tensor:
    """A [vocab, d] matrix whose first d rows are orthonormal (the rest small noise)."""
    g = torch.Generator().manual_seed(seed)
    q, _ = torch.linalg.qr(torch.randn(D, D, generator=g, dtype=torch.float64))
    rest = 0.01 * torch.randn(VOCAB - D, D, generator=g, dtype=torch.float64)
    return torch.cat([q, rest]).float()


def planted(direction: torch.Tensor, strength: float, rows: int, seed: int) -> torch.Tensor:
    """A [rows, d] matrix with top right singular vector ``direction`` over small noise."""
    g = torch.Generator().manual_seed(seed)
    left = torch.randn(rows, generator=g)
    noise = 0.01 * torch.randn(rows, D, generator=g)
    return strength * torch.outer(left / left.norm(), direction / direction.norm()) + noise


def tables(tensors, extra=TABLE, tokenizer=None) -> dict:
    ctx = neox_context(tensors, L, D, H, extra=extra, tokenizer=tokenizer)
    out = {}
    for r in get_analysis("svd_directions").run(ctx):
        assert isinstance(r, Array) and r.kind == "svd_tokens"
        out[(r.component, r.block, r.param if r.head is None else r.head)] = r
    return out


def test_planted_directions_read_through_embedding_and_unembedding() -> None:
    tensors = neox_tensors(L, D, H, VOCAB)
    embed, unembed = orthonormal_tokens(1), orthonormal_tokens(2)
    tensors["gpt_neox.embed_in.weight"] = embed
    tensors["embed_out.weight"] = unembed
    # mlp_in's top right vector: token 7 first, then 3, then 11 (weights 1, 0.6, 0.3)
    direction = embed[7] + 0.6 * embed[3] + 0.3 * embed[11]
    tensors["gpt_neox.layers.0.mlp.dense_h_to_4h.weight"] = planted(direction, 50.0, 4 * D, 0)
    # mlp_out's top left vector, planted with a negative sign: -(token 5 + 0.5 token 9)
    direction = -(unembed[5] + 0.5 * unembed[9])
    tensors["gpt_neox.layers.1.mlp.dense_4h_to_h.weight"] = planted(direction, 50.0, 4 * D, 1).T
    out = tables(tensors)
    assert list(out[("mlp_in", 0, "weight")].values[0, :3]) == [7, 3, 11]
    assert list(out[("mlp_out", 1, "weight")].values[0, :2]) == [5, 9]
    assert out[("mlp_in", 0, "weight")].values.shape == (3, 4)
    assert out[("mlp_in", 0, "weight")].labels is None


def test_ov_tables_match_a_hand_split_of_the_raw_weights() -> None:
    tensors = neox_tensors(L, D, H, VOCAB)
    out = tables(tensors)
    dh = D // H
    unembed = tensors["embed_out.weight"]
    for block in range(L):
        qkv = tensors[f"gpt_neox.layers.{block}.attention.query_key_value.weight"].double()
        dense = tensors[f"gpt_neox.layers.{block}.attention.dense.weight"].double()
        for h in range(H):
            v = qkv[h * 3 * dh + 2 * dh : h * 3 * dh + 3 * dh]  # (d_head, d): head h's v rows
            o = dense[:, h * dh : (h + 1) * dh]  # (d, d_head)
            u, _, _ = np.linalg.svd((o @ v).numpy())
            want = token_table(torch.from_numpy(u[:, :3]), unembed, 4)
            np.testing.assert_array_equal(out[("ov", block, h)].values, want)


def test_sign_flips_give_the_same_table() -> None:
    g = torch.Generator().manual_seed(5)
    dirs = torch.randn(2, D, 6, generator=g, dtype=torch.float64)  # (batch, d, n)
    tokens = torch.randn(VOCAB, D, generator=g)
    signs = torch.tensor([1.0, -1.0, -1.0, 1.0, -1.0, 1.0], dtype=torch.float64)
    np.testing.assert_array_equal(
        token_table(dirs, tokens, 5), token_table(dirs * signs, tokens, 5)
    )
    # a matrix and its negation (singular pairs (u, v) -> (-u, v)): same tables
    tensors = neox_tensors(L, D, H, VOCAB)
    flipped = {k: (-v if "mlp" in k else v) for k, v in tensors.items()}
    a, b = tables(tensors), tables(flipped)
    for key in a:
        np.testing.assert_array_equal(a[key].values, b[key].values)
    w = tensors["gpt_neox.layers.0.mlp.dense_h_to_4h.weight"][None]
    np.testing.assert_array_equal(
        token_table(top_right_vectors(w, 3), tokens, 4),
        token_table(-top_right_vectors(w, 3), tokens, 4),
    )


def test_labels_from_the_checkpoint_tokenizer() -> None:
    out = tables(neox_tensors(L, D, H, VOCAB), tokenizer=CORPUS_DIR)
    rec = out[("mlp_in", 0, "weight")]
    assert rec.labels is not None and len(rec.labels) == rec.values.size
    assert rec.labels[0] != "" or rec.values[0, 0] == 0


def test_closeness_by_hand() -> None:
    final = np.arange(12).reshape(3, 4)
    half = final.copy()
    half[0] = half[0, ::-1]  # same set, all ranks wrong in row 0
    half[1, :2] = [90, 91]  # two tokens of row 1 replaced
    rows = [
        {"model": "m", "step": s, "component": "mlp_in", "block": 0, "param": "weight", "values": t}
        for s, t in ((0, half), (10, final))
    ]
    frame = closeness_frame(pd.DataFrame(rows)).set_index(["step", "metric", "param", "block"])[
        "value"
    ]
    assert frame[(10, "svd_exact", "weight", 0)] == 1.0
    assert frame[(10, "svd_overlap", "weight", 0)] == 1.0
    assert frame[(0, "svd_exact", "weight", 0)] == pytest.approx((0 + 2 + 4) / 12)
    assert frame[(0, "svd_overlap", "weight", 0)] == pytest.approx((1 + 0.5 + 1) / 3)


def test_derivation_from_a_store(tmp_path) -> None:
    store = Store(tmp_path / "store")
    for step in (0, 5, 9):
        tensors = neox_tensors(L, D, H, VOCAB, seed=step)
        ctx = neox_context(tensors, L, D, H, step=step, extra=TABLE)
        store.write_task(
            TaskKey("mem", "toy", step, "svd_directions"), get_analysis("svd_directions").run(ctx)
        )
    assert "svd_closeness" in [d.name for d in available_derivations()]
    derived = SvdCloseness().derive(store)
    store.write_derived("svd_closeness", "mem", derived)
    df = store.scalars(metric=["svd_exact", "svd_overlap"])
    final = df[df.step == 9]
    assert np.all(final.value == 1.0)
    assert set(df.component) == {"mlp_in", "mlp_out", "ov", "all"}
    per_model = df[(df.component == "all") & (df.metric == "svd_overlap")]
    assert list(per_model.step) == [0, 5, 9]
    assert per_model.block.isna().all() and (per_model.param == "all").all()
    ov_blocks = df[(df.component == "ov") & (df.param == "all") & df.block.notna()]
    assert set(ov_blocks.block.astype(int)) == {0, 1} and ov_blocks["head"].isna().all()
    per_head = df[(df.component == "ov") & (df.param == "circuit")]
    assert set(per_head["head"].astype(int)) == set(range(H)) and per_head.block.notna().all()
    assert ((df.value >= 0) & (df.value <= 1)).all()


def test_real_gpt_neox_checkpoint(neox_folder_suite) -> None:
    from ckptscope.adapters import get_adapter
    from ckptscope.analyses.base import CheckpointContext
    from ckptscope.sources.folder_suite import FolderSuite

    suite = FolderSuite(neox_folder_suite)
    with suite.open("tiny-a", 0) as ckpt:
        cfg = ckpt.config()
        recs = list(
            get_analysis("svd_directions").run(
                CheckpointContext(suite.name, ckpt, get_adapter(cfg))
            )
        )
    dh = cfg["hidden_size"] // cfg["num_attention_heads"]
    shapes = {(r.component, r.param, r.head): r.values.shape for r in recs}
    assert shapes[("mlp_in", "weight", None)] == (min(30, cfg["hidden_size"]), 20)
    assert shapes[("ov", "circuit", 1)] == (dh, 20)  # at most d_head directions: OV has rank d_head
    assert all(r.values.min() >= 0 and r.values.max() < cfg["vocab_size"] for r in recs)


def test_derivation_model_by_model_equals_all_tables_at_once(tmp_path) -> None:
    """Two models (one named with a quote) derived one at a time give the rows that one
    pass over every table gives."""
    store = Store(tmp_path / "store")
    models = ("toy", "o'toy")
    for model in models:
        for step in (0, 5, 9):
            tensors = neox_tensors(L, D, H, VOCAB, seed=step + 100 * len(model))
            ctx = neox_context(tensors, L, D, H, step=step, extra=TABLE)
            records = get_analysis("svd_directions").run(ctx)
            store.write_task(TaskKey("mem", model, step, "svd_directions"), records)
    derived = SvdCloseness().derive(store)
    got = pd.DataFrame(
        [(d.model, d.step, d.record.component, d.record.block, d.record.param, d.record.head,
          d.record.metric, d.record.value) for d in derived.scalars],
        columns=["model", "step", "component", "block", "param", "head", "metric", "value"],
    )  # fmt: skip
    tables = store.arrays(kind="svd_tokens")
    want = closeness_frame(tables[["model", "step", "component", "block", "param", "head",
                                   "values"]], {m: 9 for m in models})  # fmt: skip
    assert set(got.model) == set(models) and len(got) == len(want) > 0

    def key(df: pd.DataFrame) -> list[tuple]:
        return sorted(
            (m, int(s), c, -1 if pd.isna(b) else int(b), p, -1 if pd.isna(h) else int(h), k, v)
            for m, s, c, b, p, h, k, v in df.itertuples(index=False)
        )

    assert key(got) == key(want)
