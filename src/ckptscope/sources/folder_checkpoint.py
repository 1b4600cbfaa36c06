"""A checkpoint held in one local folder: ``config.json`` beside its weights (any format)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ckptscope.errors import CheckpointError
from ckptscope.sources.base import Checkpoint, TensorInfo
from ckptscope.sources.checks import read_json_object
from ckptscope.sources.formats import (
    WeightFile,
    find_weights,
    open_weight_file,
    shard_files,
)
from ckptscope.sources.host import HostTensor

if TYPE_CHECKING:
    import torch

TOKENIZER_FILES: tuple[str, ...] = ("tokenizer.json", "vocab.json", "tokenizer.model")


class FolderCheckpoint(Checkpoint):
    """One checkpoint folder: safetensors, ``.bin`` or sharded; reads one tensor at a time."""

    def __init__(
        self,
        model: str,
        step: int,
        folder: str | Path,
        *,
        weights: str | Path | None = None,
        tokenizer: str | Path | None = None,
    ) -> None:
        self.model = model
        self.step = step
        self.folder = Path(folder)
        found = Path(weights) if weights is not None else find_weights(self.folder)
        if found is None:
            raise CheckpointError(
                f"{self.folder}: no model.safetensors, pytorch_model.bin or shard index "
                f"({model} step {step})"
            )
        self.weights = found
        self._tokenizer = Path(tokenizer) if tokenizer is not None else None
        self._config: dict[str, Any] | None = None
        self._where: dict[str, Path] | None = None  # tensor name -> file
        self._files: dict[Path, WeightFile] = {}

    # -- layout ---------------------------------------------------------------------
    def _file(self, path: Path) -> WeightFile:
        reader = self._files.get(path)
        if reader is None:
            reader = self._files[path] = open_weight_file(path)
        return reader

    def _weight_paths(self) -> list[Path]:
        if self.weights.name.endswith(".index.json"):
            return sorted(set(shard_files(self.weights).values()))
        return [self.weights]

    def _locate(self) -> dict[str, Path]:
        if self._where is None:
            if self.weights.name.endswith(".index.json"):
                self._where = shard_files(self.weights)
            else:
                self._where = dict.fromkeys(self._file(self.weights).names(), self.weights)
        return self._where

    # -- Checkpoint -----------------------------------------------------------------
    def config(self) -> dict[str, Any]:
        if self._config is None:
            path = self.folder / "config.json"
            if not path.is_file():
                raise CheckpointError(f"{path}: missing ({self.model} step {self.step})")
            self._config = read_json_object(path, "config.json")
        return self._config

    def tensors(self) -> list[TensorInfo]:
        infos: list[TensorInfo] = []
        where = self._locate()
        for path in self._weight_paths():
            for info in self._file(path).tensors():
                if where.get(info.name) == path:
                    infos.append(info)
        missing = set(where) - {i.name for i in infos}
        if missing:
            name = sorted(missing)[0]
            raise CheckpointError(
                f"{where[name]}: missing tensor {name!r} listed in {self.weights.name}"
            )
        return infos

    def _path_of(self, name: str) -> Path:
        """The weight file that holds tensor ``name``; one CheckpointError line otherwise."""
        try:
            path = self._locate().get(name)
        except CheckpointError as err:
            raise CheckpointError(f"{err} (reading tensor {name!r})") from None
        if path is None:
            raise CheckpointError(
                f"{self.weights}: no tensor {name!r} ({self.model} step {self.step})"
            )
        return path

    def read(self, name: str) -> torch.Tensor:
        return self._file(self._path_of(name)).read(name)

    def read_host(self, name: str) -> HostTensor:
        if type(self).read is not FolderCheckpoint.read:  # a subclass's reads stay its own
            return HostTensor.from_torch(self.read(name))
        return self._file(self._path_of(name)).read_host(name)

    def iter_bytes(self, name: str) -> Iterator[bytes]:
        """The stored bytes of one tensor in chunks (from the file directly for safetensors)."""
        return self._file(self._path_of(name)).iter_bytes(name)

    def tokenizer_dir(self) -> Path | None:
        for folder in (self._tokenizer, self.folder):
            if folder is not None and any((folder / f).is_file() for f in TOKENIZER_FILES):
                return folder
        return None

    def files(self) -> list[Path]:
        out = [self.folder / "config.json"]
        if self.weights.name.endswith(".index.json"):
            out.append(self.weights)
        return out + self._weight_paths()

    def close(self) -> None:
        for reader in self._files.values():
            reader.close()
        self._files.clear()

    def __repr__(self) -> str:
        return f"FolderCheckpoint({self.model!r}, step={self.step}, {str(self.folder)!r})"
