"""Residual-stream analysis: records against numpy/scipy, planted outliers, skip, one pass."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.stats
import torch
from transformers import AutoModelForCausalLM

import ckptscope.analyses.evaluation as evaluation
from ckptscope.adapters import get_adapter
from ckptscope.analyses.activations import Activations
from ckptscope.analyses.base import (
    AnalysisSkipped,
    Array,
    CheckpointContext,
    Scalar,
    SweepOptions,
    get_analysis,
)
from ckptscope.analyses.evaluation import batch_for
from ckptscope.analyses.gradients import Gradients
from ckptscope.analyses.resid_outliers import ResidOutliers
from ckptscope.models.hooks import capture_residuals
from ckptscope.models.tiny import write_tiny_checkpoints
from ckptscope.records import Bookkeeping
from ckptscope.sources.folder_checkpoint import FolderCheckpoint
from ckptscope.stats import histogram
from ckptscope.store.store import Store, TaskKey

EXTRA = {"n_seqs": 5, "seq_len": 24, "micro_batch": 2, "outlier_k": 4}
OUTLIER_DIM = 7


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """step0: random; step10, step20: embedding dimension 7 planted large (20 then 40)."""
    root = tmp_path_factory.mktemp("act")
    found = write_tiny_checkpoints(root, (0, 10, 20))
    for folder, size in zip(found[1:], (20.0, 40.0), strict=True):
        model = AutoModelForCausalLM.from_pretrained(folder)
        with torch.no_grad():
            model.gpt_neox.embed_in.weight[:, OUTLIER_DIM] += size
        model.save_pretrained(folder)
    return found


def _ctx(
    ckpt: FolderCheckpoint,
    analyses: tuple[str, ...] = ("activations", "gradients"),
    **extra: object,
) -> CheckpointContext:
    options = SweepOptions(extra={**EXTRA, **extra})
    adapter = get_adapter(ckpt.config())
    return CheckpointContext("s", ckpt, adapter, options=options, analyses=analyses)


def _by_key(records: list) -> dict[tuple, object]:
    return {
        (r.component, r.block, r.kind if isinstance(r, Array) else getattr(r, "metric", None)): r
        for r in records
        if not isinstance(r, Bookkeeping)  # counts kept in the task's meta
    }


def test_records_match_numpy(folders: list[Path]) -> None:
    with FolderCheckpoint("tiny", 0, folders[0]) as ckpt:
        ctx = _ctx(ckpt)
        recs = _by_key(list(Activations().run(ctx)))
        ids = batch_for(ctx).ids
    model = AutoModelForCausalLM.from_pretrained(folders[0]).eval()
    resid = capture_residuals(model, ids)
    with torch.no_grad():
        loss = model(input_ids=ids, labels=ids).loss.item()
    assert recs[("model", None, "loss")].value == pytest.approx(loss, rel=1e-6)
    info = recs[("model", None, "eval_batch_info")]
    assert list(info.values) == [5, 24] and "tokens_sha256" in info.meta
    positions = [("resid_embed", None)] + [("resid", i) for i in range(len(resid) - 1)]
    for (comp, block), h in zip(positions, resid, strict=True):
        x = h.double().numpy().reshape(-1)
        assert recs[(comp, block, "mean")].value == pytest.approx(x.mean(), abs=1e-9)
        assert recs[(comp, block, "std")].value == pytest.approx(x.std(), rel=1e-6)
        assert recs[(comp, block, "skew")].value == pytest.approx(scipy.stats.skew(x), rel=1e-5)
        kurt = scipy.stats.kurtosis(x)  # excess, population
        assert recs[(comp, block, "kurtosis")].value == pytest.approx(kurt, rel=1e-5, abs=1e-6)
        assert recs[(comp, block, "max_abs")].value == pytest.approx(np.abs(x).max(), rel=1e-6)
        np.testing.assert_array_equal(recs[(comp, block, "hist")].values, histogram(h.numpy()))
        dims = recs[(comp, block, "outlier_dims")].values
        per_dim = h.abs().reshape(-1, h.shape[-1]).amax(0).numpy()
        assert set(dims[0].astype(int)) == set(np.argsort(per_dim)[-4:])
        np.testing.assert_allclose(dims[1], np.sort(per_dim)[::-1][:4], rtol=1e-6)
    pooled = torch.cat([h.reshape(-1) for h in resid[1:]]).double().numpy()
    assert recs[("resid", None, "kurtosis")].value == pytest.approx(
        scipy.stats.kurtosis(pooled), rel=1e-5
    )
    assert recs[("resid", None, "hist")].values.sum() == pooled.size
    assert ("resid", None, "quantiles") in recs and ("resid", None, "t_nu") in recs
    assert ("resid", None, "numel") not in recs  # bookkeeping, not a metric


def test_planted_outlier_dimension_and_derivation(folders: list[Path], tmp_path: Path) -> None:
    store = Store(tmp_path / "store")
    for step, folder in zip((0, 10, 20), folders, strict=True):
        with FolderCheckpoint("tiny", step, folder) as ckpt:
            recs = list(Activations().run(_ctx(ckpt)))
        store.write_task(TaskKey("s", "tiny", step, "activations"), recs)
        if step:
            for r in recs:
                if isinstance(r, Array) and r.kind == "outlier_dims":
                    assert int(r.values[0, 0]) == OUTLIER_DIM, (r.component, r.block)
    derived = ResidOutliers().derive(store)
    rows = {
        (d.model, d.step, d.record.block, d.record.metric): d.record.value for d in derived.scalars
    }
    maxes = store.scalars(component="resid", metric="max_abs").dropna(subset=["block"])
    for block, g in maxes.groupby("block"):
        g = g.sort_values("step")
        ever = [rows[("tiny", int(s), int(block), "max_abs_ever")] for s in g["step"]]
        np.testing.assert_allclose(ever, np.maximum.accumulate(g["value"]))
        assert ("tiny", 0, int(block), "outlier_jaccard") not in rows  # no previous step
        jac = rows[("tiny", 20, int(block), "outlier_jaccard")]
        assert 1 / 7 <= jac <= 1.0  # dimension 7 persists: at least 1 of 7 in the union
    assert ResidOutliers().derive(Store(tmp_path / "empty")).scalars == []


def test_skipped_without_tokenizer_while_weights_run(tmp_path: Path) -> None:
    (folder,) = write_tiny_checkpoints(tmp_path, (0,), tokenizer=False)
    with FolderCheckpoint("bare", 0, folder) as ckpt:
        ctx = _ctx(ckpt)
        for analysis in (Activations(), Gradients()):
            with pytest.raises(AnalysisSkipped, match="no tokenizer"):
                list(analysis.run(ctx))
        assert list(get_analysis("weights").run(ctx))


def test_one_pass_serves_both_analyses(folders: list[Path], monkeypatch) -> None:
    calls: list[bool] = []
    real = evaluation.forward_backward

    def counting(*args, **kwargs):
        calls.append(kwargs["backward"])
        return real(*args, **kwargs)

    monkeypatch.setattr(evaluation, "forward_backward", counting)
    with FolderCheckpoint("tiny", 0, folders[0]) as ckpt:
        ctx = _ctx(ckpt)
        list(Activations().run(ctx))
        list(Gradients().run(ctx))
    assert calls == [True]
    calls.clear()
    with FolderCheckpoint("tiny", 10, folders[1]) as ckpt:
        ctx = _ctx(ckpt, analyses=("activations",), fit_samples=0)  # no gradients, no fits
        recs = list(Activations().run(ctx))
        assert calls == [False]
        assert not [r for r in recs if isinstance(r, Scalar) and r.metric.startswith("fit_")]
        list(Gradients().run(ctx))
    assert calls == [False, True]
