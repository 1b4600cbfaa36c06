"""Checks on what a checkpoint folder claims, before any of it is trusted.

Every input is hostile: a safetensors header may lie about offsets and shapes, a shard
index may name files outside the folder, ``config.json`` may not be an object, and a
``.bin`` may carry a pickle that imports code. Each check fails with one
:class:`CheckpointError` line naming the file (and the tensor) and what is wrong.
"""

from __future__ import annotations

import itertools
import json
import re
from pathlib import Path
from typing import Any

from ckptscope.errors import CheckpointError


def _kind(value: Any) -> str:
    """A JSON value's type in JSON's words (``list``, ``str``, ``null``)."""
    if value is None:
        return "null"
    return {dict: "object", list: "list", str: "string", bool: "boolean"}.get(
        type(value), type(value).__name__
    )


def read_json_object(path: Path, what: str | None = None) -> dict[str, Any]:
    """The JSON object in ``path``; CheckpointError if missing, invalid or not an object.

    ``what`` names the file in the message (default: its name), e.g. ``config.json``.
    """
    path = Path(path)
    what = what or path.name
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CheckpointError(f"{path}: missing") from None
    except (OSError, UnicodeDecodeError, ValueError) as err:
        raise CheckpointError(f"{path}: not valid JSON ({err})") from None
    if not isinstance(value, dict):
        raise CheckpointError(f"{path}: {what} must be a JSON object, got {_kind(value)}")
    return value


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def check_safetensors_entries(
    path: Path, header: dict[str, Any], data_size: int, itemsizes: dict[str, int]
) -> None:
    """Check every tensor entry of a parsed safetensors header, in place of trusting it.

    Each entry needs a known ``dtype``, a ``shape`` of non-negative ints and ``data_offsets``
    of two non-negative ints ``begin <= end`` spanning exactly ``numel * itemsize`` bytes;
    no two tensors may share bytes. ``end`` beyond ``data_size`` is left to the caller (a
    truncated file is reported when a tensor is read). ``itemsizes`` maps the header's dtype
    codes (``F32``) to bytes per element.
    """
    spans: list[tuple[int, int, str]] = []
    for name, entry in header.items():
        where = f"{path}: tensor {name!r}"
        if not isinstance(entry, dict):
            raise CheckpointError(f"{where}: header entry is a {_kind(entry)}, not an object")
        code, shape, offsets = entry.get("dtype"), entry.get("shape"), entry.get("data_offsets")
        if not isinstance(code, str) or code not in itemsizes:
            raise CheckpointError(f"{where}: unsupported dtype {code!r}")
        if not isinstance(shape, list) or not all(_is_int(s) and s >= 0 for s in shape):
            raise CheckpointError(f"{where}: shape {shape!r} is not a list of non-negative ints")
        if (
            not isinstance(offsets, list)
            or len(offsets) != 2
            or not all(_is_int(x) and x >= 0 for x in offsets)
        ):
            raise CheckpointError(
                f"{where}: data_offsets {offsets!r} are not two non-negative ints"
            )
        begin, end = offsets
        if begin > end:
            raise CheckpointError(f"{where}: data_offsets [{begin}, {end}] end before they begin")
        numel = 1
        for s in shape:
            numel *= s
        want = numel * itemsizes[code]
        if end - begin != want:
            raise CheckpointError(
                f"{where}: data_offsets [{begin}, {end}] span {end - begin} bytes, but {code} "
                f"shape {shape} needs {want}"
            )
        spans.append((begin, end, name))
    spans.sort()
    for (_, prev_end, prev), (begin, end, name) in itertools.pairwise(spans):
        if begin < prev_end:
            raise CheckpointError(
                f"{path}: tensor {name!r}: data_offsets [{begin}, {end}] overlap tensor "
                f"{prev!r}, which ends at byte {prev_end}"
            )


def read_shard_index(index_path: Path) -> dict[str, str]:
    """Tensor name -> shard file name from a ``*.index.json``, its structure checked."""
    index = read_json_object(index_path)
    weight_map = index.get("weight_map")
    if not isinstance(weight_map, dict):
        raise CheckpointError(
            f"{index_path}: shard index needs a weight_map object, got {_kind(weight_map)}"
        )
    for name, shard in weight_map.items():
        if not isinstance(shard, str) or not shard:
            raise CheckpointError(
                f"{index_path}: tensor {name!r} maps to {shard!r}, not a file name"
            )
    return weight_map


def allowed_roots(folder: Path) -> list[Path]:
    """Where a checkpoint's files may resolve to: the folder itself (symlinks followed).

    A Hugging Face cache snapshot (``models--org--name/snapshots/<commit>/``) holds symlinks
    into its repo's ``blobs/`` folder, which is allowed too.
    """
    roots = [folder.resolve()]
    repo = folder.parent.parent
    if folder.parent.name == "snapshots" and repo.name.startswith("models--"):
        blobs = repo / "blobs"
        # blobs/ itself must be the repo's real folder: a suite that ships ``blobs -> /``
        # would otherwise make every path "inside"
        if (
            blobs.is_dir()
            and not blobs.is_symlink()
            and blobs.resolve() == repo.resolve() / "blobs"
        ):
            roots.append(blobs.resolve())
    return roots


def contained_shard(index_path: Path, name: str, shard: str) -> Path:
    """The path of ``shard`` beside ``index_path``; CheckpointError if it leaves the folder.

    Absolute names, ``..`` and symlinks are all judged by where the path finally resolves.
    """
    folder = index_path.parent
    path = folder / shard
    resolved = path.resolve()
    if not any(resolved.is_relative_to(root) for root in allowed_roots(folder)):
        raise CheckpointError(
            f"{index_path}: tensor {name!r} maps to {shard!r}, which resolves to {resolved}, "
            f"outside the checkpoint folder"
        )
    return path


_GLOBAL = re.compile(r"GLOBAL ([\w.]+)")
_OPCODE = re.compile(r"Unsupported operand (\d+)")


def torch_load_error(path: Path, err: BaseException) -> CheckpointError:
    """One line for a ``torch.load(weights_only=True)`` failure: refusal or damage.

    The weights-only unpickler refuses any global it does not allow (``os.system``, a
    class) before calling it; that is reported as a refusal, not as a damaged file.
    """
    text = str(err)
    found = _GLOBAL.search(text)
    if found:
        return CheckpointError(
            f"{path}: refused: not a weights-only checkpoint (it would import "
            f"{found.group(1)}); ckptscope never unpickles code"
        )
    opcode = _OPCODE.search(text)
    if opcode:
        return CheckpointError(
            f"{path}: refused: not a weights-only checkpoint, or corrupt (pickle opcode "
            f"{opcode.group(1)} is not allowed); ckptscope never unpickles code"
        )
    first = text.strip().splitlines()[0].split(". ")[0] if text.strip() else type(err).__name__
    return CheckpointError(f"{path}: corrupt or truncated ({first})")


def weights_only_load(path: Path) -> Any:
    """``torch.load`` with ``weights_only=True``: memory-mapped when the file allows it.

    Files in the legacy (non-zip) ``torch.save`` format cannot be memory-mapped and are
    read whole, still weights-only.
    """
    import torch

    try:
        return torch.load(path, weights_only=True, mmap=True, map_location="cpu")
    except RuntimeError as err:
        if "mmap can only be used" not in str(err):
            raise
    return torch.load(path, weights_only=True, map_location="cpu")
