"""Training experiments that the post proposes (``init_from_final``: init from the final
weights' distribution)."""

from ckptscope.experiments.curves import seed_bands, spread, steps_to_target, trailing_mean
from ckptscope.experiments.init_from_final import (
    InitFromFinalConfig,
    init_from_final,
    run_init_from_final,
    run_name,
)
from ckptscope.experiments.inits import INITS, init_from, permute_like, sample_like
from ckptscope.experiments.results import InitFromFinalResult, InitRow

__all__ = [
    "INITS",
    "InitFromFinalConfig",
    "InitFromFinalResult",
    "InitRow",
    "init_from",
    "init_from_final",
    "permute_like",
    "run_init_from_final",
    "run_name",
    "sample_like",
    "seed_bands",
    "spread",
    "steps_to_target",
    "trailing_mean",
]
