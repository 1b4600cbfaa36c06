"""The spectra analysis on an in-memory GPT-NeoX checkpoint, against numpy by hand."""

from __future__ import annotations

import json

import numpy as np
import pytest

from ckptscope.analyses.base import Array, Scalar, get_analysis
from linalg.neox_toy import neox_context, neox_tensors


def where(r) -> str:
    """A record's param, or ``head<h>`` for a per-head row: one key per matrix."""
    if r.head is not None:
        assert r.param == ("circuit" if r.component in ("ov", "qk") else "weight"), r
        return f"head{r.head}"
    return r.param


L, D, H = 2, 16, 4
DH = D // H


def run(extra=None):
    tensors = neox_tensors(L, D, H)
    records = list(get_analysis("spectra").run(neox_context(tensors, L, D, H, extra=extra)))
    arrays = {(r.component, r.block, where(r)): r.values for r in records if _whole(r)}
    scalars = {
        (r.component, r.block, where(r), r.metric): r.value
        for r in records
        if isinstance(r, Scalar)
    }
    return tensors, arrays, scalars


def _whole(r: object) -> bool:
    """An Array of every singular value (not the log-spaced copy F15 reads)."""
    return isinstance(r, Array) and r.kind == "singular_values"


def test_whole_weight_matrices_also_get_their_log_spaced_values() -> None:
    """F15 reads a spectrum's values at log-spaced ranks: written for each whole weight
    matrix (the same values as thinning its whole spectrum), none for heads or circuits."""
    from ckptscope.views.spectra import LOG_KIND, log_grid, positive_count

    tensors = neox_tensors(L, D, H)
    records = list(get_analysis("spectra").run(neox_context(tensors, L, D, H)))
    logs = {(r.component, r.block): r for r in records
            if isinstance(r, Array) and r.kind == LOG_KIND}  # fmt: skip
    whole = {(r.component, r.block): r.values for r in records
             if _whole(r) and r.param == "weight" and r.head is None}  # fmt: skip
    assert set(logs) == set(whole) and len(whole) == 2 + 4 * L
    for key, r in logs.items():
        assert r.param == "weight" and r.head is None
        s = whole[key]
        n = positive_count(r.meta)
        assert n == (s > 0).sum()
        np.testing.assert_array_equal(r.values, s[log_grid(n) - 1])


def svals(m: np.ndarray) -> np.ndarray:
    return np.linalg.svd(m.astype(np.float64), compute_uv=False)


def test_every_matrix_matches_numpy() -> None:
    tensors, arrays, _ = run()
    for (comp, block, param), s in arrays.items():
        if param != "weight":
            continue
        if block is None:
            raw = {"embed": "gpt_neox.embed_in.weight", "unembed": "embed_out.weight"}[comp]
        else:
            path = {
                "qkv": "attention.query_key_value",
                "attn_out": "attention.dense",
                "mlp_in": "mlp.dense_h_to_4h",
                "mlp_out": "mlp.dense_4h_to_h",
            }[comp]
            raw = f"gpt_neox.layers.{block}.{path}.weight"
        np.testing.assert_allclose(s, svals(tensors[raw].numpy()), rtol=1e-10)
    assert {k[0] for k in arrays if k[2] == "weight"} == {
        "embed",
        "unembed",
        "qkv",
        "attn_out",
        "mlp_in",
        "mlp_out",
    }


def test_heads_and_circuits_from_raw_interleaved_weights() -> None:
    tensors, arrays, _ = run()
    for block in range(L):
        qkv = tensors[f"gpt_neox.layers.{block}.attention.query_key_value.weight"].double().numpy()
        out = tensors[f"gpt_neox.layers.{block}.attention.dense.weight"].double().numpy()
        for h in range(H):
            # rows ordered (head, q/k/v, d_head): head h's q, k, v are consecutive d_head rows
            base = h * 3 * DH
            q, k, v = (qkv[base + i * DH : base + (i + 1) * DH] for i in range(3))
            o = out[:, h * DH : (h + 1) * DH]
            key = (block, f"head{h}")
            for name, m in (("q", q), ("k", k), ("v", v)):
                np.testing.assert_allclose(arrays[(name, *key)], svals(m), rtol=1e-10)
            ov, qk = arrays[("ov", *key)], arrays[("qk", *key)]
            assert ov.shape == qk.shape == (DH,)  # rank <= d_head: only the top d_head stored
            np.testing.assert_allclose(ov, svals(o @ v)[:DH], rtol=1e-8)
            np.testing.assert_allclose(qk, svals(q.T @ k)[:DH], rtol=1e-8)


def test_metrics_per_matrix() -> None:
    _, arrays, scalars = run()
    for key, s in arrays.items():
        assert scalars[(*key, "spectral_norm")] == pytest.approx(s[0])
        assert scalars[(*key, "stable_rank")] == pytest.approx(np.sum(s**2) / s[0] ** 2)
        assert ((*key, "mp_outliers") in scalars) == (key[0] not in ("ov", "qk"))
        assert (*key, "alpha") in scalars


def test_options() -> None:
    _, arrays, _ = run({"spectra_heads": False, "spectra_method": "svd"})
    assert not any(k[2].startswith("head") for k in arrays)
    _, with_heads, _ = run({"spectra_method": "svd"})
    assert any(k[2].startswith("head") for k in with_heads)  # the default draws heads
    with pytest.raises(ValueError, match="option spectra_method='lanczos'; choices: gram64"):
        run({"spectra_method": "lanczos"})


def test_real_gpt_neox_adapter_agrees_with_the_hand_split(neox_folder_suite) -> None:
    from ckptscope.adapters import get_adapter
    from ckptscope.analyses.base import CheckpointContext
    from ckptscope.sources.folder_suite import FolderSuite

    suite = FolderSuite(neox_folder_suite)
    with suite.open("tiny-b", 4) as ckpt:
        cfg = ckpt.config()
        ctx = CheckpointContext(suite.name, ckpt, get_adapter(cfg))
        got = {
            (r.component, r.block, where(r)): r.values
            for r in get_analysis("spectra").run(ctx)
            if _whole(r)
        }
        raw = {t.name: ckpt.read(t.name).float() for t in ckpt.tensors()}
    d, n_heads = cfg["hidden_size"], cfg["num_attention_heads"]
    dh = d // n_heads
    for block in range(cfg["num_hidden_layers"]):
        qkv = raw[f"gpt_neox.layers.{block}.attention.query_key_value.weight"].double().numpy()
        out = raw[f"gpt_neox.layers.{block}.attention.dense.weight"].double().numpy()
        for h in range(n_heads):
            base = h * 3 * dh
            q, k, v = (qkv[base + i * dh : base + (i + 1) * dh] for i in range(3))
            o = out[:, h * dh : (h + 1) * dh]
            np.testing.assert_allclose(got[("ov", block, f"head{h}")], svals(o @ v)[:dh], rtol=1e-8)
            np.testing.assert_allclose(
                got[("qk", block, f"head{h}")], svals(q.T @ k)[:dh], rtol=1e-8
            )
    assert got[("embed", None, "weight")].shape == (min(cfg["vocab_size"], d),)


@pytest.mark.parametrize("solver", [None, "batched"])
def test_meta_names_the_solver_and_the_batched_solver_agrees(solver) -> None:
    """Each spectrum says which eigensolver made it; both solvers give the same values."""
    tensors = neox_tensors(L, D, H)
    extra = {"spectra_heads": False} | ({"spectra_solver": solver} if solver else {})
    records = list(get_analysis("spectra").run(neox_context(tensors, L, D, H, extra=extra)))
    arrays = [r for r in records if _whole(r)]
    assert {json.loads(r.meta)["solver"] for r in arrays} == {solver or "lapack"}
    _, reference, _ = run({"spectra_heads": False})
    for r in arrays:
        np.testing.assert_allclose(r.values, reference[(r.component, r.block, where(r))],
                                   rtol=1e-9, atol=1e-12)  # fmt: skip
