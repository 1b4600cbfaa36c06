"""The report's replication table: the post's findings as this suite's measured verdicts.

A table of findings (rows) by models (columns), each cell coloured by its verdict, its
evidence on hover and below, and a link to the first figure that shows it; plus, per
figure, the one-line "This suite: ..." summary that goes under the post's caption; and,
where a group has two or more seeds, the share of its seeds that reproduce each finding.
"""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd

from ckptscope.findings.render import grid, seed_grid

WORDS = {
    "reproduced": "reproduced",
    "not_reproduced": "not reproduced",
    "inconclusive": "inconclusive",
    "no_data": "no data",
}


def replication_html(df: pd.DataFrame, esc: Callable[[object], str], figure_ids: set[str]) -> str:
    """The table and the evidence list (empty store: one note)."""
    if df.empty:
        return '<p class="note">No findings: the store holds no scalar rows.</p>'
    table = grid(df)
    by_cell = {(r.finding, r.model): r for r in df.itertuples()}
    models = list(table.columns)
    head = "<th>finding</th><th>the post's claim</th>" + "".join(
        f"<th>{esc(m)}</th>" for m in models
    )
    body = []
    for finding in table.index:
        first = by_cell[next((finding, m) for m in models if (finding, m) in by_cell)]
        fig = first.figure
        link = (f'<a href="#figure-{esc(fig)}">{esc(finding)}</a>' if fig in figure_ids
                else esc(finding))  # fmt: skip
        cells = [f"<td>{link}</td><td>{esc(first.claim)}</td>"]
        for model in models:
            r = by_cell.get((finding, model))
            if r is None:
                cells.append('<td class="verdict-none"></td>')
                continue
            word = esc(WORDS.get(r.verdict, r.verdict))
            if fig in figure_ids:  # the cell leads to the figure that shows the evidence
                word = f'<a href="#figure-{esc(fig)}">{word}</a>'
            cells.append(f'<td class="verdict verdict-{esc(r.verdict)}" title="{esc(r.evidence)}">'
                         f"{word}</td>")  # fmt: skip
        body.append("<tr>" + "".join(cells) + "</tr>")
    evidence = "".join(
        f"<li><b>{esc(r.finding)}</b> [{esc(r.model)}] {esc(WORDS.get(r.verdict, r.verdict))}: "
        f"{esc(r.evidence)}</li>"
        for r in df.itertuples()
    )
    return (
        '<p class="finding">What this suite shows for each finding of the post; thresholds and '
        "the checks are in <code>docs/findings.md</code>. Hover a cell for its evidence.</p>"
        f'<table class="replication"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}'
        f"</tbody></table><details><summary>evidence</summary><ul>{evidence}</ul></details>"
    )


def suite_lines(df: pd.DataFrame) -> dict[str, str]:
    """Figure id -> "This suite: F7 reproduced in w64; not reproduced in w32; ..."."""
    out: dict[str, list[str]] = {}
    for (fig, finding), part in df.groupby(["figure", "finding"], sort=False):
        by_verdict: dict[str, list[str]] = {}
        for r in part.itertuples():
            by_verdict.setdefault(WORDS.get(r.verdict, r.verdict), []).append(str(r.model))
        said = "; ".join(f"{v} in {', '.join(ms)}" for v, ms in by_verdict.items())
        out.setdefault(str(fig), []).append(f"{finding} {said}")
    return {fig: "This suite: " + ". ".join(parts) + "." for fig, parts in out.items()}


def seed_share_html(df: pd.DataFrame, esc: Callable[[object], str]) -> str:
    """Findings by groups of two or more seeds: "k/n seeds" reproduce it (empty: none)."""
    table = seed_grid(df)
    if table.empty:
        return ""
    head = "<th>finding</th>" + "".join(f"<th>{esc(g)}</th>" for g in table.columns)
    body = "".join(
        f"<tr><td>{esc(f)}</td>" + "".join(f"<td>{esc(v)}</td>" for v in row) + "</tr>"
        for f, row in table.iterrows()
    )
    return (
        '<h3>Across seeds</h3><p class="finding">Per group of seeds: how many of its seeds '
        "with data for it reproduce each finding: inconclusive seeds are counted and named, "
        'seeds never swept for it are left out ("no data" when none was); each seed\'s '
        "verdict is in the table above.</p>"
        f'<table class="replication seeds"><thead><tr>{head}</tr></thead><tbody>{body}'
        "</tbody></table>"
    )
