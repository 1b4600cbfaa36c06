"""Initial weights drawn from a trained model's final weights: sampled or permuted.

Both are pure functions of (final tensors, seed). ``sampled`` draws every value of a tensor
i.i.d. from that tensor's final values by inverse-CDF sampling of their empirical
distribution (exact order statistics, linear between neighbours), so its histogram is the
final one up to sampling noise; ``permuted`` shuffles each tensor's final values, so its
multiset of values is exactly the final one and only the arrangement is lost. ``standard``
is the trainer's own init (``train/model.py``) and needs no function here.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

import torch

#: the inits the experiment compares, in table order
INITS: tuple[str, ...] = ("standard", "sampled", "permuted")


def _generator(kind: str, seed: int, name: str) -> torch.Generator:
    """A generator for one tensor: independent across kinds, seeds and tensors."""
    digest = hashlib.sha256(f"{kind}:{seed}:{name}".encode()).digest()
    return torch.Generator().manual_seed(int.from_bytes(digest[:8], "little") >> 1)


def sample_like(values: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """i.i.d. draws, shaped like ``values``, from the empirical distribution of ``values``."""
    # float64: the positions u * (n - 1) must resolve every gap between order statistics
    ordered = values.detach().flatten().to(torch.float64).sort().values  # (n,)
    n = ordered.numel()
    if n == 1:
        return values.detach().clone()
    pos = torch.rand(n, generator=gen, dtype=torch.float64) * (n - 1)  # (n,) in [0, n-1)
    lo = pos.floor().long().clamp_(max=n - 2)
    frac = pos - lo
    drawn = ordered[lo] + frac * (ordered[lo + 1] - ordered[lo])
    return drawn.to(values.dtype).reshape(values.shape)


def permute_like(values: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """The values of ``values`` in a random order, same shape (the multiset is unchanged)."""
    flat = values.detach().flatten()
    return flat[torch.randperm(flat.numel(), generator=gen)].reshape(values.shape).clone()


def init_from(
    kind: str, final: Mapping[str, torch.Tensor], seed: int
) -> dict[str, torch.Tensor] | None:
    """The ``kind`` init for ``seed`` from the final tensors; None for ``standard``."""
    if kind == "standard":
        return None
    if kind not in INITS:
        raise ValueError(f"unknown init {kind!r}; known: {', '.join(INITS)}")
    draw = sample_like if kind == "sampled" else permute_like
    return {name: draw(t, _generator(kind, seed, name)) for name, t in sorted(final.items())}
