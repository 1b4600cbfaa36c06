"""What the report writes per figure: file names, GIF and MP4 with one frame per step."""

from __future__ import annotations

from pathlib import Path

import imageio.v2 as imageio
import numpy as np
import pytest
from PIL import Image

from ckptscope.analyses.distributions import describe_distribution, pooled_histograms
from ckptscope.figures import FIGURES
from ckptscope.report import ReportOptions
from ckptscope.report.build import draw_files
from ckptscope.store import Store, TaskKey

STEPS = {"small": [0, 10, 20], "large": [0, 10, 20, 30]}


@pytest.fixture(scope="module")
def dist_store(tmp_path_factory: pytest.TempPathFactory) -> Store:
    """Two models with different steps: tails grow heavier with the step."""
    store = Store(tmp_path_factory.mktemp("dist_store"))
    rng = np.random.default_rng(0)
    for model, steps in STEPS.items():
        d = 8 if model == "small" else 16
        for i, step in enumerate(steps):
            records = []
            for comp in ("qkv", "mlp_in"):
                for block in range(2):
                    w = (0.02 * rng.standard_t(30.0 / (1 + 5 * i), size=(3 * d, d))).astype(
                        np.float32
                    )
                    records += describe_distribution(w, max_samples=2000).records(
                        comp, block, "weight"
                    )
            records += pooled_histograms([r for r in records if getattr(r, "kind", "") == "hist"])
            store.write_task(TaskKey("s", model, step, "distributions"), records)
    return store


def gif_frames(path: Path) -> int:
    with Image.open(path) as im:
        return getattr(im, "n_frames", 1)


def mp4_frames(path: Path) -> int:
    with imageio.get_reader(path, format="FFMPEG") as reader:
        return sum(1 for _ in reader)


def names(paths: list[Path]) -> set[str]:
    assert paths and all(p.is_file() and p.stat().st_size > 0 for p in paths)
    return {str(p.relative_to(p.parents[1] if p.parent.name == "F15" else p.parent)) for p in paths}


def test_f1_a_file_per_component_a_frame_per_step(dist_store: Store, tmp_path: Path) -> None:
    paths = draw_files(dist_store, FIGURES["F1"], tmp_path, ReportOptions())
    assert names(paths) == {
        f"F1_hist_{c}.{x}" for c in ("qkv", "mlp_in") for x in ("png", "gif", "mp4")
    } | {f"F1_hist_{c}_steps.png" for c in ("qkv", "mlp_in")}  # stills for papers
    for p in paths:
        if p.suffix == ".gif":
            assert gif_frames(p) == 4  # the union of both models' steps: 0, 10, 20, 30
        if p.suffix == ".mp4":
            assert mp4_frames(p) == 4
            assert imageio.imread(p.with_suffix(".gif")).shape[1] > 200


def test_f2_a_file_per_model_and_models_filter(dist_store: Store, tmp_path: Path) -> None:
    paths = draw_files(dist_store, FIGURES["F2"], tmp_path, ReportOptions())
    frames = {p.name: gif_frames(p) for p in paths if p.suffix == ".gif"}
    assert frames == {"F2_qq_large.gif": 4, "F2_qq_small.gif": 3}
    assert {p.name: mp4_frames(p) for p in paths if p.suffix == ".mp4"} == {
        "F2_qq_large.mp4": 4, "F2_qq_small.mp4": 3}  # fmt: skip
    small = draw_files(dist_store, FIGURES["F1"], tmp_path / "s", ReportOptions(models=("small",)))
    assert {gif_frames(p) for p in small if p.suffix == ".gif"} == {3}


def test_tails_png_per_model_and_svg(dist_store: Store, tmp_path: Path) -> None:
    paths = draw_files(
        dist_store, FIGURES["tails"], tmp_path, ReportOptions(formats=("png", "svg"))
    )
    assert names(paths) == {f"tails_{m}.{x}" for m in ("small", "large") for x in ("png", "svg")}


def test_static_only_and_empty_store(report_store: Store, tmp_path: Path) -> None:
    opts = ReportOptions(animations=False, formats=("png", "svg"))
    assert names(draw_files(report_store, FIGURES["F13"], tmp_path, opts)) == {
        f"F13_{m}{s}.{x}" for m in ("tiny", "small") for s in ("", "_steps")
        for x in ("png", "svg")}  # fmt: skip
    empty = Store(tmp_path / "empty")
    assert all(
        draw_files(empty, spec, tmp_path / "e", ReportOptions()) == [] for spec in FIGURES.values()
    )


def test_report_store_file_names(report_store: Store, tmp_path: Path) -> None:
    opts = ReportOptions(models=("tiny",), animations=False)
    got = set()
    for fig_id in ("F3", "F4", "F5", "F6", "F15", "F16", "esd"):
        got |= names(draw_files(report_store, FIGURES[fig_id], tmp_path, opts))
    assert {"F3_resid_hist_tiny.png", "F4_grad_hist_tiny.png", "F5_max_abs_resid.png",
            "F6_max_abs_ever.png", "F15/tiny_qkv.png", "F16_svd_exact.png", "F16_svd_overlap.png",
            "F16_per_size.png", "esd_alpha.png"} <= got  # fmt: skip


def test_small_multiples_show_four_steps_first_and_last(dist_store: Store) -> None:
    """F1-F4's stills for papers: four evenly spaced steps, first and last included."""
    from ckptscope.figures import figure

    fig = figure("F1", dist_store, stills=True)
    titles = " ".join(t.get_text() for sub in fig.subfigs for g in sub.subfigs
                      for t in [g._suptitle] if t is not None)  # fmt: skip
    for step in (0, 10, 20, 30):
        assert f"step {step}" in titles
    axes = [ax for ax in fig.axes if ax.get_visible()]
    assert all(ax.get_xticklabels() for ax in axes)
