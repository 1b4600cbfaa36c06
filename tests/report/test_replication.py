"""The report opens with the findings: a cell per (finding, model), and captions that say
what the post found and, separately, what this suite shows."""

from __future__ import annotations

import re
from pathlib import Path

from ckptscope.figures.catalogue import Query
from ckptscope.findings import findings
from ckptscope.report.html import write_html_report
from ckptscope.report.replication import suite_lines


def test_replication_table_and_captions(report_store, tmp_path: Path) -> None:
    path = write_html_report(report_store, tmp_path / "report.html", Query())
    page = path.read_text()
    expected = findings(report_store)
    table = page[page.index('<table class="replication">') :]
    table = table[: table.index("</table>")]
    rows = re.findall(r"<tr>(.*?)</tr>", table[table.index("<tbody>") :])
    assert len(rows) == expected.finding.nunique()
    cells = re.findall(r'<td class="verdict verdict-(\w+)"', table)
    assert len(cells) == len(expected)  # one per (finding, model) outcome
    assert sorted(cells) == sorted(expected.verdict)
    assert '<a href="#figure-F7">F7</a>' in table and 'id="figure-F7"' in page
    f7_row = next(r for r in rows if '<a href="#figure-F7">F7</a>' in r)
    assert f7_row.count('href="#figure-F7"') == 1 + len(expected[expected.finding == "F7"])
    # The post's finding and this suite's verdict, on separate lines of the F7 caption.
    f7 = page[page.index('data-figure="F7"') :]
    caption = f7[f7.index("<figcaption>") : f7.index("</figcaption>")]
    assert "The post (Pythia):" in caption
    assert '<span class="measured">This suite: F7 ' in caption
    assert page.index('id="findings"') < page.index('id="weights"')


def test_suite_lines_group_models_by_verdict() -> None:
    import pandas as pd

    df = pd.DataFrame(
        [("F7", "F7", "w32", "not_reproduced"), ("F7", "F7", "w64", "reproduced"),
         ("F7-size", "F7", "(all sizes)", "inconclusive"), ("F14", "F14", "w64", "no_data")],
        columns=["finding", "figure", "model", "verdict"],
    )  # fmt: skip
    lines = suite_lines(df)
    assert lines["F7"] == ("This suite: F7 not reproduced in w32; reproduced in w64. "
                           "F7-size inconclusive in (all sizes).")  # fmt: skip
    assert lines["F14"] == "This suite: F14 no data in w64."
