"""Per-head attention circuits from split head weights (all in canonical orientation)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ckptscope.adapters.base import HeadWeights

if TYPE_CHECKING:
    import torch


def ov_circuits(h: HeadWeights) -> torch.Tensor:
    """OV circuit per head, ``O_h @ V_h``: (n_heads, d_model, d_model), maps residual to residual."""
    # (heads, d_model, d_head) @ (heads, d_head, d_model)
    return h.o @ h.v


def qk_circuits(h: HeadWeights) -> torch.Tensor:
    """QK circuit per head, ``Q_h^T K_h``: (n_heads, d_model, d_model); score = x_q^T QK x_k."""
    # (heads, d_model, d_head) @ (heads, d_head, d_model)
    return h.q.transpose(1, 2) @ h.k


def split_out(o: torch.Tensor, n_heads: int, d_head: int) -> torch.Tensor:
    """The output projection [d_model, n_heads*d_head] as (n_heads, d_model, d_head)."""
    # columns ordered (head, d_head): (d_model, heads, d_head) -> (heads, d_model, d_head)
    return o.reshape(o.shape[0], n_heads, d_head).permute(1, 0, 2).contiguous()
