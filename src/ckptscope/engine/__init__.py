"""The sweep engine: plan, execute, store, derive."""

from ckptscope.engine.executors import Executor, make_executor, register_executor
from ckptscope.engine.plan import CheckpointTask, plan_sweep
from ckptscope.engine.runner import TaskOutcome, run_checkpoint
from ckptscope.engine.sweep import (
    DEFAULT_ANALYSES,
    EXIT_SOME_FAILED,
    Progress,
    SweepConfig,
    SweepResult,
    resolve_analyses,
    run_derivations,
    run_sweep,
)

__all__ = [
    "DEFAULT_ANALYSES",
    "EXIT_SOME_FAILED",
    "CheckpointTask",
    "Executor",
    "Progress",
    "SweepConfig",
    "SweepResult",
    "TaskOutcome",
    "make_executor",
    "plan_sweep",
    "register_executor",
    "resolve_analyses",
    "run_checkpoint",
    "run_derivations",
    "run_sweep",
]
