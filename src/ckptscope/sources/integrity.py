"""Checking what a checkpoint holds: content hashes per tensor and structure against config."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

from ckptscope.adapters.base import Adapter, Component
from ckptscope.errors import CheckpointError
from ckptscope.sources.base import Checkpoint, TensorInfo
from ckptscope.sources.formats import tensor_bytes

HASH_ALGO = "blake2b-128"


def tensor_digest(ckpt: Checkpoint, name: str, info: TensorInfo | None = None) -> str:
    """Hex blake2b-128 of a tensor's stored dtype, shape and raw bytes.

    The bytes are the same whatever the file format (safetensors is hashed straight from
    the file, other formats from the tensor), so identical weights hash identically.
    """
    if info is None:
        info = next((t for t in ckpt.tensors() if t.name == name), None)
    if info is None:
        raise CheckpointError(f"{ckpt.model} step {ckpt.step}: no tensor {name!r}")
    h = hashlib.blake2b(digest_size=16)
    h.update(f"{info.dtype}{list(info.shape)}".encode())
    chunks: Iterator[bytes] = (
        ckpt.iter_bytes(name)  # type: ignore[attr-defined]
        if hasattr(ckpt, "iter_bytes")
        else iter([tensor_bytes(ckpt.read(name))])
    )
    for chunk in chunks:
        h.update(chunk)
    return h.hexdigest()


def mapped_tensors(ckpt: Checkpoint, adapter: Adapter) -> dict[Component, str]:
    """Component -> raw name for every parameter; checks the structure against the config.

    Raises CheckpointError (one line naming the tensor) when a parameter maps twice, a
    block index exceeds the config's layers, a stored shape disagrees with the config, or a
    component present in block 0 is missing from another block.
    """
    where = f"{ckpt.model} step {ckpt.step}"
    mapping: dict[Component, str] = {}
    for info in ckpt.tensors():
        comp = adapter.canonical(info.name)
        if comp is None:
            continue
        if comp in mapping:
            raise CheckpointError(
                f"{where}: tensors {mapping[comp]!r} and {info.name!r} both map to {comp.label()}"
            )
        if comp.block is not None and not 0 <= comp.block < adapter.n_layers:
            raise CheckpointError(
                f"{where}: tensor {info.name!r} is in block {comp.block}, config has {adapter.n_layers} layers"
            )
        expected = adapter.expected_shape(comp)
        shape = adapter.canonical_shape(comp, tuple(info.shape))
        if expected is not None and shape != tuple(expected):
            raise CheckpointError(
                f"{where}: tensor {info.name!r} has shape {tuple(info.shape)}, config implies {tuple(expected)}"
            )
        mapping[comp] = info.name
    per_block = {(c.component, c.param) for c in mapping if c.block == 0}
    for block in range(adapter.n_layers):
        for component, param in sorted(per_block):
            comp = Component(component, block, param)
            if comp not in mapping:
                raise CheckpointError(f"{where}: missing tensor {adapter.raw_name(comp)!r}")
    return mapping


def checkpoint_digest(ckpt: Checkpoint, adapter: Adapter) -> str:
    """One hash of every parameter (after checking the structure): equal iff identical."""
    infos = {t.name: t for t in ckpt.tensors()}
    h = hashlib.blake2b(digest_size=16)
    for comp, raw in sorted(mapped_tensors(ckpt, adapter).items()):
        h.update(f"{comp.label()}={tensor_digest(ckpt, raw, infos[raw])};".encode())
    return h.hexdigest()
