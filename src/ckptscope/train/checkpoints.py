"""Atomic writes of checkpoints, resume state, logs and the suite manifest.

Every folder is filled under a hidden temporary name in the same parent and then
``os.rename``d into place; every file is written to a temporary file and ``os.replace``d.
A crash therefore never leaves a ``step<N>`` folder, ``suite.json`` or resume state that
looks complete but is not.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file
from transformers import GPTNeoXForCausalLM

from ckptscope.data.tokenizer import save_hf_tokenizer
from ckptscope.train.resume_state import (
    LEGACY_RESUME_FILE,
    RESUME_FILE,
    read_legacy_state,
    read_state,
    write_state,
)

RESUME_DIR = "_resume"
TRAIN_LOG = "train_log.csv"
HELDOUT_LOG = "heldout.csv"
TRAIN_LOG_FIELDS = ("step", "loss", "lr", "grad_norm", "tokens")
HELDOUT_LOG_FIELDS = ("step", "heldout_loss", "tokens")
# transformers 5 calls the unembedding ``lm_head``; files keep Pythia's ``embed_out`` name,
# which every transformers version loads (v5 renames it on load).
_TO_FILE = {"lm_head.weight": "embed_out.weight"}
_FROM_FILE = {v: k for k, v in _TO_FILE.items()}
_FILE_MODE = 0o644  # mkstemp creates 0600; suites are meant to be shared read-only


def step_dir(model_dir: Path, step: int) -> Path:
    """``<model_dir>/step<N>``."""
    return model_dir / f"step{step}"


def write_dir_atomic(final: Path, fill: Callable[[Path], None]) -> None:
    """Fill a temporary sibling folder with ``fill`` and rename it to ``final``."""
    tmp = final.parent / f".{final.name}.tmp-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    try:
        fill(tmp)
        os.rename(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def write_file_atomic(path: Path, data: bytes) -> None:
    """Write bytes to a temporary file beside ``path`` and replace ``path`` with it."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, _FILE_MODE)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def remove_stale_temporaries(model_dir: Path) -> None:
    """Delete temporary folders and files a crashed run left in ``model_dir``."""
    for p in model_dir.glob(".*.tmp*"):
        if p.is_dir():
            shutil.rmtree(p, ignore_errors=True)
        else:
            p.unlink(missing_ok=True)


def write_checkpoint(model: GPTNeoXForCausalLM, folder: Path, seq_len: int) -> None:
    """Write an fp32 ``from_pretrained``-loadable checkpoint with tokenizer, atomically."""

    def fill(tmp: Path) -> None:
        state = {
            _TO_FILE.get(k, k): v.detach().to("cpu", torch.float32).contiguous()
            for k, v in model.state_dict().items()
        }
        model.config.to_json_file(tmp / "config.json")
        save_hf_tokenizer(tmp, model_max_length=seq_len)
        # The weights go last: a folder holding model.safetensors had everything else written.
        save_file(state, str(tmp / "model.safetensors"), metadata={"format": "pt"})
        os.chmod(tmp / "model.safetensors", _FILE_MODE)

    write_dir_atomic(folder, fill)


def load_weights(model: GPTNeoXForCausalLM, folder: Path) -> None:
    """Load a checkpoint's weights into ``model`` (strict)."""
    state = {
        _FROM_FILE.get(k, k): v for k, v in load_file(str(folder / "model.safetensors")).items()
    }
    model.load_state_dict(state, strict=True)


def save_resume(model_dir: Path, state: dict[str, Any]) -> None:
    """Atomically write ``<model_dir>/_resume/state.safetensors``.

    The state (step, optimizer, RNG) is stored without pickle: its tensors as safetensors
    and the structure around them as JSON in the file's metadata (``resume_state.py``).
    """
    folder = model_dir / RESUME_DIR
    folder.mkdir(exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{RESUME_FILE}.", suffix=".tmp")
    os.close(fd)
    try:
        write_state(Path(tmp), state)
        os.chmod(tmp, _FILE_MODE)
        os.replace(tmp, folder / RESUME_FILE)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    (folder / LEGACY_RESUME_FILE).unlink(missing_ok=True)  # superseded 0.1 state


def load_resume(model_dir: Path) -> dict[str, Any] | None:
    """The saved resume state of a model, or None when it has none yet.

    Nothing is unpickled with code: the state is safetensors + JSON; a ``state.pt``
    written by ckptscope 0.1 is read with ``torch.load(weights_only=True)``, which
    refuses anything but tensors and plain containers.
    """
    folder = model_dir / RESUME_DIR
    path = folder / RESUME_FILE
    if path.is_file():
        return read_state(path)
    legacy = folder / LEGACY_RESUME_FILE
    if legacy.is_file():
        return read_legacy_state(legacy)
    return None


def write_csv(path: Path, fields: Sequence[str], rows: Sequence[dict[str, Any]]) -> None:
    """Atomically (re)write a CSV log."""
    lines = [",".join(fields)]
    lines += [",".join(_fmt(r[f]) for f in fields) for r in rows]
    write_file_atomic(path, ("\n".join(lines) + "\n").encode())


def read_csv(path: Path, up_to_step: int) -> list[dict[str, Any]]:
    """Rows of a CSV log with ``step <= up_to_step`` (numbers parsed)."""
    if not path.is_file():
        return []
    with path.open(newline="") as f:
        rows = [{k: float(v) for k, v in r.items()} for r in csv.DictReader(f)]
    for r in rows:
        r["step"] = int(r["step"])
        if "tokens" in r:
            r["tokens"] = int(r["tokens"])
    return [r for r in rows if r["step"] <= up_to_step]


def _fmt(v: Any) -> str:
    return repr(v) if isinstance(v, float) else str(v)


def write_json_atomic(path: Path, obj: Any) -> None:
    """Atomically write pretty JSON."""
    write_file_atomic(path, (json.dumps(obj, indent=2, sort_keys=True) + "\n").encode())
