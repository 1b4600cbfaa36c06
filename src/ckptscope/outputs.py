"""Output folders given by the user: refused in one line before any work when unusable."""

from __future__ import annotations

from pathlib import Path

from ckptscope.errors import UsageError


def output_dir(path: str | Path, what: str) -> Path:
    """``path`` as an output folder: refused when it exists and is not a folder."""
    out = Path(path)
    if out.exists() and not out.is_dir():
        raise UsageError(f"{what} {out} exists and is not a folder")
    existing = next((p for p in out.absolute().parents if p.exists()), None)
    if existing is not None and not existing.is_dir():
        raise UsageError(f"{what} {out} cannot be created: {existing} is not a folder")
    return out
