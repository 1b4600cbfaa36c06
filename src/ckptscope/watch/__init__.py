"""Watching a training run: analyse the live model at scheduled steps, into a store."""

from ckptscope.watch.budget import TimeBudget
from ckptscope.watch.schedule import watch_steps
from ckptscope.watch.watcher import OVER_BUDGET, SKIPPED, Watcher, WatchSummary

__all__ = ["OVER_BUDGET", "SKIPPED", "TimeBudget", "WatchSummary", "Watcher", "watch_steps"]
