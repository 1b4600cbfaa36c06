"""The fixed evaluation batch: the same token ids at every checkpoint of a sweep.

By default a seeded sample of the shipped held-out corpus, tokenized with the suite's own
tokenizer; or the user's text file, or a ``.npy`` of integer token ids (``extra["data"]``).
Built once per process and cached, so every checkpoint sees exactly the same tokens; its
provenance (source, sha256 of the ids, shape, seed) travels with every record made from it.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from ckptscope.errors import CkptscopeError, UsageError
from ckptscope.sources.base import Checkpoint

if TYPE_CHECKING:
    from ckptscope.models.cache import WorkerCache

log = logging.getLogger(__name__)

EOT = "<|endoftext|>"


class NoEvalData(CkptscopeError):
    """An analysis cannot run on this suite (no tokenizer, no data): skip it, do not fail it."""


@dataclass(frozen=True)
class BatchConfig:
    """How to build the evaluation batch (``analyses/evaluation.py`` makes it from options).

    ``data``: a text file or a ``.npy`` of token ids; None = the shipped held-out corpus.
    ``micro_batch``: sequences per forward pass, which bounds activation memory.
    """

    data: str | None = None
    n_seqs: int = 16
    seq_len: int = 128
    micro_batch: int = 4
    seed: int = 0


@dataclass(frozen=True)
class EvalBatch:
    """Token ids ``(n_seqs, seq_len)`` int64 and where they came from."""

    ids: torch.Tensor  # (n_seqs, seq_len)
    source: str
    tokenizer: str | None  # sha256 of tokenizer.json, or the tokenizer folder
    seed: int
    micro_batch: int

    @property
    def sha256(self) -> str:
        """sha256 of the ids as little-endian int64 (identifies the batch across runs)."""
        return hashlib.sha256(self.ids.numpy().astype("<i8").tobytes()).hexdigest()

    def info(self) -> dict[str, Any]:
        """Provenance as a JSON-able dict, stored with the results."""
        return {
            "source": self.source,
            "tokenizer": self.tokenizer,
            "tokens_sha256": self.sha256,
            "shape": list(self.ids.shape),
            "seed": self.seed,
            "micro_batch": self.micro_batch,
        }

    def info_json(self) -> str:
        return json.dumps(self.info(), sort_keys=True)


def eval_batch(ckpt: Checkpoint, cfg: BatchConfig, cache: WorkerCache | None = None) -> EvalBatch:
    """The evaluation batch for ``ckpt``; raises NoEvalData.

    With a ``cache`` it is built once per sweep: keyed by the tokenizer's content, not its
    folder, so the per-step folders of a suite share one batch.
    """

    def cached(seq_len: int, tok_dir: Path | None) -> EvalBatch:
        key = (cfg, seq_len, None if tok_dir is None else _tokenizer_id(tok_dir))
        build = functools.partial(_build, cfg, seq_len, tok_dir)
        return build() if cache is None else cache.batch(key, build)

    config = ckpt.config()
    seq_len = min(cfg.seq_len, int(config.get("max_position_embeddings") or cfg.seq_len))
    vocab = int(config.get("vocab_size") or 0)
    if cfg.data is not None and Path(cfg.data).suffix == ".npy":
        batch = cached(seq_len, None)
    else:
        tok_dir = ckpt.tokenizer_dir()
        if tok_dir is None:
            what = "the shipped held-out corpus" if cfg.data is None else repr(cfg.data)
            raise NoEvalData(
                f"{ckpt.model}: no tokenizer in the suite, so no evaluation batch from {what}; "
                "activation and gradient analyses skipped (give a .npy of token ids as data)"
            )
        batch = cached(seq_len, Path(tok_dir))
    if vocab and int(batch.ids.max()) >= vocab:
        raise UsageError(
            f"evaluation batch {batch.source!r} has token id {int(batch.ids.max())} "
            f">= vocab_size {vocab} of {ckpt.model}"
        )
    return batch


def _tokenizer_id(folder: Path) -> str:
    tj = folder / "tokenizer.json"
    return hashlib.sha256(tj.read_bytes()).hexdigest() if tj.is_file() else str(folder.resolve())


def _build(cfg: BatchConfig, seq_len: int, tok_dir: Path | None) -> EvalBatch:
    tok_id = None
    if cfg.data is not None and Path(cfg.data).suffix == ".npy":
        stream = _load_ids(Path(cfg.data))
        source = str(Path(cfg.data).resolve())
    else:
        assert tok_dir is not None
        encode = _encoder(tok_dir)
        tok_id = _tokenizer_id(tok_dir)
        if cfg.data is None:
            from ckptscope.data import heldout_text

            text, source = heldout_text(), "ckptscope:heldout"
        else:
            from ckptscope.data.corpus import read_text

            text, source = read_text(Path(cfg.data)), str(Path(cfg.data).resolve())
        stream = encode(text)
    ids = sample_windows(stream, cfg.n_seqs, seq_len, cfg.seed)
    batch = EvalBatch(torch.from_numpy(ids), source, tok_id, cfg.seed, cfg.micro_batch)
    log.info("evaluation batch %s", batch.info_json())
    return batch


def sample_windows(stream: np.ndarray, n_seqs: int, seq_len: int, seed: int) -> np.ndarray:
    """``n_seqs`` disjoint windows of ``seq_len`` ids, chosen with ``seed``, in stream order."""
    n_windows = len(stream) // seq_len
    if n_windows < 1:
        raise UsageError(f"evaluation data has {len(stream)} tokens, fewer than seq_len {seq_len}")
    if n_windows < n_seqs:
        log.warning("evaluation data holds only %d windows of %d tokens", n_windows, seq_len)
    rng = np.random.default_rng(seed)
    picks = np.sort(rng.choice(n_windows, size=min(n_seqs, n_windows), replace=False))
    windows = stream[: n_windows * seq_len].reshape(n_windows, seq_len)  # (n_windows, seq_len)
    return windows[picks].astype(np.int64)


def _load_ids(path: Path) -> np.ndarray:
    if not path.is_file():
        raise UsageError(f"token file {str(path)!r} does not exist")
    ids = np.load(path, allow_pickle=False)
    if not np.issubdtype(ids.dtype, np.integer) or (ids.size and ids.min() < 0):
        raise UsageError(f"token file {str(path)!r} must hold non-negative integer ids")
    return ids.reshape(-1)


def _encoder(folder: Path) -> Callable[[str], np.ndarray]:
    """An ``encode(text) -> ids`` for a tokenizer folder (offline)."""
    from ckptscope.data.corpus import split_documents

    tj = folder / "tokenizer.json"
    if tj.is_file():
        from tokenizers import Tokenizer

        tok = Tokenizer.from_file(str(tj))
        eot = tok.token_to_id(EOT)

        def encode_docs(docs: list[str]) -> list[list[int]]:
            return [e.ids for e in tok.encode_batch(docs, add_special_tokens=False)]
    else:  # slow-tokenizer files only (vocab.json + merges.txt)
        from transformers import AutoTokenizer

        hf = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
        eot = hf.convert_tokens_to_ids(EOT) if EOT in hf.get_vocab() else None

        def encode_docs(docs: list[str]) -> list[list[int]]:
            return [hf.encode(d, add_special_tokens=False) for d in docs]

    def encode(text: str) -> np.ndarray:
        # Documents apart, each followed by end-of-text: the layout the models trained on.
        parts = [
            [*ids, *([] if eot is None else [eot])] for ids in encode_docs(split_documents(text))
        ]
        return np.fromiter((i for p in parts for i in p), dtype=np.int64)

    return encode
