"""docs/figures.md, generated from the catalogue: ``python -m ckptscope.figures.docs``."""

from __future__ import annotations

from ckptscope.figures import FIGURES
from ckptscope.figures.catalogue import describe

HEADER = """# Figure catalogue

Generated from `src/ckptscope/figures/` by `python -m ckptscope.figures.docs > docs/figures.md`
(a test checks that this file matches). Each figure is drawn from the rows its analysis
writes; `ckptscope report STORE` draws every figure whose rows are in the store, and
`ckptscope.figures.figure(ID, store)` draws one in a notebook. Captions quote the findings
of the post "Basic facts about language model internals: training dynamics" (Pythia);
they are what the post saw, not a verdict on your suite.

| id | title | analysis | animated |
| --- | --- | --- | --- |
"""


def _cell(text: object) -> str:
    return str(text).replace("|", "\\|")


def render() -> str:
    """The whole markdown page."""
    rows, details = [], []
    for spec in FIGURES.values():
        d = describe(spec)
        anim = "yes" if d["animated"] else ""
        rows.append(f"| [{d['id']}](#{d['id'].lower()}) | {_cell(d['title'])} | "
                    f"`{d['analysis']}` | {anim} |")  # fmt: skip
        details.append(
            f"## {d['id']}\n\n**{d['title']}** (report section: {d['section']})\n\n"
            f"- analysis: `ckptscope sweep SUITE --analyses {d['analysis']} --out STORE`\n"
            f"- draws: {d['rows']}{'; animated, a frame per step' if d['animated'] else ''}\n"
            f"- finding: {d['caption']}\n"
            + (
                "- beside a reference: `ckptscope report STORE --reference pythia-2023`, or "
                f'`figure("{d["id"]}", store, reference="pythia-2023")`: normalised steps '
                "and values\n"
                if d["overlay"]
                else ""
            )
            + "".join(f"- option `{k}`: {v}\n" for k, v in d["options"].items())
        )
    return HEADER + "\n".join(rows) + "\n\n" + "\n".join(details)


if __name__ == "__main__":
    print(render(), end="")
