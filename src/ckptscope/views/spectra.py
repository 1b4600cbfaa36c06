"""Singular-value spectra as a log-log panel draws them: values at log-spaced ranks.

A panel of rank against singular value on log axes cannot show more than about one point
per pixel column. The ranks kept here are the first and last of each
``1 / RANK_BINS_PER_DECADE`` of a decade (0.29 px at the report's 110 dpi in a 3.4-inch
panel): every rank below about 110, then two per bin, about 920 of 5120. A falling
spectrum drawn through them is the whole spectrum's line, within that sliver
(``tests/views/test_spectra.py`` draws both). Only positive values: a log axis has no
zeros (rank-deficient matrices).

The ``spectra`` analysis stores these values beside every whole matrix's singular values
(``LOG_KIND`` rows, with the count of positive values in their ``meta``), so F15 reads a
fifth of the values; :func:`log_spectrum` gives the same values from a whole spectrum, for
stores swept before. NumPy only: no torch, no plotting.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import numpy as np

#: a drawn spectrum keeps the first and last rank in each such fraction of a decade of rank
RANK_BINS_PER_DECADE = 256
#: the ``kind`` of a spectrum's values at :func:`log_grid` ranks (``meta``: :func:`log_meta`)
LOG_KIND = "singular_values_log"
#: more singular values than any matrix has (min(d_out, d_in)): a larger count is refused
MAX_RANK = 10**7


def log_grid(n: int) -> np.ndarray:
    """The ranks (from 1) kept of ``n`` values: the first and last rank of each bin."""
    ranks = np.arange(1, max(int(n), 0) + 1)
    if ranks.size < 3:
        return ranks
    bins = np.floor(np.log10(ranks) * RANK_BINS_PER_DECADE).astype(np.int64)
    edge = bins[1:] != bins[:-1]
    return ranks[np.r_[True, edge] | np.r_[edge, True]]


def log_spectrum(s: object) -> tuple[np.ndarray, int]:
    """A spectrum as drawn: its positive values, descending, at the :func:`log_grid` ranks
    of their count; and that count (a log axis has no zeros: rank-deficient matrices)."""
    s = np.asarray(s, dtype=np.float64).ravel()
    s = -np.sort(-s[s > 0])
    return s[log_grid(s.size) - 1], int(s.size)


def log_meta(positive: int) -> str:
    """The ``meta`` of a ``LOG_KIND`` row of a spectrum with ``positive`` positive values."""
    return json.dumps({"positive": int(positive), "rank_bins_per_decade": RANK_BINS_PER_DECADE})


def positive_count(meta: str | None) -> int:
    """How many positive values the spectrum of a ``LOG_KIND`` row had (from its ``meta``).

    Raises ValueError, naming the problem, for a meta without an integer count from 0 to
    ``MAX_RANK`` or kept at another bin count.
    """
    try:
        doc = json.loads(meta or "")
        n, bins = doc["positive"], doc["rank_bins_per_decade"]
    except (ValueError, TypeError, KeyError):
        raise ValueError(f"{LOG_KIND} meta without positive and rank_bins_per_decade: "
                         f"{meta!r}") from None  # fmt: skip
    if isinstance(n, bool) or not isinstance(n, int) or not 0 <= n <= MAX_RANK:
        raise ValueError(f"{LOG_KIND} meta: positive must be a count up to {MAX_RANK}, "
                         f"got {meta!r}")  # fmt: skip
    if bins != RANK_BINS_PER_DECADE:
        raise ValueError(f"{LOG_KIND} meta: kept at {RANK_BINS_PER_DECADE} bins a decade, "
                         f"got {meta!r}")  # fmt: skip
    return n


def ranks_of(metas: Sequence[str | None]) -> list[np.ndarray]:
    """The ranks of each ``LOG_KIND`` row, from its ``meta`` (rows share a few lengths)."""
    grids: dict[str | None, np.ndarray] = {}
    for meta in metas:
        if meta not in grids:
            grids[meta] = log_grid(positive_count(meta))
    return [grids[m] for m in metas]
