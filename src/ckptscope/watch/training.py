"""The offline trainer's watcher (``ckptscope train --watch STORE``): one per model."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from torch import nn

from ckptscope.errors import UsageError
from ckptscope.watch.budget import DEFAULT_FRACTION, check_fraction
from ckptscope.watch.watcher import Watcher


@dataclass(frozen=True)
class TrainWatch:
    """Watch each model of a suite while it trains, into ``store``.

    ``analyses`` None: every default analysis (activations and gradients on the shipped
    held-out corpus); ``budget`` the share of each model's training time its watcher may
    take.
    """

    store: str | Path
    analyses: tuple[str, ...] | None = None
    budget: float = DEFAULT_FRACTION

    def __post_init__(self) -> None:
        check_fraction(self.budget)

    def check(self) -> None:
        """Refuse, in one line and before any training, analyses that do not exist and a
        store that cannot be opened (a file, an unwritable folder, a newer schema); the
        store is created when missing."""
        from ckptscope.data.corpus import CORPUS_DIR
        from ckptscope.store import Store
        from ckptscope.watch.watcher import _analyses

        _analyses(self.analyses, None, CORPUS_DIR)
        try:
            Store(self.store)
        except OSError as err:
            raise UsageError(f"--watch store {self.store}: {err.strerror or err}") from None


def suite_watcher(
    watch: TrainWatch | str | Path, model: nn.Module, model_name: str, suite: str, steps: list[int]
) -> Watcher:
    """A watcher of one model of a suite at its checkpoint steps: the rows of a sweep of
    the suite (same suite and model names, the suite's tokenizer)."""
    from ckptscope.data.corpus import CORPUS_DIR

    if not isinstance(watch, TrainWatch):
        watch = TrainWatch(watch)
    return Watcher(
        watch.store,
        model,
        schedule=steps,
        analyses=watch.analyses,
        budget=watch.budget,
        name=model_name,
        tokenizer=CORPUS_DIR,  # tokenizer.json: what every checkpoint of the suite carries
        suite=suite,
        derive=False,  # train_suite derives once, when every model is in the store
    )
