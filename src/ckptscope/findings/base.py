"""What a finding is: the post's claim, a check over store rows, and a verdict per model.

Each check reads trajectories from the store (never the checkpoints), compares them with
documented :class:`Thresholds`, and returns one :class:`Outcome` per model (or one for
the whole suite, ``model="(all sizes)"``, when the claim compares sizes). A check that
lacks what the claim needs (too few checkpoints, blocks or sizes) says ``inconclusive``
and why; one whose rows are absent says ``no_data`` and which analysis fills them.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ckptscope.findings.data import FindingData

#: the ``model`` of an outcome that compares the suite's sizes
ALL_SIZES = "(all sizes)"


class Verdict(StrEnum):
    """What the suite shows about a claim."""

    REPRODUCED = "reproduced"
    NOT_REPRODUCED = "not_reproduced"
    INCONCLUSIVE = "inconclusive"
    NO_DATA = "no_data"


@dataclass(frozen=True)
class Thresholds:
    """The numbers every check compares against (reported with each verdict)."""

    #: checkpoints a trajectory needs before its shape is judged
    min_checkpoints: int = 5
    #: a rise: the peak at least this fraction above the first checkpoint
    rise: float = 0.02
    #: a decline: the last checkpoint at least this fraction below the peak
    decline: float = 0.01
    #: share of a model's curves (blocks x components) that must show a shape
    share: float = 0.5
    #: levelling off: the last quarter of training adds at most this share of the rise
    level_off: float = 0.25
    #: near-monotone: at least this share of step-to-step changes go the claimed way
    monotone: float = 0.8
    #: excess kurtosis above which a weight matrix counts as heavy-tailed
    heavy_kurtosis: float = 1.0
    #: blocks a claim about the shape over depth needs
    min_blocks: int = 4
    #: an inverted U over depth: both ends at least this fraction below the peak
    u_drop: float = 0.2
    #: power-law spectra: alpha falls by at least this fraction from first to last
    alpha_drop: float = 0.1
    #: "emerges late": closeness reaches half its final value after this share of training
    late: float = 0.5

    def only(self, *names: str) -> dict[str, Any]:
        """The thresholds a check used, for its outcome."""
        return {k: v for k, v in asdict(self).items() if k in names}


@dataclass(frozen=True)
class Outcome:
    """One finding's verdict for one model, with its evidence and thresholds."""

    finding: str
    figure: str
    claim: str
    model: str
    verdict: Verdict
    evidence: str
    thresholds: dict[str, Any] = field(default_factory=dict)

    def as_row(self) -> dict[str, Any]:
        row = asdict(self)
        row["verdict"] = str(self.verdict)
        row["thresholds"] = json.dumps(self.thresholds, sort_keys=True)
        return row


Check = Callable[["FindingData", Thresholds], list[Outcome]]


@dataclass(frozen=True)
class Finding:
    """A claim of the post and the check that measures it on a suite.

    ``id`` is the finding (``F7``, or ``F7-size`` for the part that compares sizes);
    ``figure`` the catalogue figure that shows its evidence; ``analysis`` what fills it.
    """

    id: str
    figure: str
    claim: str
    analysis: str
    check: Check

    def outcome(self, model: str, verdict: Verdict, evidence: str, **thresholds: Any) -> Outcome:
        return Outcome(self.id, self.figure, self.claim, model, verdict, evidence, thresholds)


FINDINGS: dict[str, Finding] = {}


def register_finding(id: str, figure: str, analysis: str, claim: str) -> Callable[[Check], Finding]:
    """Decorator: register ``check`` as the measurement of the post's ``claim``."""

    def wrap(check: Check) -> Finding:
        finding = Finding(id, figure, claim, analysis, check)
        FINDINGS[id] = finding
        return finding

    return wrap
