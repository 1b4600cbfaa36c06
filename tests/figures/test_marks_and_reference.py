"""Marks on line figures (phase changes, fits at their bounds, short alpha tails) and a
shipped reference drawn beside the store's curves."""

from __future__ import annotations

import base64
import html
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest
from matplotlib.figure import Figure

from ckptscope.figures import FIGURES, Query, figure
from ckptscope.figures.reference import normalise
from ckptscope.figures.rows import scalars
from ckptscope.records import Derived, Event, Scalar
from ckptscope.references import REFERENCES
from ckptscope.stats.families import NU_MAX
from ckptscope.store import Store
from ckptscope.store.store import TaskKey

STEPS = (0, 10, 20, 40, 80)


@pytest.fixture(scope="module")
def marked(tmp_path_factory: pytest.TempPathFactory) -> Store:
    """nu at its cap, then heavy-tailed; g of 0, then positive; an alpha of a short tail."""
    store = Store(tmp_path_factory.mktemp("marks") / "store")
    for step in STEPS:
        late = step >= 40
        recs = [Scalar("qkv", 0, "weight", "t_nu", 6.0 if late else NU_MAX),
                Scalar("qkv", 0, "weight", "quartic_g", 40.0 if late else 0.0),
                Scalar("qkv", 0, "weight", "gennorm_beta", 1.5),
                Scalar("qkv", 0, "weight", "kurtosis", 3.0 if late else 0.0)]  # fmt: skip
        store.write_task(TaskKey("s", "m", step, "distributions"), recs)
        spectra = [Scalar("mlp_in", 0, "weight", "alpha", 20.0), Scalar("mlp_in", 0, "weight", "alpha_tail", 4.0),
                   Scalar("mlp_out", 0, "weight", "alpha", 3.0), Scalar("mlp_out", 0, "weight", "alpha_tail", 40.0)]  # fmt: skip
        store.write_task(TaskKey("s", "m", step, "spectra"), spectra)
        norms = [Scalar(c, b, "weight", "norm", 10.0 + step / 10 + b) for c in ("mlp_in", "mlp_out")
                 for b in range(3)]  # fmt: skip
        store.write_task(TaskKey("s", "m", step, "weights"), norms)
    event = Event("m", 40, "phase_change", "attention qkv block 0 left the Gaussian regime",
                  "qkv", 0, "weight", "t_nu")  # fmt: skip
    store.write_derived("phases", "s", Derived(events=[event]))
    return store


def _arr(v) -> np.ndarray:
    """A plotly trace's x or y (a base64 typed array, or a list)."""
    if isinstance(v, dict):
        return np.frombuffer(
            base64.b64decode(v["bdata"]), dtype=np.dtype(v["dtype"]).newbyteorder("<")
        )
    return np.asarray(v, dtype=float)


def _line_ys(fig: Figure, title_part: str) -> list[np.ndarray]:
    (ax,) = [a for a in fig.axes if title_part in a.get_title()]
    return [np.asarray(line.get_ydata(), dtype=float) for line in ax.get_lines()]


def test_nu_at_its_cap_is_drawn_on_the_gaussian_like_band(marked: Store) -> None:
    fig = figure("fits", marked)
    (ax,) = [a for a in fig.axes if "attention qkv" in a.get_title()]
    assert any(t.get_text() == "Gaussian-like" for t in ax.texts)
    ys = np.concatenate([y for y in _line_ys(fig, "attention qkv")])
    assert NU_MAX not in ys  # the cap is never a point of a line
    spec = figure("fits", marked, interactive=True)
    names = {t.name for t in spec.data}
    assert "Gaussian-like" in names
    band = [t for t in spec.data if t.name == "Gaussian-like"]
    assert len(_arr(band[0].x)) == 3  # steps 0, 10, 20
    assert "Gaussian-like" in {a.text for a in spec.layout.annotations}
    for trace in spec.data:
        if trace.mode and "lines" in trace.mode:
            assert NU_MAX not in _arr(trace.y)


def test_quartic_g_of_zero_is_gaussian_like(marked: Store) -> None:
    rows = FIGURES["tails"].rows(marked, Query())
    g = rows[rows.metric == "quartic_g"]
    assert list(g.sort_values("step").gaussian_like) == [True, True, True, False, False]


def test_phase_change_is_marked_on_its_line(marked: Store) -> None:
    fig = figure("fits", marked)
    (ax,) = [a for a in fig.axes if "attention qkv" in a.get_title()]
    stars = [ln for ln in ax.get_lines() if ln.get_marker() == "*"]
    assert len(stars) == 1 and list(stars[0].get_xdata()) == [40]
    spec = figure("fits", marked, interactive=True)
    (ev,) = [t for t in spec.data if t.name == "phase change"]
    assert list(_arr(ev.x)) == [40] and "left the Gaussian regime" in ev.text[0]


def test_alpha_of_a_short_tail_is_left_out(marked: Store) -> None:
    rows = FIGURES["esd"].rows(marked, Query())
    alpha = rows[rows.metric == "alpha"]
    assert set(alpha.component) == {"mlp_out"}
    assert "fewer than 10 tail eigenvalues" in FIGURES["esd"].caption
    # the same rows as a naive filter, row by row, on the fit's key as text
    from ckptscope.figures.spectra import ESD_COMPONENTS, ESD_METRICS, usable_alpha

    every = scalars(
        marked, Query(), [(c, "weight", m) for m in ESD_METRICS for c in ESD_COMPONENTS]
    )
    tails = marked.scalars(metric="alpha_tail")
    cols = ["suite", "model", "step", "component", "block", "param"]
    short = {
        tuple(str(v) for v in r) for r in tails.loc[tails.value < 10, cols].itertuples(index=False)
    }
    naive = [not (m == "alpha" and tuple(str(v) for v in r) in short)
             for m, r in zip(every.metric, every[cols].itertuples(index=False), strict=True)]  # fmt: skip
    assert sum(naive) < len(every)  # some alphas are left out
    pd.testing.assert_frame_equal(usable_alpha(marked, Query(), every), every[naive])


def test_axis_titles_and_names(marked: Store) -> None:
    fig = figure("F7", marked)
    for ax in [a for a in fig.axes if a.get_title()]:
        assert ax.get_xlabel() == "training step" and "norm" in ax.get_ylabel()
    assert any("block" in a.get_ylabel() for a in fig.axes)  # the depth colourbar
    spec = figure("F7", marked, interactive=True)
    assert spec.layout.xaxis.title.text == "training step"
    assert spec.layout.yaxis.title.text == "L2 (Frobenius) norm"


def test_normalise_first_or_last() -> None:
    rows = pd.DataFrame({"source": "", "model": "m", "component": "mlp_in", "block": 0,
                         "param": ["weight"] * 3 + ["bias"] * 3, "metric": "norm",
                         "step": [0, 50, 100] * 2, "value": [2.0, 4.0, 3.0, 0.0, 1.0, 2.0]})  # fmt: skip
    out = normalise(rows).sort_values(["param", "step"])
    assert list(out.frac) == [0.0, 0.5, 1.0] * 2
    assert list(out.rel) == [0.0, 0.5, 1.0, 1.0, 2.0, 1.5]  # bias: by the last; weight: first


def test_figure_beside_the_reference(marked: Store) -> None:
    fig = figure("F7", marked, reference="pythia-2023")
    assert isinstance(fig, Figure)
    labels = [t.get_text() for leg in fig.legends for t in leg.get_texts()]
    assert "m" in labels and "pythia-160m (pythia-2023)" in labels
    ax = fig.axes[0]
    assert "fraction of training" in ax.get_xlabel() and "first step" in ax.get_ylabel()
    spec = figure("F7", marked, reference="pythia-2023", interactive=True)
    assert isinstance(spec, go.Figure)
    names = {t.name for t in spec.data if t.showlegend}
    assert {"m", "pythia-70m (pythia-2023)", "pythia-1.4b (pythia-2023)"} <= names
    mine = [t for t in spec.data if t.name == "m"]
    assert max(_arr(t.x).max() for t in mine) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="figures that can: F7, F8, F9, F10, F11"):
        figure("F12", marked, reference="pythia-2023")


def test_report_beside_the_reference(marked: Store, tmp_path: Path) -> None:
    from ckptscope.report import ReportOptions, build_report

    opts = ReportOptions(animations=False, reference="pythia-2023")
    built = build_report(marked, tmp_path, opts, ids=["F7", "F12"])
    assert (tmp_path / "F7_vs_pythia-2023.png").is_file()
    page = built.html.read_text(encoding="utf-8")
    assert (
        html.escape(REFERENCES["pythia-2023"].source) in page and "fraction of each model" in page
    )
    found = re.findall(
        r'<script type="application/json" id="fig-\d+-spec">(.*?)</script>', page, re.S
    )
    specs = [json.loads(s) for s in found]
    assert any("pythia-160m (pythia-2023)" in {t.get("name") for t in s["data"]} for s in specs)
