"""The post's findings as measured verdicts: which of them a suite reproduces, with evidence.

``findings(store)`` runs every registered check (one module per family: ``weights``,
``activations``, ``spectra``) and returns one row per (finding, model): ``finding``,
``figure``, ``claim`` (the post's, quoted), ``model``, ``verdict`` (reproduced,
not_reproduced, inconclusive, no_data), ``evidence`` (numbers and steps) and
``thresholds`` (JSON). docs/findings.md lists the checks and their thresholds.
"""

from __future__ import annotations

import sys
import types
from collections.abc import Sequence
from typing import Any

import pandas as pd

from ckptscope.findings import activations, spectra, weights  # noqa: F401  (register)
from ckptscope.findings.base import (
    ALL_SIZES,
    FINDINGS,
    Finding,
    Outcome,
    Thresholds,
    Verdict,
)
from ckptscope.findings.data import FindingData, ScalarReader

COLUMNS = ["finding", "figure", "claim", "model", "verdict", "evidence", "thresholds"]


def findings(
    store: ScalarReader,
    models: Sequence[str] | None = None,
    thresholds: Thresholds | None = None,
    missing: str | None = None,
) -> pd.DataFrame:
    """Every finding's verdict per model (and per suite for size comparisons).

    ``missing`` replaces the sweep hint of ``no_data`` verdicts (for a shipped dataset).
    """
    data = FindingData(store, models, missing)
    th = thresholds or Thresholds()
    everyone = data.all_models()
    rows = []
    for finding in sorted(FINDINGS.values(), key=_order):
        outcomes = finding.check(data, th)
        seen = {o.model for o in outcomes}
        if ALL_SIZES not in seen:  # a model without the rows gets its own no_data line
            hint = "no rows; " + (
                missing or f"run `ckptscope sweep SUITE --analyses {finding.analysis} --out STORE`"
            )
            outcomes += [
                finding.outcome(m, Verdict.NO_DATA, hint) for m in everyone if m not in seen
            ]
        rows += [o.as_row() for o in outcomes]
    return pd.DataFrame(rows, columns=COLUMNS)


def _order(finding: Finding) -> tuple[int, str]:
    """The post's figure order (F1 ... F16), a claim's parts after it."""
    number = finding.figure.removeprefix("F")
    return (int(number) if number.isdigit() else 99, finding.id)


class _CallableModule(types.ModuleType):
    """``ckptscope.findings(store)`` calls :func:`findings`: once this package is imported,
    ``ckptscope.findings`` is the package itself, so the package is made callable."""

    def __call__(self, *args: Any, **kwargs: Any) -> pd.DataFrame:
        return findings(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule

__all__ = [
    "ALL_SIZES",
    "COLUMNS",
    "FINDINGS",
    "Finding",
    "Outcome",
    "Thresholds",
    "Verdict",
    "findings",
]
