"""The trained model an experiment starts from, read and checked before any work.

Only suites written by the offline trainer (``train/suite.py``: ``suite.json`` of format
``ckptscope-suite/1``) qualify: the experiment retrains with their recipe, corpus and data
order, so every one of those must be in the manifest and match what is installed.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ckptscope.errors import CheckpointError, UsageError, first_line
from ckptscope.train.config import ModelSize, SuiteConfig, TrainConfig, size_name

FORMAT = "ckptscope-suite/1"
_INT_FIELDS = ("steps", "batch_size", "seq_len", "min_warmup_steps", "n_even_checkpoints",
               "heldout_tokens")  # fmt: skip


@dataclass(frozen=True)
class SourceModel:
    """One finished model of an offline-trained suite, with the recipe that trained it."""

    suite_dir: Path
    manifest: dict[str, Any]
    model: str
    size: ModelSize
    size_label: str  # ``w64``, or ``w64l4`` when the suite has another size of that width
    train: TrainConfig
    vocab_size: int
    final_step: int
    corpus_path: Path | None  # None: the shipped corpus

    @property
    def final_dir(self) -> Path:
        """The folder of the final checkpoint."""
        return self.suite_dir / self.model / f"step{self.final_step}"


def _number(where: str, value: Any, kind: type) -> Any:
    ok = isinstance(value, int | float) and not isinstance(value, bool)
    if kind is int:
        ok = ok and float(value).is_integer()
    if not ok or not math.isfinite(value):
        raise UsageError(f"{where} is {value!r}, not a finite {kind.__name__}")
    return kind(value)


def _train_config(manifest: dict[str, Any], where: str) -> TrainConfig:
    raw = manifest.get("train")
    if not isinstance(raw, dict):
        raise UsageError(f"{where}: 'train' is missing or not an object")
    names = {f.name for f in dataclasses.fields(TrainConfig)}
    if raw.keys() != names:
        odd = sorted(raw.keys() ^ names)
        raise UsageError(f"{where}: 'train' has unknown or missing fields: {', '.join(odd)}")
    values: dict[str, Any] = {}
    for name in names:
        key = f"{where}: train.{name}"
        if name == "betas":
            betas = raw[name]
            if not isinstance(betas, list | tuple) or len(betas) != 2:
                raise UsageError(f"{key} is {betas!r}, not two numbers")
            values[name] = tuple(_number(key, b, float) for b in betas)
        else:
            values[name] = _number(key, raw[name], int if name in _INT_FIELDS else float)
    return TrainConfig(**values)


def _size(entry: dict[str, Any], where: str) -> ModelSize:
    heads = entry.get("n_heads")
    return ModelSize(
        width=_number(f"{where}.width", entry.get("width"), int),
        n_layers=_number(f"{where}.n_layers", entry.get("n_layers"), int),
        n_heads=None if heads is None else _number(f"{where}.n_heads", heads, int),
        lr=_number(f"{where}.lr", entry.get("lr"), float),
    )


def read_source(suite_dir: Path | str, model: str) -> SourceModel:
    """Read and check ``suite_dir``'s manifest and its ``model``; UsageError in one line."""
    suite_dir = Path(suite_dir)
    path = suite_dir / "suite.json"
    if not suite_dir.is_dir():
        raise UsageError(f"suite {str(suite_dir)!r} is not a folder")
    if not path.is_file():
        raise UsageError(
            f"{str(suite_dir)!r} is not an offline-trained ckptscope suite (no suite.json); "
            "train one with `ckptscope train`"
        )
    try:
        manifest = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise UsageError(f"cannot read {str(path)!r}: {first_line(err)}") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        got = manifest.get("format") if isinstance(manifest, dict) else type(manifest).__name__
        raise UsageError(
            f"{str(path)!r} is not an offline-trained ckptscope suite (format {got!r}, "
            f"expected {FORMAT!r})"
        )
    where = str(path)
    entries = manifest.get("models")
    if not isinstance(entries, list) or not all(isinstance(m, dict) for m in entries):
        raise UsageError(f"{where}: 'models' is missing or not a list of objects")
    names = [str(m.get("name")) for m in entries]
    if model not in names:
        raise UsageError(f"unknown model {model!r} in {where}; its models: {', '.join(names)}")
    sizes = {n: _size(m, f"{where}: model {n}") for n, m in zip(names, entries, strict=True)}
    size = sizes[model]
    unique = tuple(dict.fromkeys(sizes.values()))
    label = size_name(size, tuple(dataclasses.replace(s, lr=None) for s in unique))
    steps = manifest.get("steps")
    if not isinstance(steps, list) or not steps:
        raise UsageError(f"{where}: 'steps' is missing or empty")
    final_step = max(_number(f"{where}: steps", s, int) for s in steps)
    corpus = manifest.get("corpus")
    if not isinstance(corpus, dict) or not isinstance(corpus.get("sha256"), str):
        raise UsageError(f"{where}: 'corpus' has no sha256")
    corpus_path = corpus.get("path")
    vocab = _number(f"{where}: vocab_size", manifest.get("vocab_size"), int)
    source = SourceModel(
        suite_dir=suite_dir,
        manifest=manifest,
        model=model,
        size=size,
        size_label=label,
        train=_train_config(manifest, where),
        vocab_size=vocab,
        final_step=final_step,
        corpus_path=None if corpus_path is None else Path(str(corpus_path)),
    )
    weights = source.final_dir / "model.safetensors"
    if not weights.is_file():
        raise CheckpointError(
            f"model {model!r} has no final checkpoint {str(weights)!r} (unfinished training?)"
        )
    return source


def check_data(source: SourceModel) -> tuple[Any, Any]:
    """The corpus and tokenizer the suite was trained on, checked by sha256."""
    from ckptscope.data.corpus import load_corpus
    from ckptscope.data.tokenizer import load_tokenizer, tokenizer_sha256

    where = str(source.suite_dir / "suite.json")
    corpus = load_corpus(source.corpus_path)
    if corpus.sha256 != source.manifest["corpus"]["sha256"]:
        raise UsageError(
            f"{where}: its corpus {source.manifest['corpus'].get('name')!r} is not the one "
            f"found now (sha256 differs); the data order cannot be reproduced"
        )
    if source.manifest.get("tokenizer_sha256") != tokenizer_sha256():
        raise UsageError(f"{where}: trained with another tokenizer than the installed one")
    vocab = load_tokenizer().get_vocab_size()
    if vocab != source.vocab_size:
        raise UsageError(f"{where}: vocab_size {source.vocab_size} but the tokenizer has {vocab}")
    return corpus, source.corpus_path


def load_final(source: SourceModel) -> dict[str, Any]:
    """The final checkpoint's parameters under the model's own names, checked finite."""
    import torch

    from ckptscope.train import checkpoints as ck
    from ckptscope.train.model import build_model

    model = build_model(source.size, source.vocab_size, source.train.seq_len, 0)
    try:
        ck.load_weights(model, source.final_dir)
    except Exception as err:  # safetensors and load_state_dict raise their own types
        raise CheckpointError(
            f"cannot load {str(source.final_dir / 'model.safetensors')!r} into a "
            f"{source.size_label} model: {first_line(err)}"
        ) from None
    state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    for name, t in state.items():
        if not torch.isfinite(t).all():
            raise CheckpointError(f"{str(source.final_dir)!r}: tensor {name!r} is not finite")
    return state


def experiment_config(
    source: SourceModel, name: str, train: TrainConfig, seeds: tuple[int, ...]
) -> SuiteConfig:
    """The SuiteConfig the experiment trains with: the source's size and recipe."""
    return SuiteConfig(
        name=name, sizes=(source.size,), train=train, seeds=seeds, vocab_size=source.vocab_size
    )
