"""A user's groups file: models whose names do not say their size, variant or seed.

TOML (read with ``tomllib``) or JSON, one table per model, keyed ``suite/model`` or
``model`` (that model in every suite)::

    [models."runs/lr-high-a"]
    size = "w64"
    variant = "lr-high"
    seed = 0

    [models."runs/lr-high-b"]
    size = "w64"
    variant = "lr-high"
    seed = 1

Keys left out keep what the name parses to (:mod:`.naming`). The file is hostile input:
anything else is refused with one line naming the file and the entry.
"""

from __future__ import annotations

import json
import tomllib
from dataclasses import replace
from pathlib import Path
from typing import Any

from ckptscope.errors import UsageError
from ckptscope.groups.naming import ModelGroup

#: the largest groups file read
MAX_BYTES = 1 << 20
MAX_TEXT = 200
FIELDS = ("size", "variant", "seed")

#: model key ("suite/model" or "model") -> the fields it sets
Mapping = dict[str, dict[str, Any]]


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [k for k, _ in pairs]
    dup = next((k for k in keys if keys.count(k) > 1), None)
    if dup is not None:
        raise ValueError(f"duplicate key {dup!r}")
    return dict(pairs)


def _text(path: Path, where: str, value: Any, field: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise UsageError(f"groups file {path}: {where}: {field} must be a non-empty string")
    if len(value) > MAX_TEXT or not value.isprintable():
        raise UsageError(
            f"groups file {path}: {where}: {field} must be printable, at most {MAX_TEXT} chars"
        )
    return value


def load_mapping(path: str | Path) -> Mapping:
    """Read and check a groups file (``.toml`` or ``.json``); UsageError in one line."""
    path = Path(path)
    if path.suffix not in (".toml", ".json"):
        raise UsageError(f"groups file {path}: give a .toml or .json file")
    try:
        if path.stat().st_size > MAX_BYTES:
            raise UsageError(f"groups file {path}: larger than {MAX_BYTES} bytes")
        raw = path.read_bytes()
    except OSError as err:
        raise UsageError(f"groups file {path}: cannot read it: {err.strerror or err}") from None
    try:
        text = raw.decode("utf-8")
        if path.suffix == ".toml":
            doc = tomllib.loads(text)
        else:
            doc = json.loads(text, object_pairs_hook=_no_duplicates)
    except (UnicodeDecodeError, ValueError) as err:
        line = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise UsageError(
            f"groups file {path}: not valid {path.suffix[1:].upper()}: {line}"
        ) from None
    if not isinstance(doc, dict) or set(doc) != {"models"} or not isinstance(doc["models"], dict):
        raise UsageError(
            f"groups file {path}: needs exactly one table, models (docs/comparisons.md)"
        )
    out: Mapping = {}
    for key, entry in doc["models"].items():
        where = f"models.{key!r}"
        _text(path, where, key, "the model key")
        if not isinstance(entry, dict) or not entry:
            raise UsageError(f"groups file {path}: {where} must be a table of {', '.join(FIELDS)}")
        unknown = sorted(set(entry) - set(FIELDS))
        if unknown:
            raise UsageError(
                f"groups file {path}: {where}: unknown key {unknown[0]!r}; keys: {', '.join(FIELDS)}"
            )
        fields: dict[str, Any] = {}
        for name in ("size", "variant"):
            if name in entry:
                fields[name] = _text(path, where, entry[name], name)
        if "seed" in entry:
            seed = entry["seed"]
            if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= 10**9:
                raise UsageError(
                    f"groups file {path}: {where}: seed must be an integer 0..1e9, got {seed!r}"
                )
            fields["seed"] = seed
        out[key] = fields
    return out


def apply_mapping(models: list[ModelGroup], mapping: Mapping, path: str | Path) -> list[ModelGroup]:
    """``models`` with the file's fields set; an entry naming no model is refused."""
    used: set[str] = set()
    out = []
    for g in models:
        for key in (f"{g.suite}/{g.model}", g.model):
            if key in mapping:
                g = replace(g, **mapping[key])
                used.add(key)
                break
        out.append(g)
    unused = [k for k in mapping if k not in used]
    if unused:
        known = ", ".join(sorted(f"{g.suite}/{g.model}" for g in models)[:10])
        raise UsageError(
            f"groups file {path}: models.{unused[0]!r} names no model in the store; models: {known}"
        )
    return out
