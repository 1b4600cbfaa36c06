"""Weight-file formats: safetensors (read tensor by tensor), PyTorch ``.bin`` (weights only),
shards.

Every reader lists names, shapes and dtypes without reading tensor data, reads one tensor
at a time, and turns truncated or corrupt files into one-line :class:`CheckpointError`s
that name the file and the tensor.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ckptscope.errors import CheckpointError
from ckptscope.sources.base import TensorInfo
from ckptscope.sources.buffers import READS
from ckptscope.sources.checks import (
    check_safetensors_entries,
    contained_shard,
    read_shard_index,
    torch_load_error,
    weights_only_load,
)
from ckptscope.sources.host import ITEMSIZE, HostTensor

if TYPE_CHECKING:
    import torch

SAFETENSORS = "model.safetensors"
SAFETENSORS_INDEX = "model.safetensors.index.json"
TORCH_BIN = "pytorch_model.bin"
TORCH_BIN_INDEX = "pytorch_model.bin.index.json"
#: weight files in order of preference: safetensors first (no pickle, one tensor at a time)
WEIGHT_CANDIDATES: tuple[str, ...] = (SAFETENSORS_INDEX, SAFETENSORS, TORCH_BIN_INDEX, TORCH_BIN)

_ST_DTYPES = {
    "F64": "float64",
    "F32": "float32",
    "F16": "float16",
    "BF16": "bfloat16",
    "I64": "int64",
    "I32": "int32",
    "I16": "int16",
    "I8": "int8",
    "U8": "uint8",
    "BOOL": "bool",
}
_ST_ITEMSIZE = {code: ITEMSIZE[name] for code, name in _ST_DTYPES.items()}
_MAX_HEADER = 100 * 2**20  # the safetensors format caps its JSON header at 100 MB


def _dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


class SafetensorsFile:
    """One ``.safetensors`` file: header parsed by hand (validated), data via ``safe_open``."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._header: dict[str, dict[str, Any]] | None = None
        self._data_start = 0
        self._handle: Any = None

    def header(self) -> dict[str, dict[str, Any]]:
        """Per tensor: dtype, shape and data_offsets, checked against the file size."""
        if self._header is None:
            self._header = self._parse_header()
        return self._header

    def _parse_header(self) -> dict[str, dict[str, Any]]:
        try:
            size = self.path.stat().st_size
            with open(self.path, "rb") as f:
                head = f.read(8)
                if len(head) < 8:
                    raise CheckpointError(f"{self.path}: truncated safetensors file ({size} bytes)")
                (n,) = struct.unpack("<Q", head)
                if n > min(_MAX_HEADER, size - 8):
                    raise CheckpointError(
                        f"{self.path}: corrupt safetensors header (claims {n} bytes, file has {size})"
                    )
                raw = f.read(n)
        except FileNotFoundError:
            raise CheckpointError(f"{self.path}: weight file missing") from None
        try:
            header = json.loads(raw)
            if not isinstance(header, dict):
                raise ValueError("not a JSON object")
        except (UnicodeDecodeError, ValueError) as err:
            raise CheckpointError(f"{self.path}: corrupt safetensors header ({err})") from None
        header.pop("__metadata__", None)
        self._data_start = 8 + n
        data_size = size - self._data_start
        check_safetensors_entries(self.path, header, data_size, _ST_ITEMSIZE)
        for name, entry in header.items():
            begin, end = entry["data_offsets"]
            entry["shape"], entry["dtype"] = tuple(entry["shape"]), _ST_DTYPES[entry["dtype"]]
            entry["data_offsets"] = (begin, end)
            if end > data_size:
                entry["truncated"] = (
                    f"{self.path}: truncated: tensor {name!r} ends at byte {end} of the data "
                    f"section, which has only {data_size} bytes"
                )
        return header

    def names(self) -> list[str]:
        """Tensor names from the header (no check that their data is all there)."""
        return list(self.header())

    def _check(self, name: str) -> dict[str, Any]:
        entry = self.header().get(name)
        if entry is None:
            raise CheckpointError(f"{self.path}: no tensor {name!r}")
        if "truncated" in entry:
            raise CheckpointError(entry["truncated"])
        return entry

    def tensors(self) -> list[TensorInfo]:
        """Names, shapes and dtypes from the header; CheckpointError if any data is cut off."""
        infos = []
        for name in self.header():
            entry = self._check(name)
            infos.append(TensorInfo(name, entry["shape"], entry["dtype"]))
        return infos

    def read(self, name: str) -> torch.Tensor:
        """One tensor (:meth:`read_host`'s memory, as a torch tensor)."""
        return self.read_host(name).to_torch()

    def read_host(self, name: str) -> HostTensor:
        """One tensor, read from the file into memory of its own (not memory-mapped).

        A memory map saves no time here (the page-cache copy is the same) but every page
        touched stays in the process's RSS until the file is closed: a weight sweep holding
        three checkpoints open peaked at three whole files resident (benchmarks/NOTES.md).
        """
        entry = self._check(name)
        cut = next((e["truncated"] for e in self.header().values() if "truncated" in e), None)
        if cut is not None:  # as safe_open did: a file cut short is refused, whichever tensor
            raise CheckpointError(f"{cut} (reading tensor {name!r})")
        begin, end = entry["data_offsets"]
        buf = READS.take(end - begin)  # memory a read before let go of, where one fits
        try:
            with open(self.path, "rb") as f:
                f.seek(self._data_start + begin)
                got = f.readinto(memoryview(buf))
            if got != end - begin:
                raise OSError(f"got {got} of {end - begin} bytes")
            return HostTensor.from_buffer(buf, entry["dtype"], entry["shape"])
        except (OSError, ValueError) as err:  # short read; byte count not a dtype multiple
            raise CheckpointError(f"{self.path}: cannot read tensor {name!r} ({err})") from None

    def iter_bytes(self, name: str, chunk: int = 1 << 24) -> Iterator[bytes]:
        """The stored bytes of one tensor, straight from the file, in chunks (for hashing)."""
        begin, end = self._check(name)["data_offsets"]
        with open(self.path, "rb") as f:
            f.seek(self._data_start + begin)
            left = end - begin
            while left > 0:
                data = f.read(min(chunk, left))
                if not data:
                    raise CheckpointError(f"{self.path}: truncated while reading tensor {name!r}")
                left -= len(data)
                yield data

    def close(self) -> None:
        self._handle = None


class TorchBinFile:
    """One ``pytorch_model.bin``: ``torch.load(weights_only=True, mmap=True)``, never pickle."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._state: dict[str, torch.Tensor] | None = None

    def state(self) -> dict[str, torch.Tensor]:
        """The memory-mapped state dict (tensors are read from disk only when touched)."""
        if self._state is None:
            import torch

            if not self.path.exists():
                raise CheckpointError(f"{self.path}: weight file missing")
            try:
                state = weights_only_load(self.path)
            except Exception as err:
                raise torch_load_error(self.path, err) from None
            if not isinstance(state, dict):
                raise CheckpointError(f"{self.path}: not a state dict ({type(state).__name__})")
            self._state = {k: v for k, v in state.items() if isinstance(v, torch.Tensor)}
        return self._state

    def names(self) -> list[str]:
        """Tensor names in the state dict."""
        return list(self.state())

    def tensors(self) -> list[TensorInfo]:
        return [
            TensorInfo(k, tuple(v.shape), _dtype_name(v.dtype)) for k, v in self.state().items()
        ]

    def read(self, name: str) -> torch.Tensor:
        tensor = self.state().get(name)
        if tensor is None:
            raise CheckpointError(f"{self.path}: no tensor {name!r}")
        try:
            return tensor.clone()
        except Exception as err:  # a truncated mmap surfaces here as a bus error or RuntimeError
            raise CheckpointError(f"{self.path}: cannot read tensor {name!r} ({err})") from None

    def read_host(self, name: str) -> HostTensor:
        """One tensor as a :class:`HostTensor` (a ``.bin`` is read through torch)."""
        return HostTensor.from_torch(self.read(name))

    def iter_bytes(self, name: str, chunk: int = 1 << 24) -> Iterator[bytes]:
        """The tensor's bytes as stored (one chunk)."""
        yield tensor_bytes(self.read(name))

    def close(self) -> None:
        self._state = None


WeightFile = SafetensorsFile | TorchBinFile


def open_weight_file(path: Path) -> WeightFile:
    """A reader for one weight file, chosen by its suffix."""
    return SafetensorsFile(path) if path.suffix == ".safetensors" else TorchBinFile(path)


def tensor_bytes(tensor: torch.Tensor) -> bytes:
    """The little-endian bytes of a tensor as stored (same bytes safetensors holds)."""
    import torch

    return tensor.detach().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes()


def find_weights(folder: Path) -> Path | None:
    """The preferred weight file (or shard index) in a checkpoint folder, if any."""
    for name in WEIGHT_CANDIDATES:
        if (folder / name).is_file():
            return folder / name
    return None


def shard_files(index_path: Path) -> dict[str, Path]:
    """Tensor name -> shard path from a ``*.index.json``; every shard inside the folder.

    See :func:`ckptscope.sources.checks.contained_shard` for what "inside" means.
    """
    weight_map = read_shard_index(index_path)
    return {name: contained_shard(index_path, name, shard) for name, shard in weight_map.items()}
