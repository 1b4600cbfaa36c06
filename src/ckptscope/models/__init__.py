"""Models for activation and gradient analyses: swap, residual hooks, evaluation batch."""

from ckptscope.models.batch import BatchConfig, EvalBatch, NoEvalData, eval_batch
from ckptscope.models.cache import WorkerCache
from ckptscope.models.forward import forward_backward
from ckptscope.models.hooks import capture_residuals, find_blocks, residual_hooks
from ckptscope.models.resid_stats import ResidualStats
from ckptscope.models.swap import SwappableModel, parse_dtype

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
