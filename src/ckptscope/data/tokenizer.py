"""The byte-level BPE tokenizer: Pythia's id layout, saved in Hugging Face format.

Ids: ``<|endoftext|>`` is 0, ids 1..256 are the 256 byte symbols in GPT-2's
``bytes_to_unicode`` order, then the merges in the order they were learnt.
Encoded corpora are cached as ``uint16`` ``.npy`` files keyed by text and tokenizer sha256.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Iterable
from functools import cache
from pathlib import Path

import numpy as np
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

from ckptscope.data.corpus import CORPUS_DIR, split_documents

log = logging.getLogger(__name__)

EOT = "<|endoftext|>"
EOT_ID = 0
TOKENIZER_PATH = CORPUS_DIR / "tokenizer.json"
HF_TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json")


def bytes_to_unicode() -> dict[int, str]:
    """GPT-2's reversible map from the 256 bytes to printable unicode symbols, in its order."""
    bs = list(range(ord("!"), ord("~") + 1))
    bs += list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, (chr(c) for c in cs), strict=True))


def train_tokenizer(texts: Iterable[str], vocab_size: int = 4096) -> Tokenizer:
    """Train a byte-level BPE with Pythia's id layout on documents (deterministic)."""
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    alphabet = list(bytes_to_unicode().values())
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=[EOT],
        initial_alphabet=alphabet,
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer=trainer)
    check_layout(tok)
    return tok


def check_layout(tok: Tokenizer) -> None:
    """Raise ValueError unless id 0 is the end-of-text token and ids 1..256 the bytes."""
    if tok.token_to_id(EOT) != EOT_ID:
        raise ValueError(f"{EOT!r} has id {tok.token_to_id(EOT)}, expected {EOT_ID}")
    for i, sym in enumerate(bytes_to_unicode().values(), start=1):
        if tok.token_to_id(sym) != i:
            raise ValueError(f"byte symbol {sym!r} has id {tok.token_to_id(sym)}, expected {i}")


@cache
def _load(path: str) -> Tokenizer:
    return Tokenizer.from_file(path)


def load_tokenizer(path: Path | str | None = None) -> Tokenizer:
    """Load the shipped tokenizer (or a ``tokenizer.json`` at ``path``)."""
    return _load(str(path or TOKENIZER_PATH))


def tokenizer_sha256(path: Path | str | None = None) -> str:
    """sha256 of the ``tokenizer.json`` file, recorded in suite manifests."""
    return hashlib.sha256(Path(path or TOKENIZER_PATH).read_bytes()).hexdigest()


def save_hf_tokenizer(folder: Path, model_max_length: int, path: Path | None = None) -> None:
    """Write tokenizer.json, tokenizer_config.json, special_tokens_map.json into ``folder``."""
    folder = Path(folder)
    (folder / "tokenizer.json").write_bytes(Path(path or TOKENIZER_PATH).read_bytes())
    special = {"bos_token": EOT, "eos_token": EOT, "unk_token": EOT}
    config = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        **special,
        "add_prefix_space": False,
        "clean_up_tokenization_spaces": False,
        "model_max_length": model_max_length,
    }
    (folder / "tokenizer_config.json").write_text(json.dumps(config, indent=2) + "\n")
    (folder / "special_tokens_map.json").write_text(json.dumps(special, indent=2) + "\n")


def encode_documents(text: str, tok: Tokenizer | None = None) -> np.ndarray:
    """Encode a text's documents, each followed by the end-of-text id, as ``uint16``."""
    tok = tok or load_tokenizer()
    assert tok.get_vocab_size() <= np.iinfo(np.uint16).max + 1
    encs = tok.encode_batch(split_documents(text), add_special_tokens=False)
    parts = [np.asarray([*e.ids, EOT_ID], dtype=np.uint16) for e in encs]
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.uint16)


def default_cache_dir() -> Path:
    """``$CKPTSCOPE_CACHE_DIR``, else ``$XDG_CACHE_HOME/ckptscope``, else ``~/.cache/ckptscope``."""
    if env := os.environ.get("CKPTSCOPE_CACHE_DIR"):
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "ckptscope"


def encode_cached(
    text: str, tokenizer_path: Path | None = None, cache_dir: Path | None = None
) -> np.ndarray:
    """Encode ``text`` like :func:`encode_documents`, reusing an on-disk ``.npy`` cache."""
    h = hashlib.sha256(text.encode("utf-8"))
    h.update(tokenizer_sha256(tokenizer_path).encode())
    folder = Path(cache_dir or default_cache_dir()) / "tokens"
    target = folder / f"{h.hexdigest()[:32]}.npy"
    if target.is_file():
        try:
            return np.load(target)
        except (OSError, ValueError):
            log.warning("ignoring unreadable token cache %s", target)
    ids = encode_documents(text, load_tokenizer(tokenizer_path))
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, suffix=".npy.tmp")
        with os.fdopen(fd, "wb") as f:
            np.save(f, ids)
        os.replace(tmp, target)
    except OSError as err:  # a read-only cache only costs speed
        log.warning("cannot write token cache %s: %s", target, err)
    return ids
