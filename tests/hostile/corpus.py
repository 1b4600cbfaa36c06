"""Hostile checkpoint folders, made from the tiny GPT-NeoX builders (no binary blobs).

Each ``make_*`` turns a good checkpoint folder written by
:func:`sources.builders.write_checkpoint` into a hostile one and returns the file that is
bad (the path the error line must name).
"""

from __future__ import annotations

import json
import os
import struct
from pathlib import Path
from typing import Any

import torch

from sources.builders import neox_state, write_checkpoint

QKV = "gpt_neox.layers.1.attention.query_key_value.weight"
DENSE = "gpt_neox.layers.1.attention.dense.weight"


def read_header(path: Path) -> tuple[dict[str, Any], bytes]:
    """A safetensors file's JSON header and its data section."""
    data = path.read_bytes()
    (n,) = struct.unpack("<Q", data[:8])
    return json.loads(data[8 : 8 + n]), data[8 + n :]


def write_header(path: Path, header: dict[str, Any], body: bytes) -> None:
    raw = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + body)


def edit_entry(folder: Path, name: str, **fields: Any) -> Path:
    """Replace fields of one tensor's header entry in ``model.safetensors``."""
    path = folder / "model.safetensors"
    header, body = read_header(path)
    header[name].update(fields)
    write_header(path, header, body)
    return path


def make_overlap(folder: Path) -> Path:
    """QKV's offsets moved onto DENSE's bytes (same length: only the overlap is wrong)."""
    header, _ = read_header(folder / "model.safetensors")
    begin = header[DENSE]["data_offsets"][0]
    size = header[QKV]["data_offsets"][1] - header[QKV]["data_offsets"][0]
    return edit_entry(folder, QKV, data_offsets=[begin, begin + size])


def make_negative_offset(folder: Path) -> Path:
    header, _ = read_header(folder / "model.safetensors")
    end = header[QKV]["data_offsets"][1]
    return edit_entry(folder, QKV, data_offsets=[-256, end])


def make_reversed_offsets(folder: Path) -> Path:
    header, _ = read_header(folder / "model.safetensors")
    begin, end = header[QKV]["data_offsets"]
    return edit_entry(folder, QKV, data_offsets=[end, begin])


def make_size_mismatch(folder: Path) -> Path:
    """A shape that needs more bytes than the offsets give (reads a neighbour's data)."""
    return edit_entry(folder, QKV, shape=[24, 16])


def make_negative_shape(folder: Path) -> Path:
    return edit_entry(folder, QKV, shape=[-24, -8])


SAFETENSORS_CASES = {
    "overlap": (make_overlap, "overlap"),
    "negative_offset": (make_negative_offset, "non-negative"),
    "reversed_offsets": (make_reversed_offsets, "end before they begin"),
    "size_mismatch": (make_size_mismatch, "needs"),
    "negative_shape": (make_negative_shape, "non-negative"),
}


def make_shard_escape(folder: Path, how: str, outside: Path) -> Path:
    """A sharded checkpoint whose index sends QKV to ``outside`` (absolute, .. or symlink)."""
    index = folder / "model.safetensors.index.json"
    data = json.loads(index.read_text())
    if how == "absolute":
        target = str(outside)
    elif how == "dotdot":
        target = os.path.relpath(outside, folder)
    elif how == "symlink":
        (folder / "model-extra.safetensors").symlink_to(outside)
        target = "model-extra.safetensors"
    else:
        raise ValueError(how)
    data["weight_map"][QKV] = target
    index.write_text(json.dumps(data))
    return index


def make_outside_file(path: Path) -> Path:
    """A well-formed safetensors file outside any checkpoint folder (what an escape reaches)."""
    from safetensors.torch import save_file

    path.parent.mkdir(parents=True, exist_ok=True)
    save_file({QKV: torch.zeros(24, 8)}, path)
    return path


def make_config_list(folder: Path) -> Path:
    path = folder / "config.json"
    path.write_text(json.dumps([{"model_type": "gpt_neox"}]))
    return path


class Payload:
    """Unpickling this runs ``os.system``, which creates the marker file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (os.system, (f"touch {self.marker}",))


def make_code_pickle(folder: Path, marker: Path, legacy: bool = False) -> Path:
    """A ``pytorch_model.bin`` whose state dict holds a payload next to real tensors."""
    for old in folder.glob("model*.safetensors*"):
        old.unlink()
    state: dict[str, Any] = dict(neox_state(0))
    state["payload"] = Payload(marker)
    path = folder / "pytorch_model.bin"
    torch.save(state, path, _use_new_zipfile_serialization=not legacy)
    return path


def make_nonfinite(folder: Path, seed: int = 0) -> dict[str, torch.Tensor]:
    """A checkpoint whose block-1 QKV holds a NaN and an Inf (the rest is finite)."""
    state = neox_state(seed)
    state[QKV][0, 0] = float("nan")
    state[QKV][3, 5] = float("inf")
    write_checkpoint(folder, seed=seed, state=state)
    return state
