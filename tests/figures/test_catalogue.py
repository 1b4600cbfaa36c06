"""The catalogue: every figure drawn in memory, static and interactive, writing no file."""

from __future__ import annotations

import os
import subprocess
import sys
import warnings
from pathlib import Path

import plotly.graph_objects as go
import pytest
from matplotlib.figure import Figure

from ckptscope.errors import UsageError
from ckptscope.figures import FIGURES, SECTIONS, NoFigureData, figure
from ckptscope.figures.docs import render
from ckptscope.store import Store

REPO = Path(__file__).resolve().parents[2]
POST_IDS = [f"F{i}" for i in range(1, 17)]


def _tree(root: Path) -> dict[str, tuple[int, int]]:
    return {str(p): (p.stat().st_size, p.stat().st_mtime_ns) for p in root.rglob("*")}


def test_catalogue_lists_every_figure_in_order() -> None:
    ids = list(FIGURES)
    assert set(POST_IDS) <= set(ids) and {"tails", "esd", "update", "fits", "loss"} <= set(ids)
    assert [i for i in ids if i in POST_IDS] == POST_IDS  # the post's order
    for spec in FIGURES.values():
        assert spec.section in SECTIONS and spec.title and spec.analysis
        # a finding is the post's, never stated as this suite's
        assert spec.caption.startswith(("The post (Pythia): ", "Not a figure of the post"))


@pytest.mark.parametrize("fig_id", list(FIGURES))
def test_every_figure_static_and_interactive(fig_id: str, report_store: Store,
                                             tmp_path: Path, monkeypatch) -> None:  # fmt: skip
    monkeypatch.chdir(tmp_path)
    before = _tree(tmp_path), _tree(Path(report_store.root))
    fig = figure(fig_id, report_store, log_steps=True)
    assert isinstance(fig, Figure) and fig.axes
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # several views: the first is shown
        interactive = figure(fig_id, report_store, interactive=True, models=["tiny"])
    assert isinstance(interactive, go.Figure) and interactive.data
    assert (_tree(tmp_path), _tree(Path(report_store.root))) == before  # no file written


def test_unknown_id_and_missing_data(tmp_path: Path, report_store: Store) -> None:
    with pytest.raises(ValueError, match="unknown figure 'F99'; figures: F1, F2"):
        figure("F99", report_store)
    empty = Store(tmp_path / "empty")
    with pytest.raises(NoFigureData, match="--analyses weights --out"):
        figure("F7", empty)
    with pytest.raises(UsageError, match="--models: no 'no-such-model' in"):
        figure("F13", report_store, models=["no-such-model"])


def test_models_filter(report_store: Store) -> None:
    fig = figure("F7", report_store, models=["tiny"])
    titles = " ".join(ax.get_title() for ax in fig.axes)
    assert "tiny" in titles and "small" not in titles


def test_no_backend_switch_at_import() -> None:
    """Importing every module leaves the backend alone (a notebook keeps its own)."""
    code = (
        "import importlib, pkgutil, matplotlib\n"
        "import ckptscope\n"
        "for m in pkgutil.walk_packages(ckptscope.__path__, 'ckptscope.'):\n"
        "    if not m.name.endswith('__main__'):\n"
        "        importlib.import_module(m.name)\n"
        "import ckptscope.figures, ckptscope.report.build\n"
        "print(matplotlib.get_backend())\n"
    )
    env = {**os.environ, "MPLBACKEND": "svg", "PYTHONPATH": str(REPO / "src")}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                          timeout=300, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().splitlines()[-1] == "svg"


def test_docs_match_the_catalogue() -> None:
    text = (REPO / "docs" / "figures.md").read_text(encoding="utf-8")
    assert text == render(), "regenerate: python -m ckptscope.figures.docs > docs/figures.md"
    for fig_id in FIGURES:
        assert f"## {fig_id}\n" in text
