"""Models for activation and gradient analyses: swap, residual hooks, evaluation batch.

Names are imported on first use (PEP 562): ``models.cache`` alone stays light.
"""

from __future__ import annotations

from ckptscope._lazy import lazy_names

#: public name -> the module that defines it (imported on first use)
_LAZY = {
    "BatchConfig": "ckptscope.models.batch",
    "EvalBatch": "ckptscope.models.batch",
    "NoEvalData": "ckptscope.models.batch",
    "eval_batch": "ckptscope.models.batch",
    "WorkerCache": "ckptscope.models.cache",
    "forward_backward": "ckptscope.models.forward",
    "capture_residuals": "ckptscope.models.hooks",
    "find_blocks": "ckptscope.models.hooks",
    "residual_hooks": "ckptscope.models.hooks",
    "ResidualStats": "ckptscope.models.resid_stats",
    "SwappableModel": "ckptscope.models.swap",
    "parse_dtype": "ckptscope.models.swap",
}


__getattr__, __dir__ = lazy_names(__name__, _LAZY)


__all__ = [
    "BatchConfig",
    "EvalBatch",
    "NoEvalData",
    "ResidualStats",
    "SwappableModel",
    "WorkerCache",
    "capture_residuals",
    "eval_batch",
    "find_blocks",
    "forward_backward",
    "parse_dtype",
    "residual_hooks",
]
