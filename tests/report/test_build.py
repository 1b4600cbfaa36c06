"""``build_report``: the parallel build gives what the serial one gives."""

from __future__ import annotations

import html
import re
from pathlib import Path

import pytest

from ckptscope.report import ReportOptions, build_report
from ckptscope.store import Store

IDS = ["F1", "F7", "F13"]


@pytest.mark.slow
def test_workers_draw_the_same_files_and_page(report_store: Store, tmp_path: Path) -> None:
    built = {}
    for workers in (1, 2):
        opts = ReportOptions(animations=False, workers=workers)
        built[workers] = build_report(report_store, tmp_path / str(workers), opts, ids=IDS)
    names = [sorted(p.relative_to(b.out_dir).as_posix() for p in b.paths) for b in built.values()]
    assert names[0] == names[1] and any(n.endswith("_steps.png") for n in names[0])
    pages = [b.html.read_text(encoding="utf-8") for b in built.values() if b.html]
    figures = [re.findall(r'data-figure="([^"]+)"', p) for p in pages]
    assert figures[0] == figures[1] and set(figures[0]) == set(IDS)


def test_notes_reach_the_provenance_escaped(report_store: Store, tmp_path: Path) -> None:
    from ckptscope.cli.demo import training_note
    from ckptscope.train.config import PRESETS

    note = training_note("demo")
    tc = PRESETS["demo"].train
    assert f"{tc.steps} steps" in note and f"learning rate {tc.lr:g}" in note
    opts = ReportOptions(animations=False, notes=(note, "<b>raw</b>"))
    page = build_report(report_store, tmp_path, opts, ids=["F7"]).html
    assert page is not None
    text = page.read_text(encoding="utf-8")
    provenance = text[text.index('<section id="provenance">') :]
    assert html.escape(note) in provenance and "&lt;b&gt;raw&lt;/b&gt;" in provenance
    assert "<b>raw</b>" not in text


def test_a_figure_that_fails_costs_only_itself(
    report_store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import dataclasses

    from ckptscope.figures import FIGURES

    def boom(store: Store, q: object) -> None:
        raise RuntimeError("planted failure\nsecond line")

    monkeypatch.setitem(FIGURES, "F7", dataclasses.replace(FIGURES["F7"], rows=boom))
    opts = ReportOptions(animations=False)
    built = build_report(report_store, tmp_path, opts, ids=["F1", "F7"])
    assert built.missing == [
        "F7 (" + FIGURES["F7"].title + "): could not be drawn: planted failure"
    ]
    assert any(p.name.startswith("F1") for p in built.paths)
    assert not any(p.name.startswith("F7") for p in built.paths)
    page = built.html.read_text(encoding="utf-8") if built.html else ""
    assert "F7: could not draw this figure: planted failure" in html.unescape(page)
