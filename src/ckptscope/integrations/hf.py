"""A Hugging Face ``Trainer`` callback that watches the model while it trains.

::

    from ckptscope.integrations.hf import CkptscopeCallback

    trainer = Trainer(model=model, args=args, train_dataset=data,
                      callbacks=[CkptscopeCallback("runs/watch", analyses=["weights", "spectra"])])
    trainer.train()

The Trainer needs ``accelerate`` (``pip install 'ckptscope[hf]'``).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from transformers import TrainerCallback

from ckptscope.errors import UsageError
from ckptscope.sources.memory import _tokenizer_folder
from ckptscope.store import Store
from ckptscope.watch import Watcher
from ckptscope.watch.budget import DEFAULT_FRACTION, check_fraction
from ckptscope.watch.schedule import watch_steps
from ckptscope.watch.watcher import _analyses, _check_loggers


class CkptscopeCallback(TrainerCallback):
    """Runs a :class:`~ckptscope.watch.Watcher` on the Trainer's model (process zero only).

    ``schedule`` None watches the Pythia-shaped steps of the Trainer's ``max_steps``;
    the other arguments are the Watcher's. ``on_train_begin`` creates the watcher and
    watches the starting step (0, or the step a resumed run starts from: already in the
    store, so skipped); ``on_step_end`` watches ``state.global_step``; ``on_train_end``
    closes it. ``summary`` is the closed watcher's :class:`~ckptscope.watch.WatchSummary`.
    """

    def __init__(
        self,
        store: Store | str | Path,
        schedule: int | Iterable[int] | None = None,
        analyses: str | Iterable[str] | None = None,
        budget: float = DEFAULT_FRACTION,
        batch: str | Path | None = None,
        loggers: Iterable[Any] = (),
        name: str | None = None,
        tokenizer: str | Path | None = None,
        **watcher: Any,
    ) -> None:
        if importlib.util.find_spec("accelerate") is None:
            raise UsageError(
                "the Hugging Face Trainer needs accelerate: pip install 'ckptscope[hf]'"
            )
        # what can be checked without the model is refused before training starts
        if schedule is not None:
            schedule = watch_steps(schedule)
        check_fraction(budget)
        tokenizer_dir = _tokenizer_folder(tokenizer)
        _analyses(analyses, None if batch is None else Path(batch), tokenizer_dir)
        self.store = store
        self.schedule = schedule
        self.kwargs = dict(
            analyses=analyses, budget=budget, batch=batch, loggers=_check_loggers(loggers),
            name=name, tokenizer=tokenizer, **watcher,
        )  # fmt: skip
        self.watcher: Watcher | None = None
        self.summary = None

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        """Create the watcher on the Trainer's model; watch the starting step."""
        if not state.is_world_process_zero:
            return
        model = kwargs.get("model")
        if model is None:
            raise UsageError("CkptscopeCallback: the Trainer passed no model to on_train_begin")
        schedule = self.schedule if self.schedule is not None else state.max_steps
        self.watcher = Watcher(self.store, model, schedule, **self.kwargs)
        self.watcher.step(state.global_step)

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        """Watch the step just taken, when it is scheduled."""
        if self.watcher is not None:
            self.watcher.step(state.global_step)

    def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        """Close the watcher (the store's derivations, the loggers)."""
        if self.watcher is not None:
            self.summary = self.watcher.close()
            self.watcher = None
