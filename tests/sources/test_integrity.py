"""Integrity hashes through the store, and duplicate checkpoints found across steps."""

from __future__ import annotations

import json

import pytest
import torch

from ckptscope.adapters import get_adapter
from ckptscope.analyses.base import Array, CheckpointContext, available_derivations, get_analysis
from ckptscope.errors import CheckpointError
from ckptscope.sources import open_suite
from ckptscope.store import Store, TaskKey
from sources.builders import neox_state, write_checkpoint


def _sweep_integrity(suite, store: Store) -> None:
    analysis = get_analysis("integrity")
    for model in suite.models():
        for step in suite.steps(model):
            with suite.open(model, step) as ckpt:
                ctx = CheckpointContext(suite.name, ckpt, get_adapter(ckpt.config()))
                store.write_task(
                    TaskKey(suite.name, model, step, "integrity"), list(analysis.run(ctx))
                )


def test_integrity_records(tmp_path):
    folder = write_checkpoint(tmp_path / "r" / "step0", seed=0)
    suite = open_suite(str(tmp_path / "r"))
    with suite.open("r", 0) as ckpt:
        ctx = CheckpointContext("s", ckpt, get_adapter(ckpt.config()))
        records = list(get_analysis("integrity").run(ctx))
    assert all(isinstance(r, Array) and r.kind == "tensor_hash" for r in records)
    assert len(records) == len(neox_state(0)) - 2  # rotary buffers are not parameters
    qkv = next(r for r in records if (r.component, r.block, r.param) == ("qkv", 1, "weight"))
    digest, dtype = qkv.labels
    assert len(digest) == 32 and dtype == "float32"
    assert qkv.values[0] == int(digest[:12], 16) and qkv.values[1] == 24 * 8
    assert json.loads(qkv.meta)["raw"] == "gpt_neox.layers.1.attention.query_key_value.weight"
    assert folder.exists()


def test_duplicate_checkpoints_are_reported(tmp_path):
    root = tmp_path / "suite"
    same = neox_state(0)
    write_checkpoint(root / "m" / "step0", seed=0, state=same)
    write_checkpoint(
        root / "m" / "step1", seed=0, fmt="bin", state=same
    )  # same weights, other format
    write_checkpoint(root / "m" / "step2", seed=2)
    stale = neox_state(3)
    stale["gpt_neox.embed_in.weight"] = neox_state(2)["gpt_neox.embed_in.weight"]
    write_checkpoint(root / "m" / "step3", seed=3, state=stale)  # one shard left from step 2
    write_checkpoint(root / "n" / "step0", seed=0, state=same)  # other model: not a duplicate
    write_checkpoint(root / "n" / "step5", seed=5)
    suite = open_suite(str(root))
    store = Store(tmp_path / "store")
    _sweep_integrity(suite, store)
    (derivation,) = [d for d in available_derivations() if d.name == "duplicate_checkpoints"]
    derived = derivation.derive(store)
    dup = [e for e in derived.events if e.kind == "duplicate_checkpoint"]
    assert [(e.model, e.step) for e in dup] == [("m", 1)]
    assert "steps 0 and 1 are identical" in dup[0].message
    partial = [e for e in derived.events if e.kind == "duplicate_tensors"]
    assert [(e.model, e.step) for e in partial] == [("m", 3)]
    assert "steps 2 and 3 share 1 of" in partial[0].message and "embed.weight" in partial[0].message
    store.write_derived(derivation.name, suite.name, derived)
    events = store.events()
    assert set(events["kind"]) == {"duplicate_checkpoint", "duplicate_tensors"}


def test_derivation_on_an_empty_store(tmp_path):
    (derivation,) = [d for d in available_derivations() if d.name == "duplicate_checkpoints"]
    assert derivation.derive(Store(tmp_path / "store")).events == []


def test_integrity_rejects_a_shape_that_disagrees(tmp_path):
    state = neox_state(0)
    state["gpt_neox.layers.0.mlp.dense_h_to_4h.weight"] = torch.zeros(31, 8)
    write_checkpoint(tmp_path / "r" / "step0", seed=0, state=state)
    with open_suite(str(tmp_path / "r")).open("r", 0) as ckpt:
        ctx = CheckpointContext("s", ckpt, get_adapter(ckpt.config()))
        with pytest.raises(
            CheckpointError,
            match=r"'gpt_neox\.layers\.0\.mlp\.dense_h_to_4h\.weight' has shape \(31, 8\)",
        ):
            list(get_analysis("integrity").run(ctx))
