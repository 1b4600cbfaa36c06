"""Training steps: parsing them from folder and revision names, and step selections."""

from __future__ import annotations

import re

from ckptscope.errors import UsageError

# step1000, checkpoint-1000, global_step1000, iter_0001000, stepN-tokensM (OLMo revisions)
_STEP_NAME = re.compile(
    r"^(?:step|checkpoint-|checkpoint_|global_step|iter_|iter-)(\d+)(?:-tokens\d+[KMBT]?)?$",
    re.IGNORECASE,
)


def parse_step(name: str) -> int | None:
    """The training step in a checkpoint folder or revision name, or None if it has none."""
    m = _STEP_NAME.match(name)
    return int(m.group(1)) if m else None


def select_steps(spec: str | None, available: list[int]) -> list[int]:
    """The sorted steps a selection picks out of ``available``.

    ``spec`` is comma-separated parts: ``all`` (or None), ``N``, ``A:B`` / ``A:B:S``
    (ranges include B; steps outside ``available`` are skipped), ``log`` (0 and powers of
    two), ``every:K`` (every K-th available checkpoint plus first and last), ``first``,
    ``last``. A step named on its own that has no checkpoint is an error.
    """
    avail = sorted(set(available))
    if spec is None or spec.strip() in ("", "all"):
        return avail
    have = set(avail)
    chosen: set[int] = set()
    for part in (p.strip() for p in spec.split(",")):
        if not part:
            continue
        try:
            chosen |= _select_part(part, avail, have)
        except ValueError:
            raise UsageError(f"bad step selection {part!r} in {spec!r}") from None
    if not chosen:
        raise UsageError(
            f"step selection {spec!r} matches no checkpoint (available: {_summary(avail)})"
        )
    return sorted(chosen)


def _select_part(part: str, avail: list[int], have: set[int]) -> set[int]:
    if part == "all":
        return set(avail)
    if part == "last":
        return set(avail[-1:])
    if part == "first":
        return set(avail[:1])
    if part == "log":
        return {s for s in avail if s == 0 or (s & (s - 1)) == 0}
    if part.startswith("every:"):
        k = int(part.removeprefix("every:"))
        if k < 1:
            raise ValueError(part)
        picked = set(avail[::k])
        return picked | set(avail[-1:])
    if ":" in part:
        fields = part.split(":")
        if len(fields) not in (2, 3):
            raise ValueError(part)
        start = int(fields[0]) if fields[0] else (avail[0] if avail else 0)
        stop = int(fields[1]) if fields[1] else (avail[-1] if avail else 0)
        stride = int(fields[2]) if len(fields) == 3 and fields[2] else None
        if (stride is not None and stride < 1) or stop < start:
            raise ValueError(part)
        if stride is None:
            return {s for s in avail if start <= s <= stop}
        # over the available steps, not the range: 0:10**11:1 must not enumerate 10**11 ints
        return {s for s in avail if start <= s <= stop and (s - start) % stride == 0}
    step = int(part)
    if step not in have:
        raise UsageError(f"no checkpoint at step {step} (available: {_summary(avail)})")
    return {step}


def _summary(avail: list[int]) -> str:
    if not avail:
        return "none"
    if len(avail) <= 8:
        return ", ".join(map(str, avail))
    return f"{len(avail)} steps from {avail[0]} to {avail[-1]}"
