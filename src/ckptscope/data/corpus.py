"""The training corpus: shipped public-domain prose or a user's text file, split train/held-out.

The shipped corpus lives in ``ckptscope/data/corpus/`` as ``train.txt.xz`` and
``heldout.txt.xz`` (built by ``scripts/build_corpus.py``; provenance in ``SOURCES.md``).
Documents inside a text are separated by a line holding only ``<|endoftext|>``.

A user corpus (plain text or ``.xz``) is split deterministically: when it has several
documents every ``HELDOUT_EVERY``-th one is held out, otherwise its last lines (about
``1/HELDOUT_EVERY`` of the characters) are.
"""

from __future__ import annotations

import hashlib
import lzma
from dataclasses import dataclass
from pathlib import Path

from ckptscope.errors import UsageError

CORPUS_DIR = Path(__file__).parent / "corpus"
DOC_SEPARATOR = "<|endoftext|>"
HELDOUT_EVERY = 20


@dataclass(frozen=True)
class Corpus:
    """A train and a held-out text, and the sha256 that identifies them in manifests."""

    name: str
    train: str
    heldout: str

    @property
    def sha256(self) -> str:
        """sha256 over the train text, a NUL byte and the held-out text (UTF-8)."""
        h = hashlib.sha256(self.train.encode("utf-8"))
        h.update(b"\0")
        h.update(self.heldout.encode("utf-8"))
        return h.hexdigest()


def read_text(path: Path) -> str:
    """Read a UTF-8 text file, decompressing ``.xz``; raise UsageError naming a bad file."""
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"corpus file {str(path)!r} does not exist")
    try:
        raw = lzma.decompress(path.read_bytes()) if path.suffix == ".xz" else path.read_bytes()
        return raw.decode("utf-8")
    except (lzma.LZMAError, UnicodeDecodeError) as err:
        raise UsageError(f"corpus file {str(path)!r} is not UTF-8 text or .xz: {err}") from None


def split_documents(text: str) -> list[str]:
    """Split a text at separator lines into its non-empty documents."""
    docs = text.split(f"\n{DOC_SEPARATOR}\n")
    return [d.strip("\n") for d in docs if d.strip()]


def join_documents(docs: list[str]) -> str:
    """Join documents with separator lines (the inverse of :func:`split_documents`)."""
    return f"\n{DOC_SEPARATOR}\n".join(docs) + "\n"


def split_heldout(text: str) -> tuple[str, str]:
    """Deterministically split a user text into (train, held-out) texts."""
    docs = split_documents(text)
    if not docs:
        raise UsageError("corpus is empty")
    if len(docs) >= HELDOUT_EVERY:
        held = [d for i, d in enumerate(docs) if i % HELDOUT_EVERY == HELDOUT_EVERY // 2]
        train = [d for i, d in enumerate(docs) if i % HELDOUT_EVERY != HELDOUT_EVERY // 2]
        return join_documents(train), join_documents(held)
    # Few documents: hold out the tail of the whole text, cut at a line break.
    body = join_documents(docs)
    cut = body.rfind("\n", 0, len(body) - len(body) // HELDOUT_EVERY)
    if cut <= 0 or cut >= len(body) - 1:
        raise UsageError("corpus is too short to split off a held-out part")
    return body[: cut + 1], body[cut + 1 :]


def load_corpus(path: Path | str | None = None) -> Corpus:
    """Load the shipped corpus (``path=None``) or a user's text file, split train/held-out."""
    if path is None:
        return Corpus(
            name="shakespeare-kjv",
            train=read_text(CORPUS_DIR / "train.txt.xz"),
            heldout=read_text(CORPUS_DIR / "heldout.txt.xz"),
        )
    path = Path(path)
    text = read_text(path)
    if not text.strip():
        raise UsageError(f"corpus file {str(path)!r} is empty")
    train, heldout = split_heldout(text)
    return Corpus(name=path.name, train=train, heldout=heldout)


def train_text(path: Path | str | None = None) -> str:
    """The train split of the shipped corpus or of a user file."""
    return load_corpus(path).train


def heldout_text(path: Path | str | None = None) -> str:
    """The held-out split of the shipped corpus or of a user file."""
    return load_corpus(path).heldout


def corpus_sha256(path: Path | str | None = None) -> str:
    """The sha256 recorded in suite manifests for the shipped corpus or a user file."""
    return load_corpus(path).sha256
