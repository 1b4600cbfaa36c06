"""Embedding structure: correlations against numpy, seriation of planted blocks, token ranges."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from ckptscope.adapters.base import get_adapter
from ckptscope.analyses.base import AnalysisSkipped, CheckpointContext, SweepOptions
from ckptscope.analyses.embeddings import (
    EmbeddingStructure,
    correlation_matrix,
    display_token,
    seriate,
    token_range,
)
from ckptscope.sources.base import Checkpoint, TensorInfo
from fakes import ToyAdapter  # noqa: F401  (registers the "toy" architecture)


class EmbedCheckpoint(Checkpoint):
    """A checkpoint holding only an embedding, optionally with a tokenizer folder."""

    def __init__(self, emb: torch.Tensor, tok_dir: Path | None = None) -> None:
        self.model, self.step, self._emb, self._tok = "m", 0, emb, tok_dir

    def config(self) -> dict[str, Any]:
        return {"model_type": "toy", "n_layers": 0, "d_model": self._emb.shape[1]}

    def tensors(self) -> list[TensorInfo]:
        return [TensorInfo("embed.weight", tuple(self._emb.shape), "float32")]

    def read(self, name: str) -> torch.Tensor:
        return self._emb.clone()

    def tokenizer_dir(self) -> Path | None:
        return self._tok


def _run(emb: torch.Tensor, tok_dir: Path | None = None, **extra: Any) -> dict[str, Any]:
    ckpt = EmbedCheckpoint(emb, tok_dir)
    ctx = CheckpointContext(
        "s", ckpt, get_adapter(ckpt.config()), options=SweepOptions(extra=extra)
    )
    return {r.kind: r for r in EmbeddingStructure().run(ctx)}


def _write_tokenizer(folder: Path, n_special: int, vocab: int) -> None:
    added = [{"id": i, "content": f"<|s{i}|>", "special": True} for i in range(n_special)]
    added.append({"id": vocab - 1, "content": "<script>alert(1)</script>", "special": False})
    names = {n_special: "Ġ", n_special + 1: "a", n_special + 2: "Ċ"}
    vocab_map = {names.get(i, f"t{i}"): i for i in range(n_special, vocab - 1)}
    spec = {"added_tokens": added, "model": {"type": "BPE", "vocab": vocab_map}}
    (folder / "tokenizer.json").write_text(json.dumps(spec))


def test_correlation_matches_numpy_float64() -> None:
    x = np.random.default_rng(0).normal(size=(40, 17)).astype(np.float32)
    x[3] = 2.0 * x[5] + 1.0  # perfectly correlated rows
    got = correlation_matrix(x)
    want = np.corrcoef(x.astype(np.float64))
    np.testing.assert_allclose(got, want, atol=1e-12)
    np.testing.assert_allclose(got, got.T)
    assert got[3, 5] == pytest.approx(1.0)


def test_constant_rows_stay_finite() -> None:
    x = np.random.default_rng(1).normal(size=(5, 8))
    x[2] = 3.0
    corr = correlation_matrix(x)
    assert np.isfinite(corr).all()
    assert corr[2, 2] == 1.0 and not corr[2, [0, 1, 3, 4]].any()


def test_seriation_recovers_planted_blocks() -> None:
    rng = np.random.default_rng(2)
    centres = rng.normal(size=(4, 64)) * 3
    cluster = rng.permutation(np.repeat(np.arange(4), 32))  # shuffled token -> cluster
    x = centres[cluster] + rng.normal(size=(128, 64))
    order = seriate(correlation_matrix(x))
    assert sorted(order.tolist()) == list(range(128))
    runs = cluster[order]
    # contiguous: exactly 3 changes of cluster along the ordering
    assert int(np.count_nonzero(np.diff(runs))) == 3


def test_analysis_default_range_without_tokenizer() -> None:
    emb = torch.randn(600, 16)
    recs = _run(emb)
    corr = recs["embed_corr"]
    assert corr.values.shape == (256, 256)
    assert corr.labels[0] == "#0" and corr.labels[-1] == "#255"
    np.testing.assert_allclose(corr.values, np.corrcoef(emb[:256].double().numpy()), atol=1e-10)
    assert recs["embed_order"].values.shape == (256,)
    meta = json.loads(recs["embed_corr_tokens"].meta)
    assert meta["tokens"] == [256, 512] and meta["set"] == "tokens"
    assert recs["embed_order_tokens"].values.shape == (256,)
    assert (corr.component, corr.block, corr.param) == ("embed", None, "weight")


def test_special_token_offset_and_labels(tmp_path: Path) -> None:
    _write_tokenizer(tmp_path, n_special=2, vocab=300)
    emb = torch.randn(300, 8)
    recs = _run(emb, tmp_path)
    corr = recs["embed_corr"]
    assert json.loads(corr.meta)["tokens"] == [2, 258]
    assert json.loads(corr.meta)["special_tokens"] == 2
    assert corr.labels[:3] == ("␣", "a", "\\n")
    np.testing.assert_allclose(corr.values, np.corrcoef(emb[2:258].double().numpy()), atol=1e-10)
    tokens = recs["embed_corr_tokens"]  # clipped to the vocab: ids 258..299
    assert tokens.values.shape == (42, 42)
    assert tokens.labels[-1] == "<script>alert(1)</script>"  # stored raw; escaped when shown


def test_configured_range_and_no_extra_set() -> None:
    recs = _run(torch.randn(100, 8), embed_tokens=[10, 20], embed_extra_tokens=0)
    assert recs["embed_corr"].values.shape == (10, 10)
    assert set(recs) == {"embed_corr", "embed_order"}
    assert token_range(5, 0, 1000) == (5, 261)
    with pytest.raises(ValueError, match="embed_tokens"):
        token_range("x", 0, 10)


def test_skips_without_embedding_room() -> None:
    with pytest.raises(AnalysisSkipped):
        _run(torch.randn(1, 8))


def test_display_token() -> None:
    assert display_token("Ġthe") == "␣the"
    assert display_token("Ã©") == "é"  # two byte symbols -> one UTF-8 character
    assert display_token("\x00") == "\\x00"
