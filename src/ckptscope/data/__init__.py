"""Training data: the shipped corpus, its train/held-out split, and the BPE tokenizer."""

from ckptscope.data.corpus import (
    Corpus,
    corpus_sha256,
    heldout_text,
    load_corpus,
    train_text,
)
from ckptscope.data.tokenizer import (
    EOT,
    EOT_ID,
    bytes_to_unicode,
    encode_cached,
    load_tokenizer,
    save_hf_tokenizer,
    tokenizer_sha256,
)

__all__ = [
    "EOT",
    "EOT_ID",
    "Corpus",
    "bytes_to_unicode",
    "corpus_sha256",
    "encode_cached",
    "heldout_text",
    "load_corpus",
    "load_tokenizer",
    "save_hf_tokenizer",
    "tokenizer_sha256",
    "train_text",
]
