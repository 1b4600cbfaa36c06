"""The trainer's resume state (step, optimizer, RNG) on disk, with no pickle.

A suite may come from someone else, so its resume state is input like any other: it must
never run code when a run resumes. The state is one ``state.safetensors`` file: every
tensor is a safetensors entry, and the nested structure around them (dicts with int or
str keys, lists, tuples, numbers, strings, booleans, None) is JSON in the file's metadata
under :data:`STATE_KEY`, each tensor replaced by ``{"__tensor__": name}``.

``state.pt`` files written by ckptscope 0.1 are read with ``torch.load(weights_only=True)``,
which accepts only tensors and plain containers; anything else is refused in one line.
"""

from __future__ import annotations

import json
import pickle
from pathlib import Path
from typing import Any

import torch

from ckptscope.errors import CheckpointError, first_line

RESUME_FILE = "state.safetensors"
LEGACY_RESUME_FILE = "state.pt"  # ckptscope 0.1
STATE_KEY = "ckptscope_resume_state"
_FORMAT = 1
_MAX_DEPTH = 32


def encode_state(state: dict[str, Any]) -> tuple[dict[str, torch.Tensor], str]:
    """Split a state into safetensors-ready tensors and the JSON of everything else."""
    tensors: dict[str, torch.Tensor] = {}

    def enc(obj: Any) -> Any:
        if isinstance(obj, torch.Tensor):
            name = f"t{len(tensors)}"
            tensors[name] = obj.detach().to("cpu").contiguous().clone()
            return {"__tensor__": name}
        if isinstance(obj, dict):
            items = []
            for k, v in obj.items():
                if not isinstance(k, str | int) or isinstance(k, bool):
                    raise TypeError(f"resume state key {k!r} is not a str or int")
                items.append([k, enc(v)])
            return {"__dict__": items}
        if isinstance(obj, tuple):
            return {"__tuple__": [enc(v) for v in obj]}
        if isinstance(obj, list):
            return [enc(v) for v in obj]
        if obj is None or isinstance(obj, bool | int | float | str):
            return obj
        raise TypeError(f"resume state holds a {type(obj).__name__}, which is not stored")

    body = enc(state)
    return tensors, json.dumps({"format": _FORMAT, "state": body})


def decode_state(meta: str, tensors: dict[str, torch.Tensor], path: Path) -> dict[str, Any]:
    """The inverse of :func:`encode_state`; any other structure is a one-line error."""

    def bad(what: str) -> CheckpointError:
        return CheckpointError(f"{path}: corrupt resume state ({what})")

    def dec(obj: Any, depth: int) -> Any:
        if depth > _MAX_DEPTH:
            raise bad("nested too deeply")
        if isinstance(obj, list):
            return [dec(v, depth + 1) for v in obj]
        if isinstance(obj, dict):
            if set(obj) == {"__tensor__"}:
                name = obj["__tensor__"]
                if not isinstance(name, str) or name not in tensors:
                    raise bad(f"names a tensor {name!r} the file does not hold")
                return tensors[name]
            if set(obj) == {"__tuple__"} and isinstance(obj["__tuple__"], list):
                return tuple(dec(v, depth + 1) for v in obj["__tuple__"])
            if set(obj) == {"__dict__"} and isinstance(obj["__dict__"], list):
                out: dict[Any, Any] = {}
                for item in obj["__dict__"]:
                    if not (
                        isinstance(item, list)
                        and len(item) == 2
                        and isinstance(item[0], str | int)
                        and not isinstance(item[0], bool)
                    ):
                        raise bad("a dict entry is not a [str|int key, value] pair")
                    out[item[0]] = dec(item[1], depth + 1)
                return out
            raise bad(f"unexpected object with keys {sorted(obj)[:3]}")
        if obj is None or isinstance(obj, bool | int | float | str):
            return obj
        raise bad(f"unexpected {type(obj).__name__}")

    try:
        doc = json.loads(meta)
    except json.JSONDecodeError as err:
        raise bad(f"metadata is not JSON: {err.msg}") from None
    if not isinstance(doc, dict) or doc.get("format") != _FORMAT or "state" not in doc:
        raise bad(f"unknown format; expected {{'format': {_FORMAT}, 'state': ...}}")
    state = dec(doc["state"], 0)
    if not isinstance(state, dict):
        raise bad("the state is not a dict")
    return _checked(state, path)


def write_state(path: Path, state: dict[str, Any]) -> None:
    """Write a state as one safetensors file (not atomic: the caller renames it into place)."""
    from safetensors.torch import save_file

    tensors, meta = encode_state(state)
    save_file(tensors, str(path), metadata={STATE_KEY: meta})


def read_state(path: Path) -> dict[str, Any]:
    """Read a ``state.safetensors`` resume file (no pickle involved)."""
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as f:
            meta = (f.metadata() or {}).get(STATE_KEY)
            tensors = {name: f.get_tensor(name) for name in f.keys()}  # noqa: SIM118
    except Exception as err:  # safetensors raises its own error types
        first = first_line(err)
        raise CheckpointError(f"{path}: unreadable resume state ({first})") from None
    if meta is None:
        raise CheckpointError(f"{path}: not a ckptscope resume state (no {STATE_KEY} metadata)")
    return decode_state(meta, tensors, path)


def read_legacy_state(path: Path) -> dict[str, Any]:
    """Read a 0.1 ``state.pt`` with ``weights_only=True``; refuse anything that is not data."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        text = str(err)
        if "Weights only load failed" in text or "Unsupported" in text:
            raise CheckpointError(
                f"{path}: refused: not a weights-only resume state (it would run code on "
                "load); ckptscope never unpickles code. Delete that file to retrain this "
                "model from step 0, or resume from a suite you trust"
            ) from None
        raise CheckpointError(f"{path}: corrupt resume state ({text.splitlines()[0]})") from None
    except (RuntimeError, EOFError, OSError, ValueError) as err:
        first = first_line(err)
        raise CheckpointError(f"{path}: corrupt or truncated resume state ({first})") from None
    if not isinstance(state, dict):
        raise CheckpointError(f"{path}: corrupt resume state (not a dict)")
    return _checked(state, path)


def _checked(state: dict[str, Any], path: Path) -> dict[str, Any]:
    """The fields the trainer reads, with their types checked."""
    step = state.get("step")
    if not isinstance(step, int) or isinstance(step, bool) or step < 0:
        raise CheckpointError(f"{path}: corrupt resume state (step {step!r} is not an int >= 0)")
    if not isinstance(state.get("finished", False), bool):
        raise CheckpointError(f"{path}: corrupt resume state ('finished' is not a bool)")
    if not state.get("finished"):
        if not isinstance(state.get("optimizer"), dict):
            raise CheckpointError(f"{path}: corrupt resume state (no optimizer state)")
        rng = state.get("torch_rng")
        if not isinstance(rng, torch.Tensor) or rng.dtype != torch.uint8:
            raise CheckpointError(f"{path}: corrupt resume state (torch_rng is not a uint8 tensor)")
    threads = state.get("threads", 1)
    if not isinstance(threads, int) or isinstance(threads, bool) or threads < 1:
        raise CheckpointError(f"{path}: corrupt resume state (threads {threads!r})")
    return state
