"""Weights & Biases runs from a store, offline: no network; ``wandb sync DIR/wandb/*`` later.

Given a folder, each (suite, model) gets its own offline run under ``DIR/wandb/``, named
``<suite>/<model>`` (grouped by suite); given a run (``wandb.init(...)``'s, or any object
with ``log``), one model's rows go into it. Each step is one ``run.log(..., step=step)``
with the tags of ``rows.py``, so steps must only increase within a run (a store's do).

Scalars keep their float64 value. Histograms are ``wandb.Histogram(np_histogram=(counts,
edges))`` on the store's own edges; W&B refuses more than 512 bins, so a wider one is
coarsened by summing runs of adjacent bins (``rows.coarsen``: counts stay exact).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ckptscope.errors import UsageError
from ckptscope.export.base import Exporter
from ckptscope.export.rows import StepRows, coarsen, run_parts
from ckptscope.outputs import output_dir

INSTALL_HINT = "wandb export needs the wandb package: pip install 'ckptscope[wandb]'"
#: ``wandb.Histogram``'s own limit
MAX_BINS = 512


def require_wandb() -> Any:
    """The ``wandb`` module; ``UsageError`` (one line naming the extra) when it is missing."""
    try:
        import wandb
    except ImportError:
        raise UsageError(INSTALL_HINT) from None
    return wandb


class WandbExporter(Exporter):
    """Log store rows to W&B: offline runs under a folder (a run per model), or a given run."""

    def __init__(
        self,
        run_or_dir: str | os.PathLike[str] | Any = ".",
        metrics: Sequence[str] | None = None,
        project: str = "ckptscope",
    ) -> None:
        super().__init__(metrics)
        self.project = project
        self._runs: dict[tuple[str, str], Any] = {}
        if isinstance(run_or_dir, str | os.PathLike):
            require_wandb()
            self.root: Path | None = output_dir(run_or_dir, "W&B folder")
            self.run = None
        else:
            if not callable(getattr(run_or_dir, "log", None)):
                raise UsageError(
                    f"WandbExporter needs a folder or a W&B run; "
                    f"{type(run_or_dir).__name__} has no log()"
                )
            self.root = None
            self.run = run_or_dir

    def write(self, rows: StepRows) -> None:
        """Log one model's scalars and histograms at ``rows.step``."""
        wandb = require_wandb()
        data: dict[str, Any] = {s.tag: s.value for s in rows.scalars}
        for h in rows.histograms:
            edges, counts = coarsen(h.edges, h.counts, MAX_BINS)
            data[h.tag] = wandb.Histogram(np_histogram=(counts, edges))
        if not data:
            return
        if self.run is not None:
            self._one_run(rows)
            run = self.run
        else:
            run = self._offline_run(rows.suite, rows.model)
        run.log(data, step=rows.step)

    def _offline_run(self, suite: str, model: str) -> Any:
        key = (suite, model)
        if key not in self._runs:
            wandb = require_wandb()
            assert self.root is not None
            self.root.mkdir(parents=True, exist_ok=True)  # else W&B falls back to a temp dir
            parts = run_parts(suite, model)
            settings = wandb.Settings(
                mode="offline",
                silent=True,
                console="off",
                disable_git=True,
                disable_code=True,
                x_disable_stats=True,
            )
            self._runs[key] = wandb.init(
                dir=str(self.root),
                project=self.project,
                name="/".join(parts),
                group=parts[0],
                config={"suite": suite, "model": model},
                reinit="create_new",  # one run per model, several may be open at once
                settings=settings,
            )
        return self._runs[key]

    def end_run(self, suite: str, model: str) -> None:
        """Finish the offline run of (suite, model)."""
        run = self._runs.pop((suite, model), None)
        if run is not None:
            run.finish()

    def close(self) -> None:
        """Finish every run this exporter started; a given run stays open.

        W&B's service process writes the offline files and may still be writing when this
        returns: they are whole once it stops (at exit, or :func:`stop_wandb_service`).
        """
        for key in list(self._runs):
            self.end_run(*key)


def stop_wandb_service() -> None:
    """Stop this process's W&B service, so every offline run file is whole on disk.

    Ends every W&B run of the process, a user's own too: for a command that is done.
    """
    require_wandb().teardown()
