"""What is known about public suites without asking the Hub: Pythia names and schedules."""

from __future__ import annotations

import re

from ckptscope.errors import UsageError

PYTHIA_SIZES: tuple[str, ...] = (
    "14m", "31m", "70m", "160m", "410m", "1b", "1.4b", "2.8b", "6.9b", "12b",
)  # fmt: skip
PYTHIA_SEED_SIZES: tuple[str, ...] = ("14m", "31m", "70m", "160m", "410m")

#: 154 revisions: step0, the powers of two 1..512, then every 1000 to 143000
PYTHIA_STEPS: tuple[int, ...] = (0, *(2**i for i in range(10)), *range(1000, 143001, 1000))
#: the older -v0 models: 143 revisions, every 1000 steps
PYTHIA_V0_STEPS: tuple[int, ...] = tuple(range(1000, 143001, 1000))

_PYTHIA = re.compile(
    r"^(?:EleutherAI/)?pythia-(?P<size>[\d.]+[mb])(?P<deduped>-deduped)?"
    r"(?:-seed(?P<seed>\d+))?(?P<v0>-v0)?$"
)


def pythia_steps(repo: str) -> list[int] | None:
    """The revision schedule of a Pythia repo, or None if ``repo`` is not Pythia."""
    m = _PYTHIA.match(repo)
    if m is None:
        return None
    return list(PYTHIA_V0_STEPS if m.group("v0") else PYTHIA_STEPS)


def step_revision(repo: str, step: int) -> str | None:
    """The revision name of ``step`` when the naming is known without listing (Pythia)."""
    return f"step{step}" if pythia_steps(repo) is not None else None


def expand_pythia(spec: str) -> list[str]:
    """Hub repos for a shorthand like ``160m,410m-deduped,70m-seed3`` (or ``all``)."""
    names = list(PYTHIA_SIZES) if spec.strip() == "all" else spec.split(",")
    repos = []
    for raw in (n.strip() for n in names):
        if not raw:
            continue
        repo = f"EleutherAI/pythia-{raw.removeprefix('pythia-')}"
        m = _PYTHIA.match(repo)
        if m is None or m.group("size") not in PYTHIA_SIZES:
            raise UsageError(
                f"unknown Pythia model {raw!r}; sizes: {', '.join(PYTHIA_SIZES)} "
                "(optionally -deduped, -seedN, -v0)"
            )
        if m.group("seed") and m.group("size") not in PYTHIA_SEED_SIZES:
            raise UsageError(f"no seed runs for pythia-{m.group('size')} ({raw!r})")
        repos.append(repo)
    return repos
