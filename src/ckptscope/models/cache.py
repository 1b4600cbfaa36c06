"""The one cache a sweep worker keeps between checkpoints: built models and the eval batch.

Building a transformers model costs more than loading a checkpoint into it, and the
evaluation batch is the same for every checkpoint of a sweep, so both outlive one
checkpoint. They live in a :class:`WorkerCache` that the sweep passes to every
:class:`~ckptscope.analyses.base.CheckpointContext` explicitly; nothing else is kept
between checkpoints. ``clear()`` frees it.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

    from ckptscope.models.batch import EvalBatch
    from ckptscope.models.swap import SwappableModel
    from ckptscope.sources.base import Checkpoint

log = logging.getLogger(__name__)

MAX_MODELS = 2  # architectures kept built at once (a sweep goes model by model)


class WorkerCache:
    """Built models (at most ``max_models`` architectures) and one evaluation batch."""

    def __init__(self, max_models: int = MAX_MODELS) -> None:
        self.max_models = max_models
        self._models: OrderedDict[tuple[str, str, str], SwappableModel] = OrderedDict()
        self._batch: tuple[Hashable, EvalBatch] | None = None

    def model(
        self, ckpt: Checkpoint, dtype: torch.dtype | None = None, device: str = "cpu"
    ) -> SwappableModel:
        """A model of ``ckpt``'s architecture (built once, then reused) holding its weights;
        ``dtype`` float32 unless given."""
        import torch

        from ckptscope.models.swap import SwappableModel, config_key

        dtype = torch.float32 if dtype is None else dtype
        config = ckpt.config()
        key = (config_key(config), str(dtype), device)
        holder = self._models.get(key)
        if holder is None:
            log.debug("building %s model for %s", config.get("model_type"), ckpt.model)
            holder = SwappableModel(config, dtype, device)
            self._models[key] = holder
            while len(self._models) > self.max_models:
                self._models.popitem(last=False)
        self._models.move_to_end(key)
        holder.load(ckpt)
        return holder

    def batch(self, key: Hashable, build: Callable[[], EvalBatch]) -> EvalBatch:
        """The evaluation batch for ``key``; another key replaces it (one per sweep)."""
        if self._batch is None or self._batch[0] != key:
            self._batch = (key, build())
        return self._batch[1]

    def clear(self) -> None:
        """Drop every built model and the batch (frees their memory)."""
        self._models.clear()
        self._batch = None
