"""Suites on local disk: ckptscope suites (``suite.json``) and folders of HF checkpoints.

Accepted layouts (the step comes from the folder name: ``step1000``, ``checkpoint-1000``,
``global_step1000``, ``iter_0001000``)::

    <root>/suite.json + <root>/<model>/step<N>/{config.json, model.safetensors, ...}
    <root>/<model>/<step folder>/...        several models, named after their folders
    <root>/<step folder>/...                one model, named after <root>

Folders without ``config.json`` or without weights (temporary, partial) are skipped.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from ckptscope.errors import CheckpointError, UsageError
from ckptscope.sources.base import Checkpoint, Suite
from ckptscope.sources.checks import read_json_object
from ckptscope.sources.folder_checkpoint import TOKENIZER_FILES, FolderCheckpoint
from ckptscope.sources.formats import find_weights
from ckptscope.sources.steps import parse_step

log = logging.getLogger(__name__)

MANIFEST = "suite.json"


def scan_steps(folder: Path) -> tuple[dict[int, str], dict[int, str]]:
    """Step -> checkpoint folder for every complete checkpoint directly under ``folder``.

    The second dict holds the ambiguous steps (``step100`` beside ``checkpoint-100``),
    each with both folders named: :meth:`FolderSuite.open` refuses that checkpoint only,
    so every other checkpoint of the suite is still swept.
    """
    found: dict[int, str] = {}
    ambiguous: dict[int, str] = {}
    for child in sorted(folder.iterdir()) if folder.is_dir() else []:
        step = parse_step(child.name)
        if step is None or not child.is_dir():
            continue
        if not (child / "config.json").is_file() or find_weights(child) is None:
            log.info("skipping incomplete checkpoint folder %s", child)
            continue
        if step in found:
            ambiguous[step] = f"{ambiguous.get(step, found[step])}, {child}"
            continue
        found[step] = str(child)
    return found, ambiguous


def _manifest_models(manifest: dict[str, Any]) -> list[str]:
    models = manifest.get("models", [])
    if isinstance(models, dict):
        return [str(m) for m in models]
    return [str(m["name"]) if isinstance(m, dict) else str(m) for m in models]


def _has_tokenizer(folder: Path) -> bool:
    return any((folder / f).is_file() for f in TOKENIZER_FILES)


class FolderSuite(Suite):
    """A suite read from local folders; holds only paths, so it pickles to workers."""

    def __init__(self, root: str | Path, name: str | None = None) -> None:
        self.root = Path(root).expanduser().resolve()
        if not self.root.is_dir():
            raise UsageError(f"no such suite folder: {self.root}")
        self.manifest: dict[str, Any] | None = None
        self._index: dict[str, dict[int, str]] = {}
        self._ambiguous: dict[tuple[str, int], str] = {}
        manifest_path = self.root / MANIFEST
        if manifest_path.is_file():
            self.manifest = read_json_object(manifest_path, MANIFEST)
            names = _manifest_models(self.manifest) or [
                p.name for p in sorted(self.root.iterdir()) if p.is_dir()
            ]
            for model in names:
                self._add(model, self.root / model)
            default = str(self.manifest.get("name", self.root.name))
        else:
            if not self._add(self.root.name, self.root):
                for sub in sorted(p for p in self.root.iterdir() if p.is_dir()):
                    self._add(sub.name, sub)
            default = self.root.name
        if not any(self._index.values()):
            raise UsageError(
                f"{self.root}: no checkpoints found (expected step folders such as step1000 "
                "or checkpoint-1000 holding config.json and weights)"
            )
        self.name = name or default

    def _add(self, model: str, folder: Path) -> bool:
        """Index one model's step folders; False (nothing added) when it has none."""
        steps, ambiguous = scan_steps(folder)
        if not steps:
            return False
        self._index[model] = steps
        for step, folders in ambiguous.items():
            self._ambiguous[(model, step)] = folders
        return True

    def models(self) -> list[str]:
        return list(self._index)

    def steps(self, model: str) -> list[int]:
        return sorted(self._steps_of(model))

    def _steps_of(self, model: str) -> dict[int, str]:
        try:
            return self._index[model]
        except KeyError:
            raise UsageError(
                f"no model {model!r} in suite {self.name!r}; models: {', '.join(self._index)}"
            ) from None

    def open(self, model: str, step: int) -> Checkpoint:
        folder = self._steps_of(model).get(step)
        if folder is None:
            raise CheckpointError(f"{self.root}: no checkpoint for {model} at step {step}")
        if (model, step) in self._ambiguous:
            raise CheckpointError(
                f"model {model} has two folders for step {step} "
                f"({self._ambiguous[(model, step)]}); remove or rename one"
            )
        tokenizer = next(
            (d for d in (Path(folder), self.root / model, self.root) if _has_tokenizer(d)), None
        )
        return FolderCheckpoint(model, step, folder, tokenizer=tokenizer)

    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = {"suite": self.name, "source": "folder", "path": str(self.root)}
        if self.manifest is not None:
            out["manifest"] = self.manifest
        return out
