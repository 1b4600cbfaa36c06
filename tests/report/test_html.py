"""The HTML report without a browser: escaping, one inlined plotly, no remote scripts."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from plotly.offline import get_plotlyjs

from ckptscope import __version__
from ckptscope.figures.catalogue import Query
from ckptscope.figures.embeddings import MAX_HEATMAP_FRAMES, heatmap_figure
from ckptscope.plots.plotly_specs import plot_text
from ckptscope.plots.style import even_pick
from ckptscope.report import ReportOptions, build_report
from ckptscope.report.html import esc, script_json, write_html_report
from ckptscope.store import Store

XSS = "<script>alert(1)</script>"
SPEC = re.compile(r'<script type="application/json" id="(fig-\d+-spec)">(.*?)</script>', re.S)


@pytest.fixture(scope="module")
def built(report_store: Store, tmp_path_factory: pytest.TempPathFactory):
    """The report of the small store through ``build_report`` (a line figure and F13)."""
    out = tmp_path_factory.mktemp("html")
    return build_report(report_store, out, ReportOptions(animations=False), ids=["F7", "F13"])


@pytest.fixture(scope="module")
def page(built) -> str:
    return built.html.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def full_page(report_store: Store, tmp_path_factory: pytest.TempPathFactory) -> str:
    """The page of the whole catalogue (``build_report`` pages only the figures it draws)."""
    out = tmp_path_factory.mktemp("full") / "report.html"
    return write_html_report(report_store, out, Query()).read_text(encoding="utf-8")


def test_escapers() -> None:
    assert esc(XSS) == "&lt;script&gt;alert(1)&lt;/script&gt;"
    assert esc('"') == "&quot;"
    assert plot_text("a&b") == "a&amp;b"
    text = script_json({"label": XSS, "amp": "&", "ls": "\u2028"})
    assert "<" not in text and ">" not in text and "&" not in text and "\u2028" not in text
    assert json.loads(text) == {"label": XSS, "amp": "&", "ls": "\u2028"}


def test_plotly_inlined_once_and_no_remote_scripts(page: str) -> None:
    js = get_plotlyjs()
    assert page.count(js[:300]) == 1 and page.count(js[-300:]) == 1
    assert not re.search(r"<script[^>]*\bsrc\s*=", page, re.I)
    assert not re.search(r"<link[^>]*\bhref\s*=", page, re.I)
    executable = re.findall(r"<script(?![^>]*application/json)[^>]*>", page)
    assert len(executable) == 2  # plotly.js, then the bootstrap
    assert "default-src 'none'" in page  # the page may not fetch anything


def test_hostile_strings_never_raw(page: str) -> None:
    assert XSS not in page
    assert esc(XSS) in page  # tables and messages: as text
    for _, spec in SPEC.findall(page):
        assert "</" not in spec and "<" not in spec
    f13 = [json.loads(s) for i, s in SPEC.findall(page) if "embedding correlations" in s]
    assert f13
    cats = f13[0]["data"][0]["x"]
    assert plot_text(XSS) in cats  # plotly shows &lt; as "<": the token reads as text


def test_every_section_and_figure(full_page: str) -> None:
    page = full_page
    for key in (
        "weights",
        "distributions",
        "activations",
        "spectra",
        "embeddings",
        "events",
        "integrity",
        "failures",
        "provenance",
    ):
        assert f'<section id="{key}">' in page
    figures = set(re.findall(r'data-figure="([^"]+)"', page))
    assert {
        "F1",
        "F2",
        "F5",
        "F6",
        "F7",
        "F8",
        "F9",
        "F10",
        "F11",
        "F12",
        "F13",
        "F14",
        "F15",
        "F4",
        "F16",
        "esd",
        "tails",
        "loss",
    } <= figures
    specs = {i: json.loads(s) for i, s in SPEC.findall(page)}
    assert len(specs) == len(re.findall(r'class="ckfig"', page))
    animated = [s for s in specs.values() if s.get("frames")]
    assert animated and all(s["layout"]["sliders"][0]["steps"] for s in animated)
    assert f"ckptscope {__version__}</p>" in page  # provenance names the version


def test_heatmap_frames_and_orders() -> None:
    n, steps = 5, list(range(0, 400, 10))
    rows = pd.DataFrame({"model": "m", "step": steps, "kind": "embed_corr",
                         "values": [np.eye(n) * (1 - s / 400) for s in steps],
                         "labels": [["a", "a", "b", "c", XSS]] * len(steps), "meta": None})  # fmt: skip
    picked = [steps[i] for i in even_pick(len(steps), MAX_HEATMAP_FRAMES)]
    spec = heatmap_figure(rows, np.array([4, 3, 2, 1, 0]), picked, "t")
    assert len(spec["frames"]) <= MAX_HEATMAP_FRAMES
    assert spec["frames"][0]["name"] == "0" and spec["frames"][-1]["name"] == "390"
    cats = spec["data"][0]["x"]
    assert cats[:2] == ["a", "a [1]"]  # duplicate labels stay distinct categories
    assert cats[4] == plot_text(XSS)
    assert spec["layout"]["xaxis"]["categoryarray"] == cats[::-1]
    assert spec["data"][0]["z"]["dtype"] == "i1"
    z = np.frombuffer(base64.b64decode(spec["data"][0]["z"]["bdata"]), np.int8).reshape(n, n)
    np.testing.assert_array_equal(z, np.eye(n, dtype=np.int8) * 100)
    static = heatmap_figure(rows, None, None, "t")
    assert "frames" not in static and static["layout"]["title"]["text"].endswith("step 390")


def test_empty_store_and_model_filter(tmp_path: Path, report_store: Store) -> None:
    empty = write_html_report(Store(tmp_path / "empty"), tmp_path / "e.html")
    text = empty.read_text(encoding="utf-8")
    for analysis in ("weights", "distributions", "activations", "gradients", "spectra",
                     "svd_directions", "embeddings"):  # fmt: skip
        assert f"--analyses {analysis}" in text
    only = write_html_report(report_store, tmp_path / "t.html", Query(models=("tiny",)))
    specs = [json.loads(s) for _, s in SPEC.findall(only.read_text(encoding="utf-8"))]
    names = {t.get("name") for s in specs for t in s["data"]}
    assert "small" not in names and "tiny" in names


def test_build_report_sets_html(built, page: str) -> None:
    assert built.html == built.out_dir / "report.html" and built.html.is_file()
    assert '<a href="F7.png">' in page  # static figures linked relative to the page
    assert set(re.findall(r'data-figure="([^"]+)"', page)) == {"F7", "F13"}  # the chosen only


def test_task_options_once_per_analysis(page: str) -> None:
    """Every task of the store has its own previous_step: the table still lists each
    analysis once (the steps are in the Models table)."""
    table = page.split("<h3>Task options and data batches</h3>", 1)[1].split("</table>", 1)[0]
    rows = table.count("<tr>") - 1  # the header
    assert rows == 5 and "previous_step" not in table  # the 5 analyses with meta: a row each
