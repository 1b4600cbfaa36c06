"""Bad input raises UsageError naming the problem, and nothing is overwritten."""

from __future__ import annotations

import dataclasses
import lzma
from pathlib import Path

import pytest

from ckptscope.errors import UsageError
from ckptscope.train import SuiteConfig, train_suite


def snapshot(folder: Path) -> dict[str, tuple[int, bytes]]:
    """Every file's mtime and bytes."""
    return {
        str(p.relative_to(folder)): (p.stat().st_mtime_ns, p.read_bytes())
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def test_missing_corpus(tmp_path: Path, micro: SuiteConfig) -> None:
    with pytest.raises(UsageError, match=r"corpus file .*nope\.txt.* does not exist"):
        train_suite(tmp_path / "s", config=micro, corpus=tmp_path / "nope.txt")
    assert not (tmp_path / "s").exists()


@pytest.mark.parametrize("content", [b"", b"\n\n  \n"])
def test_empty_corpus(tmp_path: Path, micro: SuiteConfig, content: bytes) -> None:
    path = tmp_path / "empty.txt"
    path.write_bytes(content)
    with pytest.raises(UsageError, match="is empty"):
        train_suite(tmp_path / "s", config=micro, corpus=path)
    assert not (tmp_path / "s").exists()


def test_corpus_not_text(tmp_path: Path, micro: SuiteConfig) -> None:
    path = tmp_path / "bad.txt.xz"
    path.write_bytes(b"not xz at all")
    with pytest.raises(UsageError, match=r"bad\.txt\.xz"):
        train_suite(tmp_path / "s", config=micro, corpus=path)


def test_xz_corpus(tmp_path: Path, micro: SuiteConfig, small_corpus: Path) -> None:
    path = tmp_path / "small.txt.xz"
    path.write_bytes(lzma.compress(small_corpus.read_bytes()))
    out = train_suite(tmp_path / "s", config=micro, corpus=path)
    assert (out / "w32" / "step12" / "model.safetensors").is_file()


def test_tiny_corpus(tmp_path: Path, micro: SuiteConfig) -> None:
    path = tmp_path / "tiny.txt"
    path.write_text("one line\nanother line\n")
    with pytest.raises(UsageError, match="too"):
        train_suite(tmp_path / "s", config=micro, corpus=path)


def test_unknown_preset(tmp_path: Path) -> None:
    with pytest.raises(
        UsageError, match=r"unknown preset 'huge'; known: tiny, demo, study, reference, small"
    ):
        train_suite(tmp_path / "s", "huge")


def test_unwritable_output(tmp_path: Path, micro: SuiteConfig, small_corpus: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(UsageError, match="cannot write to output folder"):
        train_suite(blocker / "s", config=micro, corpus=small_corpus)
    with pytest.raises(UsageError, match="is not a folder"):
        train_suite(blocker, config=micro, corpus=small_corpus)
    assert blocker.read_text() == "x"


def test_non_suite_folder(tmp_path: Path, micro: SuiteConfig, small_corpus: Path) -> None:
    (tmp_path / "s").mkdir()
    (tmp_path / "s" / "notes.txt").write_text("mine")
    with pytest.raises(UsageError, match=r"not empty and holds no suite\.json"):
        train_suite(tmp_path / "s", config=micro, corpus=small_corpus)
    assert [p.name for p in (tmp_path / "s").iterdir()] == ["notes.txt"]
    assert (tmp_path / "s" / "notes.txt").read_text() == "mine"


def test_different_suite(tmp_path: Path, micro: SuiteConfig, small_corpus: Path) -> None:
    out = train_suite(tmp_path / "s", config=micro, corpus=small_corpus)
    before = snapshot(out)
    longer = dataclasses.replace(micro, train=dataclasses.replace(micro.train, steps=13))
    with pytest.raises(
        UsageError, match=r"already holds a different suite \(differs in steps, train\)"
    ):
        train_suite(out, config=longer, corpus=small_corpus)
    other = tmp_path / "other.txt"
    other.write_text(small_corpus.read_text()[:50_000])
    with pytest.raises(UsageError, match="differs in corpus"):
        train_suite(out, config=micro, corpus=other)
    assert snapshot(out) == before
