"""Residual-stream capture with forward hooks on the transformer blocks.

The residual after the embedding is the input of block 0 (token plus any positional
embedding, after embedding dropout); the residual after block ``i`` is block ``i``'s raw
output. Hooks, not ``output_hidden_states``: Hugging Face applies the final LayerNorm to
its last hidden state, while the last block's raw output is what carries the outliers.
A parallel-residual block (GPT-NeoX) has no mid-block residual, so none is captured.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import torch
from torch import nn

#: called with (block index or None for the embedding output, residual (batch, seq, d_model))
ResidFn = Callable[[int | None, torch.Tensor], None]


def find_blocks(model: nn.Module) -> nn.ModuleList:
    """The model's list of transformer blocks: the shallowest ModuleList of n_layers modules."""
    n_layers = getattr(model.config, "num_hidden_layers", None)
    for module in model.modules():  # pre-order: shallowest first
        if isinstance(module, nn.ModuleList) and len(module) == n_layers and n_layers:
            return module
    raise ValueError(
        f"{type(model).__name__}: no ModuleList of num_hidden_layers={n_layers} blocks found"
    )


def _first_tensor(out: object) -> torch.Tensor:
    # Blocks return a tensor (transformers 5) or a tuple whose first item is the residual.
    if isinstance(out, torch.Tensor):
        return out
    if isinstance(out, tuple | list) and out and isinstance(out[0], torch.Tensor):
        return out[0]
    raise TypeError(f"cannot find the residual in a block output of type {type(out).__name__}")


@contextmanager
def residual_hooks(model: nn.Module, fn: ResidFn) -> Iterator[None]:
    """Call ``fn`` with every residual (detached) during forward passes inside the block."""
    blocks = find_blocks(model)

    def pre_hook(module: nn.Module, args: tuple, kwargs: dict) -> None:
        h = kwargs.get("hidden_states", args[0] if args else None)
        fn(None, _first_tensor(h).detach())

    def make_hook(index: int) -> Callable[..., None]:
        def hook(module: nn.Module, args: tuple, out: object) -> None:
            fn(index, _first_tensor(out).detach())

        return hook

    handles = [blocks[0].register_forward_pre_hook(pre_hook, with_kwargs=True)]
    handles += [b.register_forward_hook(make_hook(i)) for i, b in enumerate(blocks)]
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


@torch.no_grad()
def capture_residuals(model: nn.Module, input_ids: torch.Tensor) -> list[torch.Tensor]:
    """Residuals ``[embed, block 0, ..., block L-1]``, each (batch, seq, d_model), one pass."""
    found: dict[int | None, torch.Tensor] = {}

    def keep(index: int | None, h: torch.Tensor) -> None:
        found[index] = h

    with residual_hooks(model, keep):
        model(input_ids=input_ids, use_cache=False)
    n_layers = len(find_blocks(model))
    return [found[None], *(found[i] for i in range(n_layers))]
