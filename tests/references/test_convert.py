"""Converting the post's released lists: names mapped, units and steps as documented,
object arrays never unpickled."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ckptscope.references.convert import convert, numel, read_numeric

D = 768  # the 2023 "125m" model, today's pythia-160m


def _release(folder: Path) -> Path:
    """A tiny release: 3 blocks, 4 checkpoints (lists of 4 and 3 rows), and one object array."""
    folder.mkdir()
    rng = np.random.default_rng(0)
    std = 0.02 + 0.001 * rng.random((4, 3))
    mean = 0.001 * rng.standard_normal((4, 3))
    np.save(folder / "125m_mlp_h24h_std_list.npy", std)
    np.save(folder / "125m_mlp_h24h_mean_list.npy", mean)
    sq = np.array([[1.0, 4.0, 9.0], [4.0, 9.0, 16.0], [9.0, 16.0, 25.0]])
    np.save(folder / "125m_mlp_h24h_norm_list.npy", sq)
    np.save(folder / "125m_input_layernorm_norm_bias_list.npy", sq / 100)
    np.save(folder / "125m_embed_norm_list.npy", np.array([100.0, 400.0, 900.0]))
    np.save(folder / "125m_embed_diff_list.npy", np.array([100.0, 400.0, 900.0]))
    objects = np.empty(2, dtype=object)
    objects[:] = [{"a": 1}, [2]]
    np.save(folder / "125m_attn_qkv_norm_list.npy", objects, allow_pickle=True)
    return folder


def _select(df, **where):
    for k, v in where.items():
        df = df[df[k].isna()] if v is None else df[df[k] == v]
    return df.sort_values(["step", "block"])


def test_conversion(tmp_path: Path) -> None:
    df, skipped = convert(_release(tmp_path / "release"))
    assert skipped == ["125m_attn_qkv_norm_list.npy: object array, not loaded"]
    assert set(df.model) == {"pythia-160m"} and set(df.suite) == {"pythia-2023"}
    # squared distances -> distances, rows from step 1000
    dist = _select(df, component="mlp_in", param="weight", metric="dist_init", block=1)
    assert dist.step.tolist() == [2000, 3000, 4000] and dist.value.tolist() == [2.0, 3.0, 4.0]
    # norms reconstructed from std and mean, rows from step 0, float64 reference
    std = np.load(tmp_path / "release" / "125m_mlp_h24h_std_list.npy")
    mean = np.load(tmp_path / "release" / "125m_mlp_h24h_mean_list.npy")
    norm = _select(df, component="mlp_in", param="weight", metric="norm", block=2)
    want = np.sqrt(4 * D * D * (std[:, 2] ** 2 + mean[:, 2] ** 2))
    assert norm.step.tolist() == [1000, 2000, 3000, 4000]  # row 0 is step 1000
    np.testing.assert_allclose(norm.value.to_numpy(), want, rtol=6e-8)  # float32 precision
    rel = _select(df, component="mlp_in", param="weight", metric="rel_dist_init", block=2)
    np.testing.assert_allclose(rel.value.to_numpy(), np.array([3.0, 4.0, 5.0]) / want[0], rtol=1e-7)
    # a LayerNorm bias starts at zero: its distance is its norm
    ln = _select(df, component="ln1", param="bias", metric="norm", block=0)
    assert ln.value.tolist() == pytest.approx([0.1, 0.2, 0.3])
    # embed: no blocks; diff is a duplicate of norm and written once
    emb = _select(df, component="embed", metric="dist_init", block=None)
    assert emb.value.tolist() == [10.0, 20.0, 30.0]
    assert _select(df, component="embed", metric="norm").empty  # no std list: no norm


def test_a_norm_list_as_long_as_std_holds_norms(tmp_path: Path) -> None:
    folder = tmp_path / "release"
    folder.mkdir()
    std, mean = np.full((4, 2), 0.02), np.zeros((4, 2))
    norms = np.sqrt(512 * 512 * (std**2 + mean**2))  # 19m attention dense: d x d
    np.save(folder / "19m_attn_dense_std_list.npy", std)
    np.save(folder / "19m_attn_dense_mean_list.npy", mean)
    np.save(folder / "19m_attn_dense_norm_list.npy", norms)
    np.save(folder / "19m_attn_dense_diff_list.npy", np.full((3, 2), 4.0))
    df, _ = convert(folder)
    norm = _select(df, component="attn_out", metric="norm", block=0)
    assert norm.step.tolist() == [1000, 2000, 3000, 4000] and len(norm) == 4  # written once
    np.testing.assert_allclose(norm.value, 10.24, rtol=1e-7)
    dist = _select(df, component="attn_out", metric="dist_init", block=1)
    assert dist.step.tolist() == [2000, 3000, 4000] and dist.value.tolist() == [2.0, 2.0, 2.0]


def test_object_arrays_are_never_unpickled(tmp_path: Path) -> None:
    marker = tmp_path / "ran"

    class Payload:
        def __reduce__(self):
            return (Path.touch, (marker,))

    path = tmp_path / "125m_embed_norm_list.npy"
    arr = np.empty(1, dtype=object)
    arr[0] = Payload()
    np.save(path, arr, allow_pickle=True)
    assert read_numeric(path) is None
    assert not marker.exists()
    with pytest.raises(ValueError, match=r"125m_embed_norm_list\.npy: object array, not loaded"):
        convert(tmp_path)
    assert not marker.exists()
    np.load(path, allow_pickle=True)  # the payload is real: an unsafe load runs it
    assert marker.exists()


def test_numel() -> None:
    assert numel("qkv", "weight", 8) == 3 * 8 * 8 and numel("qkv", "bias", 8) == 24
    assert numel("mlp_in", "weight", 8) == 32 * 8 and numel("mlp_out", "weight", 8) == 8 * 32
    assert numel("attn_out", "weight", 8) == 64 and numel("ln1", "bias", 8) == 8
    assert numel("ln1", "weight", 8) == 8 and numel("ln_final", "weight", 8) == 8  # vectors
