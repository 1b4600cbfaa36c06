"""Model swap: build each architecture once, then copy every checkpoint's weights into it.

``from_pretrained`` per checkpoint re-creates the module tree, re-initialises and converts
every time; a sweep over hundreds of checkpoints of one model only needs new tensor values.
The model is built from ``config.json`` once per sweep worker (a ``WorkerCache``, keyed by the config's JSON, dtype
and device) and each checkpoint's tensors are streamed in one at a time: adopted as the
parameter's data when dtype and device already match (no second copy), else ``copy_``-cast.
"""

from __future__ import annotations

import json
import logging
import weakref
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from ckptscope.errors import CheckpointError, UsageError
from ckptscope.sources.base import Checkpoint

log = logging.getLogger(__name__)

_DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}
# Config keys that do not change the architecture (checkpoints of one model differ in them).
_VOLATILE = ("_name_or_path", "transformers_version", "torch_dtype", "dtype", "_commit_hash")


def parse_dtype(name: str | None) -> torch.dtype:
    """A torch dtype from its name; None means float32."""
    if name is None:
        return torch.float32
    try:
        return _DTYPES[str(name).removeprefix("torch.")]
    except KeyError:
        raise UsageError(f"unknown dtype {name!r}; known: {', '.join(_DTYPES)}") from None


def config_key(config: dict[str, Any]) -> str:
    """The architecture identity of a config: its JSON without per-checkpoint fields."""
    return json.dumps({k: v for k, v in config.items() if k not in _VOLATILE}, sort_keys=True)


class SwappableModel:
    """One built causal LM and the checkpoint whose weights it currently holds."""

    def __init__(self, config: dict[str, Any], dtype: torch.dtype, device: str) -> None:
        from transformers import AutoModelForCausalLM
        from transformers.models.auto.configuration_auto import CONFIG_MAPPING

        model_type = config.get("model_type")
        if model_type not in CONFIG_MAPPING:
            raise UsageError(f"transformers knows no model_type {model_type!r}")
        hf_config = CONFIG_MAPPING[model_type].from_dict(dict(config))
        # Built on its device and in its dtype: building a 1.4b model on the host (random
        # init) and moving it to an H200 took most of 68 s (benchmarks/NOTES.md), and
        # building in the config's dtype first would hold two copies on the device.
        with torch.device(device):
            try:
                model = AutoModelForCausalLM.from_config(hf_config, dtype=dtype)
            except TypeError:  # transformers before `dtype=`
                model = AutoModelForCausalLM.from_config(hf_config, torch_dtype=dtype)
        self.model: nn.Module = model.to(device=device, dtype=dtype).eval()
        self.dtype = dtype
        self.device = device
        self._loaded: weakref.ref[Checkpoint] | None = None  # the checkpoint it holds
        prefix = getattr(model, "base_model_prefix", "") or ""
        self._prefix = f"{prefix}." if prefix else ""
        # Tied parameters appear once in named_parameters(); keep every alias to find them.
        self._aliases: dict[str, list[str]] = {}
        by_id: dict[int, str] = {}
        for name, p in model.named_parameters(remove_duplicate=False):
            first = by_id.setdefault(id(p), name)
            self._aliases.setdefault(first, []).append(name)
        persistent = set(model.state_dict())
        self._buffers = [n for n, _ in model.named_buffers() if n in persistent]
        self._rename = _checkpoint_renamer(model)
        #: model parameter name -> the checkpoint tensor it was read from (last load)
        self.raw_names: dict[str, str] = {}

    def load(self, ckpt: Checkpoint) -> nn.Module:
        """Copy ``ckpt``'s tensors into the model (no-op when it already holds them)."""
        if self.holds(ckpt):
            return self.model
        self._loaded = None
        # Checkpoint name as the model calls it -> checkpoint name (e.g. embed_out -> lm_head).
        stored = {self._rename(t.name): t.name for t in ckpt.tensors()}
        raw_names: dict[str, str] = {}
        params = dict(self.model.named_parameters())
        buffers = dict(self.model.named_buffers())
        with torch.no_grad():
            for name, aliases in self._aliases.items():
                raw = self._find(name, aliases, stored)
                if raw is None:
                    raise CheckpointError(
                        f"{ckpt.model} step {ckpt.step}: no tensor {name!r} in the checkpoint "
                        f"(model {type(self.model).__name__})"
                    )
                self._copy(ckpt, raw, params[name])
                raw_names[name] = raw
            for name in self._buffers:
                # Persistent buffers are kept at their init value when absent, as
                # from_pretrained does; non-persistent ones (rotary, masks) never change.
                raw = self._find(name, [name], stored)
                if raw is not None:
                    self._copy(ckpt, raw, buffers[name])
        self.raw_names = raw_names
        self._loaded = weakref.ref(ckpt)
        return self.model

    def holds(self, ckpt: Checkpoint) -> bool:
        """Whether the model holds exactly this checkpoint object's weights."""
        # The object, not (model, step): a reopened or rewritten checkpoint is reloaded.
        return self._loaded is not None and self._loaded() is ckpt

    def _find(self, name: str, aliases: list[str], stored: dict[str, str]) -> str | None:
        for alias in aliases:
            for cand in (alias, alias.removeprefix(self._prefix), self._prefix + alias):
                if cand in stored:
                    return stored[cand]
        return None

    def _copy(self, ckpt: Checkpoint, raw: str, target: torch.Tensor) -> None:
        tensor = ckpt.read(raw)
        if tuple(tensor.shape) != tuple(target.shape):
            raise CheckpointError(
                f"{ckpt.model} step {ckpt.step}: tensor {raw!r} has shape "
                f"{tuple(tensor.shape)}, the model expects {tuple(target.shape)}"
            )
        if (
            tensor.dtype == target.dtype
            and tensor.device == target.device
            and ckpt.reads_are_private
        ):
            # The read tensor is ours: adopt its memory instead of a second full copy (on a
            # busy CPU a parallel copy_ of every tensor costs more than the read itself). A
            # model held in memory is copied: a later checkpoint's copy_ would write into it.
            target.data = tensor.contiguous()
        else:
            target.copy_(tensor)  # casts to the model's dtype and device in one pass


def _checkpoint_renamer(model: nn.Module) -> Callable[[str], str]:
    """Checkpoint key -> model key, with transformers' own renamings (v5: embed_out -> lm_head)."""
    try:
        from transformers.conversion_mapping import get_model_conversion_mapping
        from transformers.core_model_loading import WeightRenaming, rename_source_key
    except ImportError:  # transformers 4: checkpoint keys are the model's keys
        return lambda key: key
    renamings = [
        t for t in get_model_conversion_mapping(model) if isinstance(t, WeightRenaming)
    ]  # converters that merge or split tensors are not supported: such tensors go missing

    def rename(key: str) -> str:
        return rename_source_key(key, renamings, [])[0]

    return rename
