"""The typed records analyses and derivations produce, and what derivations read.

This module sits below both ``analyses`` (which produce records) and ``store`` (which
writes and reads them): neither imports the other. Where each record goes in the store
(schema v2, ``store/schema.py``):

* :class:`Scalar` - one number: a row of ``scalars`` (``label`` NULL);
* :class:`Label` - one categorical finding (the best-fitting family): a row of
  ``scalars`` with ``value`` NULL and ``label`` set;
* :class:`Array` - one array: a row of ``arrays``;
* :class:`Bookkeeping` - a count or flag that describes the computation (sample sizes,
  ``degenerate``), not the checkpoint: kept in the task's ``meta`` JSON in ``tasks``;
* :class:`Event` - something a derivation found across steps: a row of ``events``;
* :class:`DerivedScalar` - a derivation's Scalar or Label at one (model, step).

``head`` is the attention head of a per-head row (None for a whole tensor).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True)
class Scalar:
    """One number: a row of the tidy ``scalars`` table."""

    component: str
    block: int | None
    param: str
    metric: str
    value: float
    head: int | None = None


@dataclass(frozen=True)
class Label:
    """One categorical result (e.g. ``fit_winner="student_t"``): a ``scalars`` row with a label."""

    component: str
    block: int | None
    param: str
    metric: str
    label: str
    head: int | None = None


@dataclass(frozen=True)
class Array:
    """One array (histogram, spectrum, quantiles, matrix, token table): a row of ``arrays``.

    ``values`` is stored flattened with its ``shape``; ``labels`` carries strings (tokens).
    """

    component: str
    block: int | None
    param: str
    kind: str
    values: np.ndarray
    labels: tuple[str, ...] | None = None
    meta: str | None = None  # small JSON string: bin scheme, sampling, units
    head: int | None = None


@dataclass(frozen=True)
class Bookkeeping:
    """A count or flag about the computation (``n_fit``, ``degenerate``), kept in task meta."""

    component: str
    block: int | None
    param: str
    name: str
    value: float
    head: int | None = None

    def where(self) -> str:
        """The key of its tensor in ``meta["bookkeeping"]``: ``qkv.0.weight``, ``q.1.weight[h3]``."""
        block = "" if self.block is None else f".{self.block}"
        head = "" if self.head is None else f"[h{self.head}]"
        return f"{self.component}{block}.{self.param}{head}"


Record = Scalar | Label | Array | Bookkeeping


@dataclass(frozen=True)
class Event:
    """Something found across steps: a phase change, a duplicate checkpoint, a warning."""

    model: str
    step: int | None
    kind: str  # e.g. "phase_change", "duplicate_checkpoint"
    message: str
    component: str | None = None
    block: int | None = None
    param: str | None = None
    metric: str | None = None


@dataclass(frozen=True)
class DerivedScalar:
    """A derivation's scalar (or label) row at one (model, step)."""

    model: str
    step: int
    record: Scalar | Label


@dataclass
class Derived:
    """What a derivation writes: per-step scalar rows and events."""

    scalars: list[DerivedScalar] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)


@runtime_checkable
class StoreReader(Protocol):
    """What a derivation reads: a store's tables (``store/reader.py`` implements it)."""

    def scalars(self, **where: Any) -> pd.DataFrame:
        """Rows of ``scalars``, filtered by equality on columns."""
        ...

    def arrays(self, **where: Any) -> pd.DataFrame:
        """Rows of ``arrays``, ``values`` reshaped to numpy arrays."""
        ...

    def events(self) -> pd.DataFrame:
        """Rows of ``events``."""
        ...

    def table(self, name: str, **where: Any) -> pd.DataFrame:
        """A whole table, filtered by equality on columns."""
        ...

    def query(self, sql: str) -> pd.DataFrame:
        """One read-only SELECT over the tables."""
        ...


#: Metric names that describe the computation, not the checkpoint: written as
#: :class:`Bookkeeping` (task meta), never as ``scalars`` rows. ``grad_numel`` is the
#: gradients analysis's ``numel``.
BOOKKEEPING_METRICS = frozenset({"numel", "grad_numel", "n_values", "n_fit", "degenerate"})


def metric_records(
    component: str,
    block: int | None,
    param: str,
    metrics: Mapping[str, float],
    *,
    prefix: str = "",
    head: int | None = None,
) -> list[Scalar | Bookkeeping]:
    """Records for several metrics of one tensor: bookkeeping names become Bookkeeping."""
    out: list[Scalar | Bookkeeping] = []
    for name, value in metrics.items():
        metric = f"{prefix}{name}"
        cls = Bookkeeping if metric in BOOKKEEPING_METRICS else Scalar
        out.append(cls(component, block, param, metric, float(value), head))
    return out
