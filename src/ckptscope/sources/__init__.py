"""Checkpoint sources: local suites, folders of HF checkpoints, the Hugging Face Hub and
models held in memory (``ModelSource``).

``open_suite(spec)`` is the one entry point; ``select_steps`` picks steps out of a suite.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ckptscope._lazy import lazy_names
from ckptscope.errors import UsageError
from ckptscope.sources.base import Checkpoint, Suite, TensorInfo
from ckptscope.sources.folder_checkpoint import FolderCheckpoint
from ckptscope.sources.folder_suite import FolderSuite
from ckptscope.sources.host import HostTensor
from ckptscope.sources.hub import HubSuite
from ckptscope.sources.pythia import expand_pythia
from ckptscope.sources.steps import parse_step, select_steps

_HUB_OPTIONS = {"name", "cache_dir", "offline", "token", "revisions", "max_disk"}


def open_suite(spec: str, **options: Any) -> Suite:
    """A suite from a spec: a folder path, ``hf:org/a,org/b`` or ``pythia:160m,410m-deduped``.

    Hub options: ``name``, ``cache_dir``, ``offline``, ``token``, ``max_disk`` (bounded
    streaming, e.g. ``"20GB"``). Folder options: ``name``.
    """
    options = {k: v for k, v in options.items() if v is not None}
    kind, _, rest = spec.partition(":")
    if kind in ("hf", "pythia") and rest:
        unknown = set(options) - _HUB_OPTIONS
        if unknown:
            raise UsageError(f"unknown Hub suite options: {', '.join(sorted(unknown))}")
        if kind == "pythia":
            return HubSuite(expand_pythia(rest), **options)
        repos = [r.strip() for r in rest.split(",") if r.strip()]
        for repo in repos:
            if repo.count("/") != 1:
                raise UsageError(f"bad Hub repo {repo!r} in {spec!r}; expected org/name")
        return HubSuite(repos, **options)
    path = Path(rest if kind in ("local", "folder") and rest else spec).expanduser()
    if not path.is_dir():
        raise UsageError(
            f"no suite folder {str(path)!r}; for the Hub use hf:org/name or pythia:160m"
        )
    unknown = set(options) - {"name"}
    if unknown:
        raise UsageError(f"unknown folder suite options: {', '.join(sorted(unknown))}")
    return FolderSuite(path, **options)


__all__ = [
    "Checkpoint",
    "FolderCheckpoint",
    "FolderSuite",
    "HostTensor",
    "HubSuite",
    "ModelSource",
    "Suite",
    "TensorInfo",
    "model_source",
    "open_suite",
    "parse_step",
    "select_steps",
]

# models held in memory need torch: loaded on first use, so a folder sweep never imports it
__getattr__, __dir__ = lazy_names(
    __name__,
    {"ModelSource": "ckptscope.sources.memory", "model_source": "ckptscope.sources.memory"},
)
