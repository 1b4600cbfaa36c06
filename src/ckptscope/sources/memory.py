"""In-memory models as a source: sweep the models this process holds, writing no weights.

A :class:`ModelSource` is a :class:`~ckptscope.sources.base.Suite` of
``{model: {step: obj}}``, each ``obj`` one of

* a ``transformers`` model (any ``nn.Module`` with a Hugging Face ``config``);
* a ``(state_dict, config)`` pair, ``config`` a dict or a ``transformers`` config;
* a zero-argument callable returning either, called when its step is opened, so that a
  sweep produces the steps one at a time instead of holding them all.

Its checkpoints hold the tensors as ``save_pretrained`` stores them: in-memory names
become stored names through the architecture's adapter (``Adapter.memory_names``: GPT-NeoX's
``lm_head.weight`` is stored as ``embed_out.weight``), and a tensor sharing its memory with
an earlier one (a tied unembedding) is left out, so a sweep writes the same rows as a sweep
of the same weights saved with ``save_pretrained``. Tensors are served detached and without
copies (a model on an accelerator is moved to the CPU one tensor at a time); ckptscope
never writes into them.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeAlias

import torch
from torch import nn

from ckptscope.adapters import get_adapter
from ckptscope.errors import CheckpointError, CkptscopeError, UsageError, one_line
from ckptscope.sources.base import Checkpoint, Suite, TensorInfo
from ckptscope.sources.folder_checkpoint import TOKENIZER_FILES

#: a model, or its state dict with its config
Weights: TypeAlias = nn.Module | tuple[Mapping[str, torch.Tensor], Any]
#: what a step of a :class:`ModelSource` holds: weights, or a callable that returns them
ModelLike: TypeAlias = Weights | Callable[[], Weights]

#: results of a model's callables held besides its first step's (see ``ModelSource``)
_RECENT = 2


@dataclass(frozen=True)
class StoredWeights:
    """One checkpoint's tensors under their stored names, and its config."""

    tensors: Mapping[str, torch.Tensor]
    config: dict[str, Any]


class MemoryCheckpoint(Checkpoint):
    """One model at one step, served from memory."""

    reads_are_private = False  # the user's own parameters: never written into

    def __init__(
        self, model: str, step: int, weights: StoredWeights, tokenizer: Path | None = None
    ) -> None:
        self.model = model
        self.step = step
        self._weights = weights
        self._tokenizer = tokenizer

    def config(self) -> dict[str, Any]:
        return self._weights.config

    def tensors(self) -> list[TensorInfo]:
        return [
            TensorInfo(name, tuple(t.shape), str(t.dtype).removeprefix("torch."))
            for name, t in self._weights.tensors.items()
        ]

    def read(self, name: str) -> torch.Tensor:
        tensor = self._weights.tensors.get(name)
        if tensor is None:
            raise CheckpointError(f"{self.model} step {self.step}: no tensor {name!r} in memory")
        return tensor.cpu()

    def tokenizer_dir(self) -> Path | None:
        return self._tokenizer

    def __repr__(self) -> str:
        return f"MemoryCheckpoint({self.model!r}, step={self.step})"


class ModelSource(Suite):
    """Models held in memory, ``{model: {step: obj}}``, as a suite (see the module doc).

    ``obj`` is a ``transformers`` model, a ``(state_dict, config)`` pair, or a callable
    returning either. Models and pairs are checked here (a bad step, object or
    architecture is a one-line :class:`UsageError`); a callable is checked when its step
    is opened, and what it returns is held while a sweep in step order still needs it: the
    model's first step (every step's distance from the initial weights) and the last two
    produced (the previous step, for update sizes), so each callable runs once per sweep.
    ``tokenizer`` is a folder of Hugging Face tokenizer files that activation and gradient
    analyses encode their text with; without it they need ``data=`` token ids (a ``.npy``)
    or are skipped. A sweep of a ModelSource runs with ``executor="local"``::

        import ckptscope as cs

        source = cs.ModelSource({
            "run-a": {0: model_a0, 1000: model_a1000},
            "run-b": {0: (state_dict_b0, config_b), 1000: lambda: load_b(1000)},
        })
        cs.sweep(source, "runs/store", analyses=["weights", "spectra"])
    """

    local_only = 'in-memory models sweep with executor="local"'

    def __init__(
        self,
        models: Mapping[str, Mapping[int, ModelLike]],
        *,
        name: str = "memory",
        tokenizer: str | Path | None = None,
    ) -> None:
        if not isinstance(models, Mapping) or not models:
            raise UsageError("in-memory models: expected {model_name: {step: model}}")
        self.name = name
        self._tokenizer = _tokenizer_folder(tokenizer)
        self._objects: dict[str, dict[int, StoredWeights | Callable[[], Weights]]] = {}
        for model, steps in models.items():
            if not isinstance(model, str) or not model:
                raise UsageError(f"in-memory model name {model!r} is not a non-empty string")
            if not isinstance(steps, Mapping) or not steps:
                raise UsageError(
                    f"in-memory model {model!r}: expected a mapping {{step: model}}, "
                    f"not {type(steps).__name__}"
                )
            objects: dict[int, StoredWeights | Callable[[], Weights]] = {}
            for key, obj in steps.items():
                step = _step(model, key)
                objects[step] = (
                    obj if _is_lazy(obj) else stored_weights(obj, f"{model} step {step}")
                )
            self._objects[model] = dict(sorted(objects.items()))
        self._held: dict[str, dict[int, StoredWeights]] = {}

    def models(self) -> list[str]:
        return list(self._objects)

    def steps(self, model: str) -> list[int]:
        return list(self._steps_of(model))

    def _steps_of(self, model: str) -> dict[int, StoredWeights | Callable[[], Weights]]:
        try:
            return self._objects[model]
        except KeyError:
            raise UsageError(
                f"no model {model!r} in suite {self.name!r}; models: {', '.join(self._objects)}"
            ) from None

    def open(self, model: str, step: int) -> Checkpoint:
        obj = self._steps_of(model).get(step)
        if obj is None:
            raise CheckpointError(f"{self.name}: no checkpoint for {model} at step {step}")
        weights = obj if isinstance(obj, StoredWeights) else self._produce(model, step, obj)
        return MemoryCheckpoint(model, step, weights, self._tokenizer)

    def _produce(self, model: str, step: int, make: Callable[[], Weights]) -> StoredWeights:
        """A callable's weights: held ones again, else a new call (then the oldest go)."""
        held = self._held.setdefault(model, {})  # in the order the callables ran
        if step in held:
            return held[step]
        where = f"{model} step {step}"
        try:
            obj = make()
        except Exception as err:
            raise CheckpointError(f"{where}: {one_line(err)}") from err
        try:
            weights = stored_weights(obj, where)
        except CkptscopeError as err:  # it names the step already
            raise CheckpointError(str(err)) from None
        held[step] = weights
        first = self.steps(model)[0]
        for old in [s for s in held if s != first][:-_RECENT]:
            del held[old]
        return weights

    def close(self) -> None:
        """Drop the weights held from callables (a later open calls them again)."""
        self._held.clear()

    def describe(self) -> dict[str, Any]:
        return {
            "suite": self.name,
            "source": "memory",
            "models": {m: list(steps) for m, steps in self._objects.items()},
        }


def model_source(
    models: Mapping[Any, Any] | ModelSource,
    *,
    model: str | None = None,
    tokenizer: str | Path | None = None,
) -> ModelSource:
    """A :class:`ModelSource` from ``{step: obj}`` (one model) or ``{model: {step: obj}}``.

    One model is named ``model``, else after its config's ``model_type`` (when its first
    step is not a callable), else ``"model"``. A ModelSource is returned as it is.
    """
    if isinstance(models, ModelSource):
        if model is not None or tokenizer is not None:
            raise UsageError("name= and tokenizer= go with a mapping of models, not a ModelSource")
        return models
    if not isinstance(models, Mapping) or not models:
        raise UsageError(
            "in-memory models: expected {step: model} or {model_name: {step: model}}, "
            f"not {type(models).__name__ if models else 'an empty mapping'}"
        )
    if all(isinstance(k, str) for k in models):
        if model is not None:
            raise UsageError("name= names the model of {step: model}; these models have names")
        return ModelSource(models, tokenizer=tokenizer)
    first = next(iter(models.values()))
    name = model or _model_type(first) or "model"
    return ModelSource({name: models}, tokenizer=tokenizer)


def stored_weights(obj: Weights, where: str) -> StoredWeights:
    """A model's or a ``(state_dict, config)`` pair's tensors as ``save_pretrained`` stores
    them: stored names (the adapter's ``memory_names``), each memory once (the first name
    of tensors sharing it, as a tied unembedding shares the embedding's)."""
    state, config = _state_and_config(obj, where)
    adapter = get_adapter(config)
    tensors: dict[str, torch.Tensor] = {}
    first_name: dict[str, str] = {}
    views: set[tuple[Any, ...]] = set()
    for name, value in state.items():
        if not isinstance(value, torch.Tensor):
            raise UsageError(f"{where}: {name!r} is a {type(value).__name__}, not a tensor")
        tensor = value.detach()
        if tensor.numel():
            view = (tensor.device, tensor.data_ptr(), tensor.dtype, tensor.shape, tensor.stride())
            if view in views:
                continue
            views.add(view)
        stored = adapter.stored_name(name)
        if stored in tensors:
            raise UsageError(
                f"{where}: {first_name[stored]!r} and {name!r} are both stored as {stored!r}"
            )
        tensors[stored] = tensor
        first_name[stored] = name
    return StoredWeights(tensors, config)


def _state_and_config(obj: Weights, where: str) -> tuple[Mapping[str, Any], dict[str, Any]]:
    if isinstance(obj, nn.Module):
        config = getattr(obj, "config", None)
        if not hasattr(config, "to_dict"):
            raise UsageError(
                f"{where}: a {type(obj).__name__} without a Hugging Face config; "
                "give (module.state_dict(), config)"
            )
        return obj.state_dict(), config.to_dict()
    if isinstance(obj, tuple) and len(obj) == 2 and isinstance(obj[0], Mapping):
        state, config = obj
        if hasattr(config, "to_dict"):
            config = config.to_dict()
        if not isinstance(config, Mapping):
            raise UsageError(
                f"{where}: the config of (state_dict, config) is a {type(config).__name__}, "
                "not a dict or a transformers config"
            )
        return state, dict(config)
    if isinstance(obj, Mapping):
        raise UsageError(f"{where}: a state dict needs its config: give (state_dict, config)")
    raise UsageError(
        f"{where}: a {type(obj).__name__}, not a transformers model, a (state_dict, config) "
        "pair or a callable returning one"
    )


def _is_lazy(obj: object) -> bool:
    """A callable that returns the weights (an ``nn.Module`` is callable but is weights)."""
    return callable(obj) and not isinstance(obj, nn.Module)


def _step(model: str, step: object) -> int:
    if isinstance(step, bool) or not isinstance(step, numbers.Integral) or step < 0:
        raise UsageError(
            f"in-memory model {model!r}: step {step!r} is not a non-negative integer "
            "(a training step)"
        )
    return int(step)


def _model_type(obj: object) -> str | None:
    """The ``model_type`` of a model's or a pair's config; None for a callable."""
    config = getattr(obj, "config", None) if isinstance(obj, nn.Module) else None
    if isinstance(obj, tuple) and len(obj) == 2:
        config = obj[1]
    if isinstance(config, Mapping):
        found = config.get("model_type")
    else:
        found = getattr(config, "model_type", None)
    return str(found) if found else None


def _tokenizer_folder(tokenizer: str | Path | None) -> Path | None:
    if tokenizer is None:
        return None
    folder = Path(tokenizer).expanduser()
    if not any((folder / f).is_file() for f in TOKENIZER_FILES):
        raise UsageError(
            f"tokenizer {str(folder)!r} is not a folder with {' or '.join(TOKENIZER_FILES)}"
        )
    return folder
