"""docs/findings.md, generated from the registered checks: ``python -m ckptscope.findings.docs``.

The measured columns come from ``docs/findings-measured.json`` (written by
``python -m ckptscope.findings.docs --measure NAME STORE``, STORE a folder or
``reference:pythia-2023``), so the page states what a named store showed, next to the
claims and the thresholds the checks use.
"""

from __future__ import annotations

import inspect
import json
import sys
from dataclasses import fields
from pathlib import Path

from ckptscope.findings import FINDINGS, Thresholds, findings
from ckptscope.findings.base import Finding

MEASURED = Path(__file__).resolve().parents[3] / "docs" / "findings-measured.json"

HEADER = """# Findings catalogue

Generated from `src/ckptscope/findings/` by `python -m ckptscope.findings.docs > docs/findings.md`
(a test checks that this file matches). Each finding of the post "Basic facts about language
model internals: training dynamics" is a check over store rows: `ckptscope findings STORE`
prints a verdict per model (`reproduced`, `not_reproduced`, `inconclusive` with the reason,
or `no_data` with the sweep that fills it) and its evidence. The claims are the post's, about
Pythia; the verdicts are what a suite measured. Measured columns: "Pythia (the post's
data)" is the shipped `pythia-2023` dataset (`ckptscope findings --reference pythia-2023`:
weight statistics only, so the activation, spectra and embedding findings have no data);
the other columns are stores swept from the offline presets, named with their preset.
"""


def _cell(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _measured() -> dict[str, dict[str, str]]:
    """Store name -> finding -> a short summary of its verdicts."""
    if not MEASURED.is_file():
        return {}
    return json.loads(MEASURED.read_text(encoding="utf-8"))


def summarise(df) -> dict[str, str]:
    """Finding -> "reproduced 3/3" style summary of a findings table."""
    out = {}
    for finding, part in df.groupby("finding", sort=False):
        counts = part["verdict"].value_counts()
        out[str(finding)] = ", ".join(
            f"{v.replace('_', ' ')} {n}/{len(part)}" for v, n in counts.items()
        )
    return out


def render() -> str:
    """The whole markdown page."""
    measured = _measured()
    names = list(measured)
    lines = [HEADER, "## The checks", ""]
    lines.append("| finding | figure | the post's claim | analysis | "
                 + "".join(f"{_cell(n)} | " for n in names))  # fmt: skip
    lines.append("| --- | --- | --- | --- | " + "--- | " * len(names))
    ordered = sorted(FINDINGS.values(), key=lambda f: (int(f.figure[1:]), f.id))
    for f in ordered:
        cols = "".join(f"{_cell(measured[n].get(f.id, ''))} | " for n in names)
        lines.append(f"| {f.id} | {f.figure} | {_cell(f.claim)} | `{f.analysis}` | {cols}")
    lines += ["", "## How each is measured", ""]
    for f in ordered:
        lines += [f"### {f.id}", "", _doc(f), ""]
    lines += ["## Thresholds", "", "| name | default | meaning |", "| --- | --- | --- |"]
    docs = _threshold_docs()
    for field in fields(Thresholds):
        lines.append(f"| `{field.name}` | {field.default} | {_cell(docs.get(field.name, ''))} |")
    return "\n".join(lines) + "\n"


def _doc(finding: Finding) -> str:
    doc = inspect.getdoc(finding.check) or ""
    return doc or f"Claim: {finding.claim}"


def _threshold_docs() -> dict[str, str]:
    """The ``#:`` comment above each field of :class:`Thresholds`."""
    out, pending = {}, []
    for line in inspect.getsource(Thresholds).splitlines():
        text = line.strip()
        if text.startswith("#:"):
            pending.append(text[2:].strip())
        elif ":" in text and pending and not text.startswith(("def", "class", '"')):
            out[text.split(":")[0].strip()] = " ".join(pending)
            pending = []
    return out


def measure(name: str, store_location: str) -> None:
    """Record a store's verdict summary under ``name`` in docs/findings-measured.json.

    ``store_location`` is a store folder or ``reference:NAME`` (a shipped dataset).
    """
    from ckptscope.references import reference
    from ckptscope.store import Store

    data = _measured()
    if store_location.startswith("reference:"):
        source = reference(store_location.removeprefix("reference:"))
    else:
        source = Store(store_location, create=False)
    data[name] = summarise(findings(source))
    MEASURED.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--measure":
        measure(sys.argv[2], sys.argv[3])
    else:
        print(render(), end="")
