"""The suite manifest ``suite.json`` and the checks before anything is written.

Manifest keys: ``format``, ``name``, ``ckptscope_version``, ``models`` (list of
``{name, seed, width, n_layers, n_heads, lr, n_params}``), ``steps`` (checkpoint steps),
``train`` (the TrainConfig fields), ``vocab_size``, ``tokenizer_sha256``, ``corpus``
(``{name, sha256, path, train_tokens, heldout_tokens}``), ``data_order``.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict
from pathlib import Path
from typing import Any

from ckptscope import __version__
from ckptscope.data.corpus import Corpus
from ckptscope.data.tokenizer import tokenizer_sha256
from ckptscope.errors import UsageError
from ckptscope.train.checkpoints import write_json_atomic
from ckptscope.train.config import SuiteConfig
from ckptscope.train.schedule import checkpoint_steps

MANIFEST = "suite.json"
FORMAT = "ckptscope-suite/1"
# Keys that may differ between runs of the same suite.
_VOLATILE = ("ckptscope_version",)


def manifest(
    cfg: SuiteConfig,
    corpus: Corpus,
    corpus_path: Path | str | None,
    train_tokens: int,
    heldout_tokens: int,
) -> dict[str, Any]:
    """The JSON-ready manifest of a suite."""
    from ckptscope.train.model import neox_config

    models = []
    for name, size, seed in cfg.models():
        c = neox_config(size, cfg.vocab_size, cfg.train.seq_len)
        d, v, f = c.hidden_size, c.vocab_size, c.intermediate_size
        # embed_in + embed_out + per block (qkv, dense, two MLP matrices, biases, 2 LNs) + ln_f
        per_block = 3 * d * d + 3 * d + d * d + d + 2 * d * f + f + d + 4 * d
        n_params = 2 * v * d + size.n_layers * per_block + 2 * d
        models.append(
            {
                "name": name,
                "seed": seed,
                "width": size.width,
                "n_layers": size.n_layers,
                "n_heads": size.heads,
                "lr": size.lr if size.lr is not None else cfg.train.lr,
                "n_params": n_params,
            }
        )
    return {
        "format": FORMAT,
        "name": cfg.name,
        "ckptscope_version": __version__,
        "models": models,
        "steps": checkpoint_steps(cfg.train.steps, cfg.train.n_even_checkpoints),
        "train": asdict(cfg.train),
        "vocab_size": cfg.vocab_size,
        "tokenizer_sha256": tokenizer_sha256(),
        "corpus": {
            "name": corpus.name,
            "sha256": corpus.sha256,
            "path": None if corpus_path is None else str(Path(corpus_path).resolve()),
            "train_tokens": train_tokens,
            "heldout_tokens": heldout_tokens,
        },
        "data_order": "seeded permutation of seq_len windows per epoch, a function of (seed, step)",
    }


def _identity(m: dict[str, Any]) -> dict[str, Any]:
    """The manifest without volatile keys, normalised through JSON (tuples become lists)."""
    m = json.loads(json.dumps(m))
    for key in _VOLATILE:
        m.pop(key, None)
    m.get("corpus", {}).pop("path", None)
    return m


def read_manifest(suite_dir: Path) -> dict[str, Any]:
    """Read ``<suite_dir>/suite.json``; UsageError when missing or unreadable."""
    path = Path(suite_dir) / MANIFEST
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise UsageError(f"{str(path)!r} does not exist: not a ckptscope suite") from None
    except (OSError, json.JSONDecodeError) as err:
        raise UsageError(f"cannot read suite manifest {str(path)!r}: {err}") from None


def prepare_suite_dir(
    out: Path,
    cfg: SuiteConfig,
    corpus: Corpus,
    corpus_path: Path | str | None,
    train_tokens: int,
    heldout_tokens: int,
) -> Path:
    """Create ``out`` and its manifest, or check that it holds this very suite."""
    new = manifest(cfg, corpus, corpus_path, train_tokens, heldout_tokens)
    if out.exists() and not out.is_dir():
        raise UsageError(f"output {str(out)!r} exists and is not a folder")
    if (out / MANIFEST).exists():
        old = read_manifest(out)
        a, b = _identity(old), _identity(new)
        if a != b:
            keys = sorted(k for k in a.keys() | b.keys() if a.get(k) != b.get(k))
            raise UsageError(
                f"{str(out)!r} already holds a different suite (differs in {', '.join(keys)}); "
                "choose another output folder"
            )
        return out
    if out.is_dir() and any(out.iterdir()):
        raise UsageError(f"output folder {str(out)!r} is not empty and holds no {MANIFEST}")
    try:
        out.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=out, prefix=".probe")
        os.close(fd)
        os.unlink(probe)
    except OSError as err:
        raise UsageError(f"cannot write to output folder {str(out)!r}: {err.strerror}") from None
    write_json_atomic(out / MANIFEST, new)
    return out
