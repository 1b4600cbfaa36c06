"""One progress display for long calls (sweeps, reports), in a terminal or a notebook.

``tqdm.auto`` picks a widget in Jupyter and a text bar in a terminal; the bar writes to
stderr, so piped stdout stays clean. Library calls take a ``progress`` callback; the
command line and the top-level Python API (``ckptscope.engine``, ``ckptscope.report``)
drive a :class:`ProgressBar` from it.
"""

from __future__ import annotations

import sys
from types import TracebackType
from typing import Any


class ProgressBar:
    """A context-managed bar: ``update(done, total, description)`` from any callback."""

    def __init__(self, label: str, unit: str = "it", enabled: bool = True) -> None:
        self.label, self.unit, self.enabled = label, unit, enabled
        self._bar: Any = None

    def __enter__(self) -> ProgressBar:
        return self

    def update(self, done: int, total: int | None = None, description: str = "") -> None:
        """Show ``done`` of ``total`` (None: unknown) and what was just finished.

        The bar appears at the first update, so a call refused before any work prints
        only its error.
        """
        if not self.enabled:
            return
        if self._bar is None:
            from tqdm.auto import tqdm

            self._bar = tqdm(desc=self.label, unit=self.unit, total=total, file=sys.stderr,
                             dynamic_ncols=True, leave=True)  # fmt: skip
        bar = self._bar
        if total is not None and bar.total != total:
            bar.total = total
        bar.n = done
        if description:
            bar.set_postfix_str(description, refresh=False)
        bar.refresh()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
