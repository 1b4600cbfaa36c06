"""The shipped corpus, its fixed held-out split, and user corpora."""

from __future__ import annotations

import hashlib
import lzma
from pathlib import Path

import pytest

from ckptscope.data.corpus import (
    DOC_SEPARATOR,
    HELDOUT_EVERY,
    corpus_sha256,
    join_documents,
    load_corpus,
    split_documents,
    split_heldout,
)
from ckptscope.errors import UsageError


def test_shipped_corpus() -> None:
    c = load_corpus()
    train, held = split_documents(c.train), split_documents(c.heldout)
    assert len(train) == 1166 and len(held) == 61
    assert 8_000_000 < len(c.train) < 10_000_000
    assert any(d.startswith("Macbeth") for d in held)
    assert not any(d.startswith("Macbeth") for d in train)
    assert not set(train) & set(held)
    assert "**" not in c.train and "_" not in c.train  # markdown stripped


def test_sha256() -> None:
    c = load_corpus()
    h = hashlib.sha256(c.train.encode())
    h.update(b"\0" + c.heldout.encode())
    assert c.sha256 == h.hexdigest() == corpus_sha256()


def test_documents_roundtrip() -> None:
    docs = ["a\nb", "c", "d\n\ne"]
    text = join_documents(docs)
    assert DOC_SEPARATOR in text
    assert split_documents(text) == docs


def test_user_split_many_documents(tmp_path: Path) -> None:
    docs = [f"document {i}" for i in range(3 * HELDOUT_EVERY)]
    path = tmp_path / "docs.txt.xz"
    path.write_bytes(lzma.compress(join_documents(docs).encode()))
    c = load_corpus(path)
    held = split_documents(c.heldout)
    assert held == [f"document {i}" for i in (10, 30, 50)]
    assert len(split_documents(c.train)) == 57
    assert load_corpus(path).sha256 == c.sha256


def test_user_split_one_document() -> None:
    text = "".join(f"line {i}\n" for i in range(200))
    train, held = split_heldout(text)
    assert train + held == text
    assert held.startswith("line ") and 0.03 < len(held) / len(text) < 0.08


def test_bad_user_corpora(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="does not exist"):
        load_corpus(tmp_path / "missing.txt")
    (tmp_path / "empty.txt").write_text("")
    with pytest.raises(UsageError, match="is empty"):
        load_corpus(tmp_path / "empty.txt")
    (tmp_path / "latin1.txt").write_bytes(b"caf\xe9")
    with pytest.raises(UsageError, match="not UTF-8"):
        load_corpus(tmp_path / "latin1.txt")
