"""Gradient records equal autograd on a model loaded with from_pretrained."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.stats
import torch
from transformers import AutoModelForCausalLM

from ckptscope.adapters import get_adapter
from ckptscope.analyses.base import Array, CheckpointContext, Scalar, SweepOptions
from ckptscope.analyses.evaluation import batch_for
from ckptscope.analyses.gradients import Gradients
from ckptscope.models.tiny import write_tiny_checkpoints
from ckptscope.sources.folder_checkpoint import FolderCheckpoint

# transformers 5 calls the checkpoint's embed_out lm_head; the adapter knows the stored name.
STORED = {"lm_head.weight": "embed_out.weight"}


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tiny_checkpoints(tmp_path_factory.mktemp("grad"), (5,), n_layers=3)[0]


def test_gradients_equal_autograd(folder: Path) -> None:
    with FolderCheckpoint("tiny", 5, folder) as ckpt:
        adapter = get_adapter(ckpt.config())
        options = SweepOptions(extra={"n_seqs": 5, "seq_len": 20, "micro_batch": 2})
        ctx = CheckpointContext("s", ckpt, adapter, options=options)
        records = list(Gradients().run(ctx))
        ids = batch_for(ctx).ids
    scalars = {
        (r.component, r.block, r.param, r.metric): r.value for r in records if isinstance(r, Scalar)
    }
    hists = {
        (r.component, r.block, r.param): r.values
        for r in records
        if isinstance(r, Array) and r.kind == "grad_hist"
    }

    model = AutoModelForCausalLM.from_pretrained(folder).eval()
    model(input_ids=ids, labels=ids).loss.backward()
    total = 0.0
    n_params = 0
    for name, p in model.named_parameters():
        comp = adapter.canonical(STORED.get(name, name))
        key = (comp.component, comp.block, comp.param)
        g = p.grad.double().numpy().ravel()
        total += float((g * g).sum())
        n_params += 1
        assert scalars[(*key, "grad_norm")] == pytest.approx(np.linalg.norm(g), rel=1e-4), name
        assert scalars[(*key, "grad_std")] == pytest.approx(g.std(), rel=1e-4), name
        assert scalars[(*key, "grad_max_abs")] == pytest.approx(np.abs(g).max(), rel=1e-4), name
        assert scalars[(*key, "grad_mean")] == pytest.approx(g.mean(), rel=1e-3, abs=1e-9), name
        if g.std() > 0:
            kurt = scipy.stats.kurtosis(g)
            assert scalars[(*key, "grad_kurtosis")] == pytest.approx(kurt, rel=1e-3, abs=1e-4)
        assert hists[key].sum() == g.size
    assert scalars[("model", None, "", "grad_norm")] == pytest.approx(np.sqrt(total), rel=1e-4)
    assert len({k[:3] for k in scalars if k[3] == "grad_norm" and k[0] != "model"}) == n_params
    pooled = sum(hists[("mlp_out", b, "weight")] for b in range(3))
    np.testing.assert_array_equal(hists[("mlp_out", None, "weight")], pooled)


def test_gradients_with_a_token_file_and_no_tokenizer(tmp_path: Path) -> None:
    (bare,) = write_tiny_checkpoints(tmp_path, (0,), tokenizer=False)
    np.save(tmp_path / "ids.npy", np.arange(400) % 97)
    with FolderCheckpoint("bare", 0, bare) as ckpt:
        options = SweepOptions(
            extra={"data": str(tmp_path / "ids.npy"), "n_seqs": 2, "seq_len": 16}
        )
        ctx = CheckpointContext("s", ckpt, get_adapter(ckpt.config()), options=options)
        records = list(Gradients().run(ctx))
    info = [r for r in records if isinstance(r, Array) and r.kind == "eval_batch_info"]
    assert len(info) == 1 and "ids.npy" in (info[0].meta or "")
    assert torch.isfinite(torch.tensor([r.value for r in records if isinstance(r, Scalar)])).all()
