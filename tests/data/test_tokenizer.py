"""The shipped tokenizer: Pythia's id layout, Hugging Face files, the token cache."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ckptscope.data.tokenizer import (
    EOT,
    EOT_ID,
    TOKENIZER_PATH,
    bytes_to_unicode,
    check_layout,
    encode_cached,
    encode_documents,
    load_tokenizer,
    save_hf_tokenizer,
    tokenizer_sha256,
    train_tokenizer,
)


def test_bytes_to_unicode_matches_gpt2() -> None:
    table = bytes_to_unicode()
    assert len(table) == 256 and len(set(table.values())) == 256
    assert table[ord("A")] == "A" and table[ord(" ")] == "Ġ" and table[ord("\n")] == "Ċ"
    assert list(table)[:3] == [ord("!"), ord('"'), ord("#")]


def test_shipped_layout() -> None:
    tok = load_tokenizer()
    assert tok.get_vocab_size() == 4096
    assert tok.token_to_id(EOT) == EOT_ID == 0
    for i, sym in enumerate(bytes_to_unicode().values(), start=1):
        assert tok.id_to_token(i) == sym
    check_layout(tok)  # raises on any mismatch


def test_byte_ids_encode_bytes() -> None:
    """A rare byte encodes to id 1 + its position in bytes_to_unicode order."""
    tok = load_tokenizer()
    order = list(bytes_to_unicode())
    assert tok.encode("\x07").ids == [1 + order.index(7)]
    assert tok.decode(tok.encode("Thou art ~ café\n").ids) == "Thou art ~ café\n"


def test_training_is_deterministic_with_layout() -> None:
    texts = ["the cat sat on the mat", "the dog sat on the log"] * 20
    a = train_tokenizer(texts, vocab_size=300)
    b = train_tokenizer(texts, vocab_size=300)
    assert a.to_str() == b.to_str()
    assert 257 < a.get_vocab_size() <= 300  # the tiny text runs out of merges
    check_layout(a)


def test_hf_files_load(tmp_path: Path) -> None:
    from transformers import AutoTokenizer

    save_hf_tokenizer(tmp_path, model_max_length=128)
    assert (tmp_path / "tokenizer.json").read_bytes() == TOKENIZER_PATH.read_bytes()
    hf = AutoTokenizer.from_pretrained(tmp_path)
    assert hf.eos_token == EOT and hf.eos_token_id == 0
    text = "O Romeo, Romeo! wherefore art thou Romeo?"
    assert hf(text)["input_ids"] == load_tokenizer().encode(text).ids


def test_encode_documents_appends_eot() -> None:
    ids = encode_documents("first doc\n<|endoftext|>\nsecond doc\n")
    assert ids.dtype == np.uint16
    assert ids[-1] == EOT_ID and int((ids == EOT_ID).sum()) == 2


def test_encode_cache(tmp_path: Path) -> None:
    text = "In the beginning God created the heaven and the earth.\n" * 50
    first = encode_cached(text, cache_dir=tmp_path)
    files = list((tmp_path / "tokens").glob("*.npy"))
    assert len(files) == 1
    # The second call reads the cache file (prove it by altering it).
    np.save(files[0], first[:3])
    assert list(encode_cached(text, cache_dir=tmp_path)) == list(first[:3])


def test_sha256_is_stable() -> None:
    assert tokenizer_sha256() == tokenizer_sha256()
    assert len(tokenizer_sha256()) == 64


@pytest.mark.parametrize("text", ["", "\n<|endoftext|>\n"])
def test_encode_empty(text: str) -> None:
    assert len(encode_documents(text)) == 0
