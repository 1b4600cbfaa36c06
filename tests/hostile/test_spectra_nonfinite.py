"""Matrices holding NaN/Inf: skipped with an ``n_nonfinite`` record, the rest analysed."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ckptscope.adapters import get_adapter
from ckptscope.analyses.base import Array, CheckpointContext, Scalar, get_analysis
from ckptscope.linalg import product_singular_values, singular_values_batched
from ckptscope.sources.folder_checkpoint import FolderCheckpoint
from hostile.corpus import QKV
from sources.builders import neox_state, write_checkpoint


def where(r) -> str:
    """A record's param, or ``head<h>`` for a per-head row: one key per matrix."""
    if r.head is not None:
        assert r.param == ("circuit" if r.component in ("ov", "qk") else "weight"), r
        return f"head{r.head}"
    return r.param


MLP_IN = "gpt_neox.layers.1.mlp.dense_h_to_4h.weight"
ATTN_OUT = "gpt_neox.layers.1.attention.dense.weight"


def _run(folder, analysis: str) -> tuple[dict, dict]:
    """(component, block, param) -> array values, and (..., metric) -> scalar value."""
    with FolderCheckpoint("m", 0, folder) as ckpt:
        ctx = CheckpointContext("s", ckpt, get_adapter(ckpt.config()))
        records = list(get_analysis(analysis).run(ctx))
    arrays = {(r.component, r.block, where(r)): r.values for r in records if isinstance(r, Array)}
    scalars = {
        (r.component, r.block, where(r), r.metric): r.value
        for r in records
        if isinstance(r, Scalar)
    }
    return arrays, scalars


def _poisoned(tmp_path, *names: str):
    clean = write_checkpoint(tmp_path / "clean", seed=0)
    state = neox_state(0)
    for name in names:
        state[name][0, 0] = float("nan")
        state[name][1, 2] = float("inf")
    return clean, write_checkpoint(tmp_path / "bad", seed=0, state=state)


def test_spectra_skip_nonfinite_matrices_and_keep_the_rest(tmp_path):
    clean, bad = _poisoned(tmp_path, QKV)
    arrays, scalars = _run(bad, "spectra")
    want, _ = _run(clean, "spectra")
    skipped = {k[:3]: v for k, v in scalars.items() if k[3] == "n_nonfinite"}
    assert skipped[("qkv", 1, "weight")] == 2
    # rows 0 and 1 of the fused QKV belong to head 0's query: its slice and its QK circuit
    assert ("q", 1, "head0") in skipped and ("qk", 1, "head0") in skipped
    assert all(block == 1 for _, block, _ in skipped)
    assert not set(skipped) & set(arrays)  # a skipped matrix has no spectrum
    assert not any(k[:3] in skipped and k[3] != "n_nonfinite" for k in scalars)
    assert set(arrays) | set(skipped) == set(want)
    for key, values in arrays.items():  # every other matrix: exactly the clean spectrum
        np.testing.assert_array_equal(values, want[key])


def test_svd_directions_skip_nonfinite_matrices(tmp_path):
    clean, bad = _poisoned(tmp_path, MLP_IN, ATTN_OUT)
    arrays, scalars = _run(bad, "svd_directions")
    want, _ = _run(clean, "svd_directions")
    skipped = {k[:3] for k in scalars if k[3] == "n_nonfinite"}
    assert ("mlp_in", 1, "weight") in skipped and ("ov", 1, "head0") in skipped
    assert not skipped & set(arrays)
    assert set(arrays) | skipped == set(want)
    assert ("mlp_in", 0, "weight") in arrays and ("ov", 0, "head0") in arrays
    for key, values in arrays.items():
        np.testing.assert_array_equal(values, want[key])


def test_svd_directions_with_a_nonfinite_token_matrix(tmp_path):
    _, bad = _poisoned(tmp_path, "gpt_neox.embed_in.weight")
    arrays, scalars = _run(bad, "svd_directions")
    assert scalars[("embed", None, "weight", "n_nonfinite")] == 2
    assert not any(k[0] in ("mlp_in", "mlp_gate") for k in arrays)  # read through embed
    assert ("mlp_out", 0, "weight") in arrays and ("ov", 0, "head0") in arrays


def test_linalg_refuses_nonfinite_input_with_a_clear_error():
    mats = torch.randn(3, 6, 4, dtype=torch.float64)
    mats[1, 2, 3] = float("nan")
    with pytest.raises(ValueError, match=r"matrices \[1\] .* hold NaN or Inf"):
        singular_values_batched(mats)
    with pytest.raises(ValueError, match="NaN or Inf"):
        product_singular_values(mats, mats.mT)
