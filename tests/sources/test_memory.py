"""In-memory models as a source: the same rows as the same weights saved and swept from disk."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import transformers

import ckptscope as cs
from ckptscope.adapters import get_adapter, supported_model_types
from ckptscope.data.corpus import CORPUS_DIR
from ckptscope.engine import SweepConfig, run_sweep
from ckptscope.errors import CheckpointError, UnknownArchitectureError, UsageError
from ckptscope.sources import FolderSuite, ModelSource

LLAMA_LIKE = {"hidden_size": 16, "num_hidden_layers": 2, "num_attention_heads": 4,
              "num_key_value_heads": 2, "intermediate_size": 24,
              "max_position_embeddings": 32}  # fmt: skip
#: tiny config fields per model type; every built-in adapter's model types need one
TINY: dict[str, dict[str, object]] = {
    "gpt2": {"n_embd": 16, "n_layer": 2, "n_head": 4, "n_positions": 32},
    "gpt_neox": {"hidden_size": 16, "num_hidden_layers": 2, "num_attention_heads": 4,
                 "intermediate_size": 32, "max_position_embeddings": 32, "rotary_pct": 0.5},
    "llama": LLAMA_LIKE,
    "mistral": LLAMA_LIKE,
    "qwen2": LLAMA_LIKE,
    "olmo": LLAMA_LIKE,
    "olmo2": LLAMA_LIKE,
}  # fmt: skip
#: model types of the built-in adapters (tests register toy ones beside them)
ARCHS = [
    t
    for t in supported_model_types()
    if type(get_adapter({"model_type": t})).__module__.startswith("ckptscope.adapters.")
]
#: (model type, tie_word_embeddings; None: the architecture's default)
CASES = [(t, None) for t in ARCHS] + [("gpt2", False), ("gpt_neox", True), ("llama", True)]
ANALYSES = ["weights", "spectra", "distributions", "integrity", "activations", "gradients"]
EVAL = {"n_seqs": 2, "seq_len": 16, "micro_batch": 2, "fit_samples": 500}


def build(model_type: str, tie: bool | None = None, seed: int = 0) -> transformers.PreTrainedModel:
    """A tiny random causal LM of ``model_type``."""
    if model_type not in TINY:
        pytest.fail(f"no tiny config for model_type {model_type!r}: add one to TINY")
    tied = {} if tie is None else {"tie_word_embeddings": tie}
    config = transformers.AutoConfig.for_model(
        model_type, vocab_size=64, bos_token_id=0, eos_token_id=0, **TINY[model_type], **tied
    )
    torch.manual_seed(seed)
    return transformers.AutoModelForCausalLM.from_config(config).eval()


def perturbed(model: torch.nn.Module, seed: int = 1) -> torch.nn.Module:
    """A copy with every parameter moved (as a later training step)."""
    out = copy.deepcopy(model)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in out.parameters():
            p.add_(0.05 * torch.randn(p.shape, generator=g))
    return out


def rows(store_dir: Path, table: str) -> pd.DataFrame:
    """A store table sorted on every column but its values (lists made sortable)."""
    df = getattr(cs.Store(store_dir), table)()
    for col in ("labels", "shape"):
        if col in df:
            df[col] = df[col].map(lambda v: tuple(v) if isinstance(v, list | np.ndarray) else v)
    keys = [c for c in df.columns if c not in ("value", "values")]
    return df.sort_values(keys, na_position="first").reset_index(drop=True)


def assert_same_rows(a: Path, b: Path) -> None:
    scalars_a, scalars_b = rows(a, "scalars"), rows(b, "scalars")
    assert len(scalars_a) > 0
    pd.testing.assert_frame_equal(scalars_a, scalars_b, check_exact=True)
    arrays_a, arrays_b = rows(a, "arrays"), rows(b, "arrays")
    assert len(arrays_a) > 0
    pd.testing.assert_frame_equal(arrays_a.drop(columns="values"), arrays_b.drop(columns="values"))
    for x, y in zip(arrays_a["values"], arrays_b["values"], strict=True):
        np.testing.assert_array_equal(x, y)


@pytest.fixture
def ids(tmp_path: Path) -> str:
    """Evaluation token ids (the saved models carry no tokenizer)."""
    path = tmp_path / "ids.npy"
    np.save(path, np.random.default_rng(0).integers(0, 64, size=400))
    return str(path)


@pytest.mark.parametrize(("model_type", "tie"), CASES, ids=lambda v: str(v))
def test_in_memory_sweep_equals_the_saved_weights_sweep(model_type, tie, tmp_path, ids):
    models = {0: build(model_type, tie)}
    models[10] = perturbed(models[0])
    for step, model in models.items():
        model.save_pretrained(tmp_path / "saved" / model_type / f"step{step}")
    disk = FolderSuite(tmp_path / "saved", name="memory")
    memory = ModelSource({model_type: models})
    for step in models:  # the same tensors, under the same names
        with memory.open(model_type, step) as m, disk.open(model_type, step) as d:
            assert sorted(m.tensors(), key=str) == sorted(d.tensors(), key=str)
    options = {"analyses": ANALYSES, "data": ids, "options": EVAL, "progress": False}
    from_memory = cs.sweep(models=memory, out=tmp_path / "memory", **options)
    from_disk = cs.sweep(disk, tmp_path / "disk", **options)
    assert from_memory.failed == from_disk.failed == {}
    assert from_memory.written == from_disk.written == 2 * len(ANALYSES)
    assert not from_memory.skipped
    assert_same_rows(tmp_path / "memory", tmp_path / "disk")


def test_lm_head_is_stored_as_embed_out():
    model = build("gpt_neox")
    assert "lm_head.weight" in model.state_dict()  # transformers 5's in-memory name
    adapter = get_adapter(model.config.to_dict())
    assert adapter.stored_name("lm_head.weight") == "embed_out.weight"
    source = ModelSource({"neox": {0: model, 1: (model.state_dict(), model.config)}})
    for step in (0, 1):
        with source.open("neox", step) as ckpt:
            names = {t.name for t in ckpt.tensors()}
            assert "embed_out.weight" in names and "lm_head.weight" not in names
            unembed = ckpt.read("embed_out.weight")
            assert unembed.data_ptr() == model.lm_head.weight.data_ptr()  # no copy
            assert not unembed.requires_grad
            assert adapter.canonical("embed_out.weight").label() == "unembed.weight"


def test_run_sweep_reads_the_unembedding_of_an_in_memory_model(tmp_path):
    model = build("gpt_neox")
    config = SweepConfig(suite="memory", out=tmp_path / "s", analyses=("weights",))
    result = run_sweep(config, suite=ModelSource({"neox": {0: model}}))
    assert result.exit_code == 0, result.failed
    norm = cs.Store(tmp_path / "s").scalars(metric="norm", component="unembed")
    assert norm.value.tolist() == [pytest.approx(model.lm_head.weight.norm().item())]


def test_stored_names_pass_through():
    model = build("gpt_neox")
    state = {("embed_out.weight" if k == "lm_head.weight" else k): v
             for k, v in model.state_dict().items()}  # fmt: skip
    with ModelSource({"neox": {0: (state, model.config.to_dict())}}).open("neox", 0) as ckpt:
        assert ckpt.read("embed_out.weight").data_ptr() == model.lm_head.weight.data_ptr()


def test_tied_unembedding_is_stored_once():
    model = build("gpt_neox", tie=True)
    with ModelSource({"neox": {0: model}}).open("neox", 0) as ckpt:
        names = {t.name for t in ckpt.tensors()}
    assert "gpt_neox.embed_in.weight" in names
    assert not {"lm_head.weight", "embed_out.weight"} & names  # as save_pretrained writes


def test_state_dict_forms_and_callables_sweep_alike(tmp_path):
    base = build("llama")
    later = perturbed(base)
    forms = {
        "models": {0: base, 5: later},
        "pairs": {0: (base.state_dict(), base.config), 5: (later.state_dict(),
                                                            later.config.to_dict())},
        "callables": {0: lambda: base, 5: lambda: (later.state_dict(), later.config)},
    }  # fmt: skip
    for form, steps in forms.items():
        result = cs.sweep(models=steps, out=tmp_path / form, analyses="weights,spectra",
                          name="llama", progress=False)  # fmt: skip
        assert result.exit_code == 0 and result.written == 4, result.failed
    assert_same_rows(tmp_path / "models", tmp_path / "pairs")
    assert_same_rows(tmp_path / "models", tmp_path / "callables")


def test_callables_run_once_per_sweep(tmp_path):
    base = build("gpt2")
    calls: list[int] = []

    def at(step: int):
        def make():
            calls.append(step)
            return perturbed(base, seed=step)

        return make

    steps = [0, 1, 2, 3, 4, 5]
    source = ModelSource({"gpt2": {s: at(s) for s in steps}})
    assert calls == []  # nothing produced until opened
    # weights reads the initial and the previous step beside each step
    result = cs.sweep(source, tmp_path / "store", analyses=["weights"], progress=False)
    assert result.exit_code == 0 and result.written == len(steps)
    assert calls == steps
    dist = cs.Store(tmp_path / "store").scalars(metric="dist_init", component="embed")
    assert (dist[dist.step > 0].value > 0).all()
    with source.open("gpt2", 3):  # the sweep closed the source: held results were dropped
        assert calls[-1] == 3


def test_flat_mapping_is_named_by_model_type_or_name(tmp_path):
    model = build("gpt2")
    cs.sweep(models={0: model}, out=tmp_path / "a", analyses="weights", progress=False)
    assert set(cs.Store(tmp_path / "a").scalars().model) == {"gpt2"}
    cs.sweep(models={0: model}, out=tmp_path / "b", analyses="weights", name="mine",
             progress=False)  # fmt: skip
    assert set(cs.Store(tmp_path / "b").scalars().model) == {"mine"}
    cs.sweep(models={0: lambda: model}, out=tmp_path / "c", analyses="weights", progress=False)
    assert set(cs.Store(tmp_path / "c").scalars().model) == {"model"}


def test_activations_need_a_tokenizer_or_data(tmp_path):
    model = build("gpt_neox")
    result = cs.sweep(models={0: model}, out=tmp_path / "s", analyses="weights,activations",
                      progress=False)  # fmt: skip
    assert result.exit_code == 0 and "activations" in result.skipped
    source = ModelSource({"neox": {0: model}}, tokenizer=CORPUS_DIR)
    with source.open("neox", 0) as ckpt:
        assert ckpt.tokenizer_dir() == CORPUS_DIR


@pytest.mark.parametrize("step", [-1, "10", 1.5, True])
def test_bad_steps_are_named(step, tmp_path):
    with pytest.raises(UsageError, match=f"step {step!r} is not a non-negative integer"):
        cs.sweep(models={"m": {0: build("gpt2"), step: build("gpt2")}}, out=tmp_path / "s")
    assert not (tmp_path / "s").exists()


@pytest.mark.parametrize("executor", ["process", "ray"])
def test_other_executors_are_refused_before_work(executor, tmp_path):
    with pytest.raises(UsageError, match='in-memory models sweep with executor="local"'):
        cs.sweep(models={0: build("gpt2")}, out=tmp_path / "s", executor=executor)
    assert not (tmp_path / "s").exists()


def test_bad_objects_are_refused(tmp_path):
    model = build("gpt2")
    with pytest.raises(UsageError, match=r"gpt2 step 0: a state dict needs its config"):
        ModelSource({"gpt2": {0: model.state_dict()}})
    with pytest.raises(UsageError, match="a Linear without a Hugging Face config"):
        ModelSource({"lin": {0: torch.nn.Linear(2, 2)}})
    with pytest.raises(UsageError, match="a str, not a transformers model"):
        ModelSource({"x": {0: "model.safetensors"}})
    with pytest.raises(UsageError, match=r"the config of .* is a list"):
        ModelSource({"x": {0: (model.state_dict(), [])}})
    with pytest.raises(UnknownArchitectureError, match="no adapter for model_type 'bert'"):
        ModelSource({"x": {0: ({}, {"model_type": "bert"})}})
    neox = build("gpt_neox")
    state = dict(neox.state_dict())
    state["embed_out.weight"] = state["lm_head.weight"].clone()
    with pytest.raises(UsageError, match=r"'lm_head\.weight' and 'embed_out\.weight' are both"):
        ModelSource({"x": {0: (state, neox.config)}})
    with pytest.raises(UsageError, match="expected a mapping"):
        ModelSource({"x": model})
    with pytest.raises(UsageError, match=r"not a folder with tokenizer\.json"):
        ModelSource({"x": {0: model}}, tokenizer=tmp_path)
    with pytest.raises(UsageError, match="models= or a suite, not both"):
        cs.sweep(tmp_path / "s", models={0: model})
    with pytest.raises(UsageError, match="name= and tokenizer= go with in-memory"):
        cs.sweep(tmp_path / "suite", tmp_path / "s", name="x")
    with pytest.raises(UsageError, match="name= names the model of"):
        cs.sweep(models={"a": {0: model}}, out=tmp_path / "s", name="x")


def test_a_failing_callable_fails_its_checkpoint_only(tmp_path):
    model = build("gpt2")

    def broken():
        raise OSError("weights gone")

    source = ModelSource({"gpt2": {0: model, 1: broken, 2: lambda: "nonsense"}})
    with pytest.raises(CheckpointError, match="gpt2 step 1: OSError: weights gone"):
        source.open("gpt2", 1)
    result = cs.sweep(source, tmp_path / "s", analyses="weights", progress=False)
    assert result.written == 1 and len(result.failed) == 2
    assert "gpt2 step 2: a str, not a transformers model" in " ".join(result.failed.values())


def test_activation_passes_never_write_into_the_users_models(tmp_path, ids):
    """The activations pass reuses one model across checkpoints; a later step in another
    dtype is cast into it, which must not land in an earlier step's (the user's) tensors."""
    first = build("gpt_neox")
    later = perturbed(first).to(torch.bfloat16)
    before = {k: v.clone() for k, v in first.state_dict().items()}
    cs.sweep(models={0: first, 10: later}, out=tmp_path / "s", analyses=["activations"],
             data=ids, options=EVAL, progress=False)  # fmt: skip
    for name, tensor in first.state_dict().items():
        assert torch.equal(tensor, before[name]), name
